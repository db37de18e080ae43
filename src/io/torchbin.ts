/**
 * pytorch_model.bin (torch.save zip format): `<root>/data.pkl` is a pickle of
 * a state dict whose tensors are rebuilt by torch._utils._rebuild_tensor_v2
 * over persistent-id storages stored as `<root>/data/<key>`.
 *
 * The pickle reader is restricted: it interprets opcodes as data, never
 * executes code, and accepts only the globals a state dict needs (OrderedDict,
 * the tensor/parameter rebuild functions, storage types). Anything else is a
 * clear error naming the global.
 */
import { readFileChecked } from './files.js';
import { CheckpointError, DTYPE_BYTES, numel, type DTypeName, type RawTensor } from './tensor.js';
import { ZipReader } from './zip.js';

const STORAGE_DTYPES: Record<string, DTypeName> = {
  FloatStorage: 'F32', DoubleStorage: 'F64', HalfStorage: 'F16', BFloat16Storage: 'BF16',
  LongStorage: 'I64', IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
};
const ALLOWED_GLOBALS = new Set([
  'collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_parameter',
  ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
]);

class Global { constructor(readonly name: string) {} }
class Storage { constructor(readonly dtype: DTypeName, readonly key: string, readonly numel: number) {} }
class TensorRef { constructor(readonly storage: Storage, readonly offset: number, readonly shape: number[], readonly stride: number[]) {} }
const MARK = Symbol('mark');

