import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import type { TestContext } from 'node:test';
import { Rng } from '../src/core/random.js';
import { nativeKernels } from '../src/core/native.js';
import { finetune } from '../src/finetune.js';
import { loadBert, saveBert } from '../src/model/load.js';
import { Bert } from '../src/model/bert.js';
import { makeConfig } from '../src/model/config.js';
import { refKernels } from '../src/core/ref.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { toFloat64 } from '../src/io/tensor.js';

export function randn(n: number, rng: Rng, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

export function maxAbs(b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(b[i]!));
  return m;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) { const d = Math.abs(a[i]! - b[i]!); if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d; }
  return m;
}

/**
 * max over i of |a_i - b_i| / (|b_i| + floorFrac * scale), scale = max(max|b|, minScale).
 * The floor keeps elements that are tiny next to the rest of the tensor from
 * turning rounding noise into huge "relative" errors.
 */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>, floorFrac = 1e-3, minScale = 0): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  const maxAbsB = Math.max(maxAbs(b), minScale);
  const floor = Math.max(maxAbsB * floorFrac, 1e-12);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i]! - b[i]!) / (Math.abs(b[i]!) + floor);
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
  }
  return worst;
}

export function assertClose(name: string, a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  const e = maxRelErr(a, b);
  if (!(e <= tol)) throw new Error(`${name}: max relative error ${e.toExponential(3)} > ${tol}`);
}

/** normwise: max|a-b| / max(max|b|, minScale) */
export function normErr(a: ArrayLike<number>, b: ArrayLike<number>, minScale = 0): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d / Math.max(maxAbs(b), minScale, 1e-30);
}


