// Checkpoint readers on real TensorFlow files and on broken or hostile inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativeKernels } from '../src/core/native.js';
import { loadBert } from '../src/model/load.js';
import { parseSafetensors, readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { toFloat32, toFloat64 } from '../src/io/tensor.js';
import { crc32c, readTf1Checkpoint, snappyDecompress, tfNameToHf } from '../src/io/tf1.js';
import { readTorchBin } from '../src/io/torchbin.js';
import { tempDir, zipFiles } from './helpers.js';

const SHARED = new URL('../../test/fixtures/shared/models/tf1-checkpoints/', import.meta.url).pathname;
const FIX = new URL('../../test/fixtures/', import.meta.url).pathname;

test('crc32c matches the standard check value', () => {
  assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
});

test('snappy: literals and overlapping copies', () => {
  // "abcabcabcabc": literal "abc" then copy len 9 offset 3 (1-byte-offset form)
  const src = Uint8Array.from([12, (3 - 1) << 2, 0x61, 0x62, 0x63, 1 | ((9 - 4) << 2), 3]);
  assert.equal(new TextDecoder().decode(snappyDecompress(src)), 'abcabcabcabc');
  assert.throws(() => snappyDecompress(Uint8Array.from([5, 0, 0x61])), /snappy/);
});

test('TF1: real uncompressed, snappy-compressed and TF2 bundles', () => {
  const counter = readTf1Checkpoint(join(SHARED, 'serving-counter/variables'));
  assert.deepEqual([...counter.keys()], ['counter']);
  assert.deepEqual(Array.from(toFloat64(counter.get('counter')!)), [0]);
  const snappy = readTf1Checkpoint(join(SHARED, 'serving-half-plus-two-snappy/variables'));
  assert.deepEqual(Object.fromEntries([...snappy].map(([k, v]) => [k, toFloat64(v)[0]])), { a: 0.5, a2: 0.5, b: 2, c: 3, c2: 3 });
  const tf2 = readTf1Checkpoint(join(SHARED, 'serving-half-plus-two-tf2/variables'));
  assert.equal(toFloat64(tf2.get('b/.ATTRIBUTES/VARIABLE_VALUE')!)[0], 2);
  assert.ok(!tf2.has('_CHECKPOINTABLE_OBJECT_GRAPH'), 'string tensors are skipped');
});

test('TF1: the tiny google-research BERT loads by prefix, skipping adam slots and global_step', () => {
  const prefix = join(SHARED, 'keras-bert-tiny/bert_model.ckpt');
  const raw = readTf1Checkpoint(prefix);
  assert.ok(raw.has('global_step') && raw.has('bert/embeddings/LayerNorm/beta/adam_m'));
  const { model, files } = loadBert(prefix, { kernels: nativeKernels() });
  assert.equal(files.format, 'tf1');
  assert.equal(model.cfg.hidden_size, 4);
  // kernels are [in, out] in TF and transposed on load to HF's [out, in]
  const k = toFloat32(raw.get('bert/encoder/layer_0/intermediate/dense/kernel')!); // [4, 16]
  const w = model.param('bert.encoder.layer.0.intermediate.dense.weight'); // [16, 4]
  for (let i = 0; i < 4; i++) for (let j = 0; j < 16; j++) assert.equal(w[j * 4 + i], k[i * 16 + j]);
  assert.deepEqual(model.param('bert.embeddings.LayerNorm.weight'), toFloat32(raw.get('bert/embeddings/LayerNorm/gamma')!));
  const out = model.forward({ B: 1, S: 4, inputIds: Int32Array.from([2, 5, 6, 3]), tokenTypeIds: new Int32Array(4), attentionMask: new Uint8Array(4).fill(1) });
  assert.equal(out.pooledOutput.length, 4);
  assert.ok(out.pooledOutput.every(Number.isFinite));
  // the same model loads from its folder (newest ckpt found by name)
  assert.equal(loadBert(join(SHARED, 'keras-bert-tiny'), { kernels: nativeKernels() }).files.format, 'tf1');
});

test('TF names map onto HF names', () => {
  assert.deepEqual(tfNameToHf('bert/encoder/layer_11/attention/self/query/kernel'), { name: 'bert.encoder.layer.11.attention.self.query.weight', transpose: true });
  assert.deepEqual(tfNameToHf('bert/embeddings/word_embeddings'), { name: 'bert.embeddings.word_embeddings.weight', transpose: false });
  assert.deepEqual(tfNameToHf('bert/encoder/layer_0/output/LayerNorm/beta'), { name: 'bert.encoder.layer.0.output.LayerNorm.bias', transpose: false });
  assert.deepEqual(tfNameToHf('output_weights'), { name: 'classifier.weight', transpose: false });
  assert.equal(tfNameToHf('bert/pooler/dense/kernel/adam_v'), null);
  assert.equal(tfNameToHf('global_step'), null);
});

test('TF1: a corrupted data file fails its crc32c check', (t) => {
  const d = tempDir(t);
  const src = join(SHARED, 'keras-bert-tiny/bert_model.ckpt');
  copyFileSync(src + '.index', join(d, 'm.ckpt.index'));
  const data = readFileSync(src + '.data-00000-of-00001');
  data[100] = data[100]! ^ 0xff;
  writeFileSync(join(d, 'm.ckpt.data-00000-of-00001'), data);
  assert.throws(() => readTf1Checkpoint(join(d, 'm.ckpt')), /crc32c/);
  const idx = readFileSync(src + '.index');
  writeFileSync(join(d, 'm.ckpt.index'), idx.subarray(0, idx.length - 3));
  assert.throws(() => readTf1Checkpoint(join(d, 'm.ckpt')), /bad table magic|too short/);
});

test('safetensors: F16/BF16 read, round trip, truncation and bad headers', (t) => {
  const d = tempDir(t);
  const p = join(d, 'x.safetensors');
  const bf = Uint16Array.from([0x3f80, 0xc000]); // 1, -2
  writeSafetensors(p, [{ name: 'a', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }, { name: 'b', shape: [2], data: bf, dtype: 'BF16' },
    { name: 'h', shape: [2], data: Uint16Array.from([0x3c00, 0x4200]), dtype: 'F16' }], { k: 'v' });
  const f = readSafetensors(p);
  assert.equal(f.metadata.k, 'v');
  assert.deepEqual(Array.from(toFloat32(f.tensors.get('a')!)), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(Array.from(toFloat32(f.tensors.get('b')!)), [1, -2]);
  assert.deepEqual(Array.from(toFloat32(f.tensors.get('h')!)), [1, 3]);
  const buf = readFileSync(p);
  assert.throws(() => parseSafetensors(buf.subarray(0, buf.length - 4), 'cut'), /cut: tensor .* truncated/);
  assert.throws(() => parseSafetensors(buf.subarray(0, 6), 'tiny'), /too short/);
  const bad = Buffer.from(buf); bad.write('{{{{', 8);
  assert.throws(() => parseSafetensors(bad, 'bad'), /not valid JSON/);
});

function zipOf(name: string, content: Uint8Array, deflate = false): Buffer {
  return zipFiles([[name, content]], deflate);
}

test('pytorch_model.bin: a pickle that names any other global is refused, never run', (t) => {
  const d = tempDir(t);
  // protocol 2: GLOBAL 'posix system', then REDUCE ('echo pwned',)
  const evil = Buffer.concat([Buffer.from([0x80, 2]), Buffer.from('cposix\nsystem\n'), Buffer.from([0x58]), Buffer.from([10, 0, 0, 0]), Buffer.from('echo pwned'), Buffer.from([0x85, 0x52, 0x2e])]);
  for (const deflate of [false, true]) {
    const p = join(d, `evil${deflate}.bin`);
    writeFileSync(p, zipOf('archive/data.pkl', evil, deflate));
    assert.throws(() => readTorchBin(p), /refusing pickle global posix\.system/);
  }
  writeFileSync(join(d, 'notzip.bin'), Buffer.from('plain bytes, not a zip'));
  assert.throws(() => readTorchBin(join(d, 'notzip.bin')), /not a zip archive/);
});

test('a checkpoint that does not fit its config lists every problem in one error', (t) => {
  const d = tempDir(t);
  const src = join(FIX, 'parity-gelu');
  const f = readSafetensors(join(src, 'model.safetensors'));
  const tensors = [...f.tensors].filter(([k]) => k !== 'bert.pooler.dense.bias')
    .map(([name, t]) => ({ name, shape: name === 'bert.embeddings.LayerNorm.weight' ? [2, 16] : t.shape, data: toFloat32(t) }));
  tensors.push({ name: 'bert.extra.weight', shape: [1], data: Float32Array.from([1]) });
  writeSafetensors(join(d, 'model.safetensors'), tensors);
  copyFileSync(join(src, 'config.json'), join(d, 'config.json'));
  assert.throws(() => loadBert(d, { kernels: nativeKernels() }),
    (e: Error) => /missing: bert\.pooler\.dense\.bias/.test(e.message) && /wrong shape: bert\.embeddings\.LayerNorm\.weight is \[2,16\], expected \[32\]/.test(e.message) && /unexpected: bert\.extra\.weight/.test(e.message));
  rmSync(join(d, 'model.safetensors'));
  assert.throws(() => loadBert(d, { kernels: nativeKernels() }), /no weights/);
  writeFileSync(join(d, 'config.json'), '{"hidden_size": 30, "num_attention_heads": 4, "vocab_size": 9, "num_hidden_layers": 1, "intermediate_size": 8}');
  copyFileSync(join(src, 'model.safetensors'), join(d, 'model.safetensors'));
  assert.throws(() => loadBert(d, { kernels: nativeKernels() }), /not divisible/);
});

test('relabelling for a new task initialises a fresh classifier', () => {
  const { model, initialised } = loadBert(join(FIX, 'parity-gelu'), { kernels: nativeKernels(), labels: ['0', '1'], seed: 3 });
  assert.deepEqual(initialised, ['classifier.weight', 'classifier.bias']);
  assert.equal(model.param('classifier.weight').length, 2 * 32);
});

test('TF1: the masked-LM head of a google-research checkpoint loads (nothing initialised)', () => {
  const { model, initialised } = loadBert(join(SHARED, 'keras-bert-tiny/bert_model.ckpt'), { kernels: nativeKernels(), mlmHead: true });
  assert.deepEqual(initialised, []);
  const raw = readTf1Checkpoint(join(SHARED, 'keras-bert-tiny/bert_model.ckpt'));
  assert.deepEqual(model.param('cls.predictions.bias'), toFloat32(raw.get('cls/predictions/output_bias')!));
});

test('randomInit: the folder config with fresh seeded weights; a pair head replaces the classifier', async (t) => {
  const { Bert } = await import('../src/model/bert.js');
  const { makeConfig } = await import('../src/model/config.js');
  const { saveBert } = await import('../src/model/load.js');
  const { headConfig } = await import('../src/model/heads/index.js');
  const dir = tempDir(t);
  const cfg = makeConfig({ vocab_size: 50, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32 });
  saveBert(new Bert(cfg, { kernels: nativeKernels(), seed: 3 }), dir);
  const K = nativeKernels();
  const trained = loadBert(dir, { kernels: K }).model;
  const fresh = loadBert(dir, { kernels: K, randomInit: true, seed: 11, labels: ['0', '1'] });
  const ref = new Bert({ ...cfg, labels: ['0', '1'] }, { kernels: K, seed: 11 });
  assert.deepEqual(fresh.model.params, ref.params);
  assert.notDeepEqual(fresh.model.param('bert.embeddings.word_embeddings.weight'), trained.param('bert.embeddings.word_embeddings.weight'));
  assert.equal(fresh.initialised.length, fresh.model.layout.specs.length);
  // a pair head: encoder weights loaded, head.* initialised, no classifier
  const withHead = loadBert(dir, { kernels: K, labels: ['0', '1'], pairHead: headConfig('lowrank'), seed: 1 });
  assert.deepEqual(withHead.model.param('bert.pooler.dense.weight'), trained.param('bert.pooler.dense.weight'));
  assert.deepEqual(withHead.initialised.sort(), ['head.classifier.bias', 'head.classifier.weight', 'head.lowrank.key.weight', 'head.lowrank.query.weight']);
  assert.ok(!withHead.model.layout.byName.has('classifier.weight'));
});

test('pytorch_model.bin: a zip bomb is refused before it is inflated; a flipped byte in tensor data fails the CRC-32 check', async (t) => {
  const { ZipReader } = await import('../src/io/zip.js');
  const d = tempDir(t);
  const src = join(new URL('../../test/fixtures/parity-gelu/', import.meta.url).pathname, 'pytorch_model.bin');
  const zip = new ZipReader(readFileSync(src), src);
  const names = [...zip.entries.keys()];
  const data = names.filter((n) => /\/data\/\d+$/.test(n));
  assert.ok(data.length > 0);
  // one storage replaced by 64 MB of zeros (64 KB deflated): more than its tensor needs
  const bomb = names.map((n): [string, Uint8Array] => [n, n === data[0] ? new Uint8Array(64 << 20) : zip.read(n)]);
  writeFileSync(join(d, 'bomb.bin'), zipFiles(bomb, true));
  const before = process.memoryUsage().rss;
  assert.throws(() => readTorchBin(join(d, 'bomb.bin')), /declares 67108864 bytes, more than the \d+ it may hold/);
  assert.ok(process.memoryUsage().rss - before < 32 << 20, 'nothing of the bomb was inflated');
  // the real file with one byte of a storage flipped in place (torch.save stores entries uncompressed)
  const bytes = Buffer.from(readFileSync(src));
  const e = zip.entries.get(data[0]!)!;
  assert.equal(e.method, 0);
  const start = e.localOffset + 30 + bytes.readUInt16LE(e.localOffset + 26) + bytes.readUInt16LE(e.localOffset + 28);
  bytes[start] = bytes[start]! ^ 0x10;
  writeFileSync(join(d, 'flipped.bin'), bytes);
  // storages are inflated (and checked) when a tensor's data is read, after its name and shape were checked
  assert.throws(() => { for (const x of readTorchBin(join(d, 'flipped.bin')).values()) void x.data; }, /fails its CRC-32 check; the file is damaged/);
});
