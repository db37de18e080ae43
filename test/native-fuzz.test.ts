// The native binding never aborts: every exported kernel called with random sizes
// (0, small, huge, overflowing products, negative, fractional, NaN, infinite) and random
// typed arrays (wrong kinds, short, empty) either runs or throws a JS error naming the op.
// The calls run in a child process so that a crash fails this test instead of the runner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers.js';

const CASES = Number(process.env.JA_BERT_FUZZ_CASES ?? 300);
const NATIVE = new URL('../src/core/native.js', import.meta.url).pathname;

const child = `
import { nativeKernels } from ${JSON.stringify(NATIVE)};
const K = nativeKernels();
let seed = Number(process.argv[2]);
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
const pick = (a) => a[Math.floor(rnd() * a.length)];
const size = () => pick([0, 1, 2, 3, 7, 64, 1e9, 2 ** 31, 2 ** 40, 2 ** 53, 2 ** 62, 1e300, -1, 1.5, NaN, Infinity, '4', undefined]);
const arr = () => { const n = pick([0, 1, 4, 64, 512]); return pick([() => new Float32Array(n), () => new Uint16Array(n), () => new Int32Array(n), () => new Uint8Array(n), () => new Int8Array(n), () => null, () => [1, 2], () => 3])(); };
const ops = ['matmul', 'f32ToBf16', 'bf16ToF32', 'addForward', 'accumulate', 'scale', 'sumSquares', 'geluForward', 'geluBackward', 'tanhForward', 'tanhBackward',
  'additiveScores', 'maxSim', 'attnPoolFeatures', 'dropoutForward', 'dropoutRowsForward', 'dropoutBackward', 'colSumAccumulate', 'layernormForward', 'layernormBackward',
  'embeddingForward', 'embeddingBackward', 'splitHeads', 'mergeHeads3', 'headsToRows', 'rowsToHeads', 'attnSoftmaxForward', 'attnSoftmaxBackward',
  'attnSoftmaxShared', 'attnSoftmaxWindow', 'attnBlocked', 'attnBlockedBackward', 'ropeApply', 'relPosBias', 'relPosBiasBackward', 'gegluForward', 'gegluBackward', 'softmaxForward', 'softmaxBackward', 'crossEntropyForward', 'crossEntropyBackward', 'adamwStep', 'quantizeRowsS8', 'linearInt8', 'packInt8Weights', 'packDenseWeights', 'linearPacked'];
const counts = { ran: 0, threw: 0 };
for (let c = 0; c < Number(process.argv[3]); c++) {
  const op = ops[c % ops.length];
  const nargs = 2 + Math.floor(rnd() * 13);
  // arrays first (as every kernel takes them), then sizes, numbers and flags
  const args = [];
  for (let i = 0; i < nargs; i++) args.push(rnd() < 0.45 ? arr() : rnd() < 0.8 ? size() : pick([true, false, 0.1, 1e-5]));
  try { K[op](...args); counts.ran++; }
  catch (e) {
    if (!(e instanceof Error) || !e.message.startsWith(op.replace(/^bf16ToF32$/, 'bf16ToF32'))) { console.error('bad error from ' + op + ': ' + String(e && e.message)); process.exit(3); }
    counts.threw++;
  }
}
console.log(JSON.stringify(counts));
`;

test(`native binding fuzz: ${CASES} random calls, only clean errors (seeded)`, (t) => {
  const f = join(tempDir(t), 'fuzz.mjs');
  writeFileSync(f, child);
  for (const seed of [1, 2]) {
    const r = spawnSync(process.execPath, [f, String(seed), String(CASES)], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.signal, null, `seed ${seed}: killed by ${r.signal}\n${r.stderr}`);
    assert.equal(r.status, 0, `seed ${seed}: ${r.stderr}`);
    const counts = JSON.parse(r.stdout) as { ran: number; threw: number };
    assert.equal(counts.ran + counts.threw, CASES);
    assert.ok(counts.threw > CASES / 2, r.stdout);
  }
});

test('native binding: sizes whose product overflows are refused by name', async () => {
  const { nativeKernels } = await import('../src/core/native.js');
  const K = nativeKernels() as unknown as Record<string, (...a: unknown[]) => unknown>;
  const f = new Float32Array(16);
  assert.throws(() => K.matmul!(f, f, f, null, 2 ** 21, 2 ** 21, 2 ** 21, 1, false, false, false, 0), /^Error: matmul: the sizes given overflow|matmul: the sizes given overflow/);
  assert.throws(() => K.splitHeads!(f, f, f, f, 2 ** 40, 2 ** 40, 1, 1), /splitHeads: the sizes given overflow/);
  assert.throws(() => K.softmaxForward!(f, f, 1e300, 1), /softmaxForward: rows must be a non-negative safe integer/);
  assert.throws(() => K.attnSoftmaxForward!(f, f, f, 2 ** 20, 2 ** 20, 2 ** 20, 1), /attnSoftmaxForward: the sizes given overflow/);
});