function unpickle(data: Uint8Array, path: string): unknown {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  let p = 0;
  const fail = (msg: string): never => { throw new CheckpointError(`${path}: ${msg}`); };
  const popMark = (): unknown[] => {
    let i = stack.length - 1;
    while (i >= 0 && stack[i] !== MARK) i--;
    if (i < 0) fail('pickle MARK not found');
    const items = stack.splice(i + 1);
    stack.pop();
    return items;
  };
  const readLine = (): string => {
    const e = data.indexOf(0x0a, p);
    if (e < 0) fail('unterminated pickle line');
    const s = new TextDecoder().decode(data.subarray(p, e));
    p = e + 1;
    return s;
  };
  const str = (n: number): string => { const s = new TextDecoder().decode(data.subarray(p, p + n)); p += n; return s; };
  const callGlobal = (g: unknown, args: unknown[]): unknown => {
    if (!(g instanceof Global)) return fail('pickle REDUCE on a non-global');
    switch (g.name) {
      case 'collections.OrderedDict': return new Map();
      case 'torch._utils._rebuild_tensor_v2': {
        const [st, off, size, stride] = args as [Storage, number, number[], number[]];
        if (!(st instanceof Storage)) fail('tensor rebuilt from something that is not a storage');
        // offsets, sizes and strides: non-negative integers (a negative one would read before the storage or wrap)
        const nat = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
        if (!nat(off)) fail(`a tensor's storage offset ${String(off)} is not a non-negative integer`);
        if (!Array.isArray(size) || !size.every(nat)) fail(`a tensor's size (${String(size)}) is not a list of non-negative integers`);
        if (!Array.isArray(stride) || stride.length !== size.length || !stride.every(nat)) fail(`a tensor's stride (${String(stride)}) is not ${Array.isArray(size) ? size.length : 0} non-negative integers`);
        return new TensorRef(st, off, size, stride);
      }
      case 'torch._utils._rebuild_parameter': return args[0];
      default: return fail(`pickle calls ${g.name}, which a state dict never needs`);
    }
  };
  for (;;) {
    if (p >= data.byteLength) fail('pickle ended without STOP');
    const op = data[p++]!;
    switch (op) {
      case 0x80: p++; break; // PROTO
      case 0x95: p += 8; break; // FRAME
      case 0x2e: return stack.pop(); // STOP
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x28: stack.push(MARK); break; // MARK
      case 0x74: stack.push(popMark()); break; // TUPLE
      case 0x85: stack.push([stack.pop()]); break; // TUPLE1
      case 0x86: { const b = stack.pop(), a = stack.pop(); stack.push([a, b]); break; } // TUPLE2
      case 0x87: { const c = stack.pop(), b = stack.pop(), a = stack.pop(); stack.push([a, b, c]); break; } // TUPLE3
      case 0x71: memo.set(data[p++]!, stack[stack.length - 1]); break; // BINPUT
      case 0x72: memo.set(dv.getUint32(p, true), stack[stack.length - 1]); p += 4; break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, stack[stack.length - 1]); break; // MEMOIZE
      case 0x68: stack.push(memo.get(data[p++]!)); break; // BINGET
      case 0x6a: stack.push(memo.get(dv.getUint32(p, true))); p += 4; break; // LONG_BINGET
      case 0x58: { const n = dv.getUint32(p, true); p += 4; stack.push(str(n)); break; } // BINUNICODE
      case 0x8c: { const n = data[p++]!; stack.push(str(n)); break; } // SHORT_BINUNICODE
      case 0x55: { const n = data[p++]!; stack.push(str(n)); break; } // SHORT_BINSTRING
      case 0x54: { const n = dv.getUint32(p, true); p += 4; stack.push(str(n)); break; } // BINSTRING
      case 0x4b: stack.push(data[p++]!); break; // BININT1
      case 0x4d: stack.push(dv.getUint16(p, true)); p += 2; break; // BININT2
      case 0x4a: stack.push(dv.getInt32(p, true)); p += 4; break; // BININT
      case 0x8a: { // LONG1
        const n = data[p++]!;
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[p + i]!);
        if (n > 0 && data[p + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        p += n;
        stack.push(Number(v));
        break;
      }
      case 0x47: stack.push(dv.getFloat64(p, false)); p += 8; break; // BINFLOAT
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4e: stack.push(null); break; // NONE
      case 0x63: { // GLOBAL
        const name = `${readLine()}.${readLine()}`;
        if (!ALLOWED_GLOBALS.has(name)) fail(`refusing pickle global ${name}: only tensor state dicts are read, nothing is executed`);
        stack.push(new Global(name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const n = stack.pop() as string, m = stack.pop() as string;
        const name = `${m}.${n}`;
        if (!ALLOWED_GLOBALS.has(name)) fail(`refusing pickle global ${name}: only tensor state dicts are read, nothing is executed`);
        stack.push(new Global(name));
        break;
      }
      case 0x51: { // BINPERSID
        const pid = stack.pop() as unknown[];
        if (!Array.isArray(pid) || pid[0] !== 'storage' || !(pid[1] instanceof Global)) fail('unexpected persistent id');
        const typeName = (pid[1] as Global).name.replace(/^torch\./, '');
        const dtype = STORAGE_DTYPES[typeName];
        if (!dtype) fail(`unsupported storage type ${typeName}`);
        const count = Number(pid[4]);
        if (!Number.isSafeInteger(count) || count < 0) fail(`a storage of ${String(pid[4])} elements`);
        stack.push(new Storage(dtype!, String(pid[2]), count));
        break;
      }
      case 0x52: { const args = stack.pop() as unknown[]; const g = stack.pop(); stack.push(callGlobal(g, args)); break; } // REDUCE
      case 0x62: stack.pop(); break; // BUILD: state for OrderedDict/params is ignored
      case 0x73: { const v = stack.pop(), k = stack.pop(); (stack[stack.length - 1] as Map<unknown, unknown>).set(k, v); break; } // SETITEM
      case 0x75: { // SETITEMS
        const items = popMark();
        const d = stack[stack.length - 1] as Map<unknown, unknown>;
        for (let i = 0; i < items.length; i += 2) d.set(items[i], items[i + 1]);
        break;
      }
      case 0x61: { const v = stack.pop(); (stack[stack.length - 1] as unknown[]).push(v); break; } // APPEND
      case 0x65: { const items = popMark(); (stack[stack.length - 1] as unknown[]).push(...items); break; } // APPENDS
      default: fail(`unsupported pickle opcode 0x${op.toString(16)} at byte ${p - 1}`);
    }
  }
}

/** read every tensor of a pytorch_model.bin state dict */
export function readTorchBin(path: string): Map<string, RawTensor> {
  const zip = new ZipReader(readFileChecked(path, 'model weights', undefined, CheckpointError), path);
  const pkl = [...zip.entries.keys()].find((n) => n.endsWith('/data.pkl') || n === 'data.pkl');
  if (!pkl) throw new CheckpointError(`${path}: no data.pkl in the archive; not a torch.save file`);
  const root = pkl.slice(0, pkl.length - 'data.pkl'.length);
  const obj = unpickle(zip.read(pkl), path);
  if (!(obj instanceof Map)) throw new CheckpointError(`${path}: the pickle is not a state dict`);
  const out = new Map<string, RawTensor>();
  const storages = new Map<string, Uint8Array>();
  // what the views of each storage reach: a storage is inflated only when a tensor is read (after its name and
  // shape were checked against the config), and may declare at most twice that (a zip bomb stops there)
  const reach = new Map<string, number>();
  for (const [k, v] of obj) {
    if (!(v instanceof TensorRef)) continue;
    const n = numel(v.shape);
    const end = n === 0 ? v.offset : v.offset + v.shape.reduce((s, d, i) => s + (d - 1) * v.stride[i]!, 0) + 1;
    if (end > v.storage.numel) throw new CheckpointError(`${path}: tensor ${String(k)} reads past its storage (${end} of ${v.storage.numel} elements); the file is damaged`);
    reach.set(v.storage.key, Math.max(reach.get(v.storage.key) ?? 0, end));
  }
  const bound = (st: Storage): number => 2 * reach.get(st.key)! * DTYPE_BYTES[st.dtype] + (1 << 20);
  // every storage's declared size checked now, from the archive's directory (nothing inflated)
  for (const [, v] of obj) {
    if (!(v instanceof TensorRef)) continue;
    const name = `${root}data/${v.storage.key}`, e = zip.entries.get(name);
    if (!e) throw new CheckpointError(`${path}: no entry ${name} in the archive`);
    if (e.size > bound(v.storage)) throw new CheckpointError(`${path}: entry ${name} declares ${e.size} bytes, more than the ${bound(v.storage)} it may hold`);
  }
  const storageBytes = (st: Storage): Uint8Array => {
    let bytes = storages.get(st.key);
    if (!bytes) { bytes = zip.read(`${root}data/${st.key}`, bound(st)); storages.set(st.key, bytes); }
    return bytes;
  };
  for (const [k, v] of obj) {
    if (!(v instanceof TensorRef)) continue;
    const st = v.storage;
    // inflated when first read: a checkpoint refused by its names or shapes is never inflated
    let cached: Uint8Array | null = null;
    const materialise = (): Uint8Array => (cached ??= tensorBytes(k, v, storageBytes(st)));
    out.set(String(k), { dtype: st.dtype, shape: v.shape, get data() { return materialise(); } } as RawTensor);
  }
  return out;

  function tensorBytes(k: unknown, v: TensorRef, bytes: Uint8Array): Uint8Array {
    const st = v.storage;
    const es = DTYPE_BYTES[st.dtype];
    const n = numel(v.shape);
    let contiguous = true;
    for (let d = v.shape.length - 1, want = 1; d >= 0; d--) {
      if (v.shape[d]! > 1 && v.stride[d] !== want) contiguous = false;
      want *= v.shape[d]!;
    }
    if (contiguous) {
      if ((v.offset + n) * es > bytes.byteLength) throw new CheckpointError(`${path}: tensor ${String(k)} reads past its storage; the file is truncated`);
      return bytes.slice(v.offset * es, (v.offset + n) * es);
    }
    const data = new Uint8Array(n * es);
    // copy honouring strides (state dicts are usually contiguous, but views exist)
    const idx = new Array(v.shape.length).fill(0);
    for (let i = 0; i < n; i++) {
      let src = v.offset;
      for (let d = 0; d < idx.length; d++) src += idx[d] * v.stride[d]!;
      if ((src + 1) * es > bytes.byteLength) throw new CheckpointError(`${path}: tensor ${String(k)} reads past its storage; the file is truncated`);
      data.set(bytes.subarray(src * es, src * es + es), i * es);
      for (let d = idx.length - 1; d >= 0; d--) { if (++idx[d] < v.shape[d]!) break; idx[d] = 0; }
    }
    return data;
  }
}