/** a fresh temporary folder, removed when the test ends (pass or fail) */
export function tempDir(t: TestContext): string {
  const d = mkdtempSync(join(tmpdir(), 'jabert-test-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** fail loudly when a system command a test needs is missing */
export function requireCommand(tool: string, debianPackage: string): void {
  try {
    execFileSync('which', [tool], { stdio: 'pipe' });
  } catch {
    throw new Error(`${tool} is missing: install Debian's ${debianPackage} (scripts/setup.sh does)`);
  }
}

/** the shared references the tests read, copied into the repository (test/fixtures/shared/README.md: sources and licences) */
export const SHARED_DIR = new URL('../../test/fixtures/shared/', import.meta.url).pathname;

/**
 * Real Japanese texts for tokenizer comparisons, one line each: up to 700
 * chABSA sentences of a split, then the first three non-empty lines (cut at
 * 400 characters) of man pages [from, to) of honbun_data.json.
 */
export function japaneseTexts(chabsa: 'train' | 'test', from: number, to: number): string[] {
  const texts: string[] = [];
  for (const line of readFileSync(join(SHARED_DIR, `data/chabsa/${chabsa}.tsv`), 'utf8').split('\n').slice(0, 700)) {
    const t = line.split('\t')[0];
    if (t) texts.push(t);
  }
  const pages = JSON.parse(readFileSync(join(SHARED_DIR, 'data/manpages-ja-links/honbun_data.json'), 'utf8')) as Record<string, string>;
  for (const body of Object.values(pages).slice(from, to)) for (const l of body.split('\n').slice(0, 3)) if (l.trim()) texts.push(l.slice(0, 400));
  return texts;
}

/** a zip archive of stored or deflated entries (with their CRC-32), as zip(1) writes one */
export function zipFiles(entries: Array<[string, Uint8Array | string]>, deflate = false): Buffer {
  const locals: Buffer[] = [], cds: Buffer[] = [];
  let off = 0;
  for (const [name, c] of entries) {
    const content = typeof c === 'string' ? Buffer.from(c) : Buffer.from(c);
    const body = deflate ? deflateRawSync(content) : content;
    const n = Buffer.from(name), crc = crc32(content);
    const local = Buffer.alloc(30); local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(deflate ? 8 : 0, 8); local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18); local.writeUInt32LE(content.length, 22); local.writeUInt16LE(n.length, 26);
    const cd = Buffer.alloc(46); cd.writeUInt32LE(0x02014b50, 0); cd.writeUInt16LE(deflate ? 8 : 0, 10); cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(body.length, 20); cd.writeUInt32LE(content.length, 24); cd.writeUInt16LE(n.length, 28); cd.writeUInt32LE(off, 42);
    locals.push(local, n, body); cds.push(cd, n);
    off += 30 + n.length + body.length;
  }
  const cdBuf = Buffer.concat(cds);
  const eocd = Buffer.alloc(22); eocd.writeUInt32LE(0x06054b50, 0); eocd.writeUInt16LE(entries.length, 8); eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cdBuf.length, 12); eocd.writeUInt32LE(off, 16);
  return Buffer.concat([...locals, cdBuf, eocd]);
}

/** environment that loads the fault-injection preload (test/fault-preload.ts) into a child node process */
export function faultEnv(extra: Record<string, string>): Record<string, string> {
  return { NODE_OPTIONS: `--import=${new URL('./fault-preload.js', import.meta.url).pathname}`, ...extra };
}

export interface TinySetup {
  /** a random 1-layer BERT (H 32) with the real 32k wiki-ja SentencePiece model */
  model: string;
  /** the seed-format pair file (a slice of manpages-ja-links) and its texts */
  pairs: string;
  texts: string;
  slice: Array<[string, string, number]>;
  body: Record<string, string>;
}

/** a tiny model and a slice of the real man-page pairs in `dir`, for end-to-end tests that must run in seconds */
export function tinySetup(dir: string, o: { seed: number; from: number; to: number }): TinySetup {
  const model = join(dir, 'model');
  const cfg = makeConfig({ vocab_size: 32000, hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 4, intermediate_size: 64, max_position_embeddings: 64 });
  saveBert(new Bert(cfg, { kernels: nativeKernels(), seed: o.seed }), model);
  copyFileSync(join(SHARED_DIR, 'models/wiki-ja-albert-spm/wiki-ja_albert.model'), join(model, 'spiece.model'));
  const all = JSON.parse(readFileSync(join(SHARED_DIR, 'data/manpages-ja-links/negaposi.json'), 'utf8')) as Array<[string, string, number]>;
  const slice = all.slice(o.from, o.to);
  const pairs = join(dir, 'pairs.json');
  writeFileSync(pairs, JSON.stringify(slice));
  const full = JSON.parse(readFileSync(join(SHARED_DIR, 'data/manpages-ja-links/honbun_data.json'), 'utf8')) as Record<string, string>;
  const body = Object.fromEntries([...new Set(slice.flatMap(([a, b]) => [a, b]))].map((t) => [t, full[t]!]));
  const texts = join(dir, 'texts.json');
  writeFileSync(texts, JSON.stringify(body));
  return { model, pairs, texts, slice, body };
}

/** tinySetup plus a dot-head pair model fine-tuned on it for a step or two (f32, no checkpoints): what cache, rank and retrieval tests start from */
export function tinyPairModel(dir: string, o: { seed: number; from: number; to: number; maxSteps: number }): { t: TinySetup; model: string } {
  const t = tinySetup(dir, o);
  const model = join(dir, 'dot');
  finetune({ model: t.model, output: model, kernels: nativeKernels(), texts: t.texts, pairs: t.pairs, head: 'dot', maxSteps: o.maxSteps, batchSize: 8, maxSeqLength: 32, dtype: 'f32', saveSteps: 0 });
  return { t, model };
}

/**
 * f32: elementwise |a-b| / (|b| + 1% of the tensor's scale); the scale of a
 * gradient is floored at 1e-3 of the largest gradient anywhere, because some
 * true gradients are exactly zero (key biases: softmax ignores a per-row shift)
 * and PyTorch's float64 then holds only noise. bf16: normwise max|a-b| / scale.
 */
export function checkParity(name: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: number, minScale = 0, normwise = false): number {
  const e = normwise ? normErr(got, want, minScale) : maxRelErr(got, want, 1e-2, minScale);
  assert.ok(e <= tol, `${name}: max relative error ${e.toExponential(3)} > ${tol}`);
  return e;
}

/**
 * A masked-LM fixture (its twin's loss and gradients at masked positions, reference.safetensors: positions, targets, loss,
 * grad.<name>) against ja-bert's head on native and reference kernels: the loss to 1e-5, every gradient the twin has to 1e-3,
 * every parameter it lacks exactly zero. `bias`: the decoder bias's name, which the layout must hold (null: the config has none).
 */
export function checkMlmParity(dir: string, bias: string | null): void {
  const f = readSafetensors(join(dir, 'reference.safetensors'));
  const get = (k: string) => toFloat64(f.tensors.get(k)!);
  const [B, S] = f.tensors.get('input_ids')!.shape as [number, number];
  const batch = { B, S, inputIds: Int32Array.from(get('input_ids')), tokenTypeIds: new Int32Array(B * S), attentionMask: Uint8Array.from(get('attention_mask')) };
  for (const K of [nativeKernels(), refKernels]) {
    const { model, initialised } = loadBert(dir, { kernels: K, mlmHead: true });
    if (bias) assert.ok(model.layout.byName.has(bias), `${bias} in the layout`);
    const fromTwin = [...f.tensors.keys()].filter((n) => n.startsWith('grad.')).map((n) => n.slice(5));
    assert.deepEqual(initialised.filter((n) => fromTwin.includes(n)), [], 'every parameter the twin has comes from the checkpoint');
    model.forward(batch);
    model.zeroGrads();
    const { loss } = model.mlmLoss(Int32Array.from(get('positions')), Int32Array.from(get('targets')));
    const want = get('loss')[0]!;
    assert.ok(Math.abs(loss - want) / want < 1e-5, `${K.name}: loss ${loss} vs ${want}`);
    model.mlmBackward();
    let gmax = 0, compared = 0;
    for (const n of fromTwin) gmax = Math.max(gmax, maxAbs(get('grad.' + n)));
    for (const spec of model.layout.specs) {
      if (!fromTwin.includes(spec.name)) { assert.equal(maxAbs(model.grad(spec.name)), 0, `${spec.name} takes no part in masked LM`); continue; }
      checkParity(`${K.name} grad ${spec.name}`, model.grad(spec.name), get('grad.' + spec.name), 1e-3, 1e-3 * gmax);
      compared++;
    }
    assert.equal(compared, fromTwin.length, 'every reference gradient is compared');
  }
}

/** a masked-LM fixture's fill-mask ONNX export (bertToOnnx) in onnxruntime-node: the twin's logits at the masked positions, 1e-4 */
export async function checkFillMaskOnnx(dir: string): Promise<void> {
  const ort = await import('onnxruntime-node');
  const { bertToOnnx } = await import('../src/export/onnx.js');
  const f = readSafetensors(join(dir, 'reference.safetensors'));
  const get = (k: string) => toFloat64(f.tensors.get(k)!);
  const [B, S] = f.tensors.get('input_ids')!.shape as [number, number];
  const { model } = loadBert(dir, { kernels: nativeKernels(), mlmHead: true });
  const s = await ort.InferenceSession.create(bertToOnnx(model, { task: 'fill-mask' }));
  const i64 = (a: Float64Array) => new ort.Tensor('int64', BigInt64Array.from(a, (v) => BigInt(v)), [B, S]);
  const logits = (await s.run({ input_ids: i64(get('input_ids')), attention_mask: i64(get('attention_mask')) })).logits!.data as Float32Array;
  const V = model.cfg.vocab_size, pos = Array.from(get('positions'));
  const got = new Float64Array(pos.length * V);
  pos.forEach((p, r) => got.set(logits.subarray(p * V, p * V + V), r * V));
  checkParity(`${dir}: masked-LM logits`, got, get('mlm_logits'), 1e-4);
}
