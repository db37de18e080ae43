// Hardening, round three (issue 25): ja-bert never deletes or replaces what it did not write (each case with
// a sentinel that must survive), never presents a broken run as finished, and refuses every bad input in one
// line (exit ≠ 0, no stack trace, no hang). The property part generates output/input aliasings, numeric
// extremes and JSON types; JA_BERT_FUZZ_N sets its size (CI runs the default).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeKernels } from '../src/core/native.js';
import { JaBertError } from '../src/core/errors.js';
import { readTorchBin } from '../src/io/torchbin.js';
import { checkChunkJob } from '../src/cache/queue.js';
import { RetrieveRanker } from '../src/cache/retrieve.js';
import { encodeCache, readCache, writeCacheFile, closeCache } from '../src/cache/index.js';
import { confusionMatrixText } from '../src/eval/metrics.js';
import { Classifier, Encoder, PairScorer, buildCache as apiBuildCache, closeEngine } from '../src/index.js';
import { startServer } from '../src/serve/server.js';
import { Rng } from '../src/core/random.js';
import { tinyPairModel, type TinySetup } from './helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const K = nativeKernels();
const N = Number(process.env.JA_BERT_FUZZ_N ?? 40);
const run = (args: string[], o: { cwd?: string; input?: string; timeout?: number } = {}) =>
  spawnSync(join(ROOT, 'bin/ja-bert'), args, { encoding: 'utf8', cwd: o.cwd, input: o.input, timeout: o.timeout ?? 60_000 });
let dir = '', t: TinySetup, pairModel = '', input = '';

/** refused in one line: exit ≠ 0, the last stderr line is ja-bert's, no stack, matching `re` */
function refused(r: ReturnType<typeof run>, re: RegExp, what: string): void {
  assert.notEqual(r.status, 0, `${what}: should be refused (stdout ${r.stdout})`);
  assert.equal(r.signal, null, `${what}: ended by ${r.signal} (a hang?)`);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, `${what}: a stack trace: ${r.stderr}`);
  const last = r.stderr.trim().split('\n').pop()!;
  assert.match(last, /^ja-bert: /, `${what}: ${r.stderr}`);
  assert.match(last, re, `${what}: ${last}`);
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'jabert-harden-'));
  ({ t, model: pairModel } = tinyPairModel(dir, { seed: 25, from: 300, to: 380, maxSteps: 1 }));
  input = join(dir, 'in.jsonl');
  writeFileSync(input, '{"text": "テスト", "text_b": "文"}\n{"text": "もう一つ", "text_b": "別"}\n');
});
after(async () => { await closeEngine(); rmSync(dir, { recursive: true, force: true }); });

test('unsafe: a queue job is validated and confined to its build\'s marked chunk folder', () => {
  const chunks = join(dir, 'c.jabc.chunks');
  mkdirSync(chunks, { recursive: true });
  writeFileSync(join(chunks, '.ja-bert-chunks'), 'a'.repeat(32) + '\n');
  const good = { model: t.model, storage: 'f32', batchSize: 8, cache: join(dir, 'c.jabc'), chunk: `chunk-000000-${'0'.repeat(24)}.jabc`, token: 'a'.repeat(32), items: [{ id: 'x', text: 'y' }] };
  assert.equal(checkChunkJob(good, '1').file, join(chunks, good.chunk));
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ ...good, chunk: '../../etc/passwd' }, /"chunk" must be a chunk file name/],
    [{ ...good, chunk: 'chunk-000000-000000000000000000000000.jabc/../../x' }, /"chunk"/],
    [{ ...good, storage: 'f64' }, /"storage"/],
    [{ ...good, cache: '/etc/passwd' }, /chunk folder/],
    [{ ...good, cache: 'relative/c.jabc' }, /absolute/],
    [{ ...good, token: 'b'.repeat(32) }, /token/],
    [{ ...good, batchSize: 0 }, /batchSize/],
    [{ ...good, items: [{ id: 1, text: 'y' }] }, /items/],
    [{ ...good, file: '/tmp/evil', chunk: undefined }, /"chunk"/],
  ];
  for (const [d, re] of bad) assert.throws(() => checkChunkJob(d, '9'), (e: Error) => e instanceof JaBertError && re.test(e.message), JSON.stringify(d));
  assert.throws(() => checkChunkJob(null, '9'), JaBertError);
  assert.ok(!existsSync('/tmp/evil'));
});

test('data: --index never deletes a folder or file ja-bert did not write; a rebuild replaces its own index', () => {
  const cache = join(dir, 'ix.jabc');
  const foreign = join(dir, 'mine');
  mkdirSync(foreign);
  writeFileSync(join(foreign, 'sentinel.txt'), 'keep me');
  refused(run(['cache', 'build', '--model', pairModel, '--texts', t.texts, '--cache', cache, '--index', `lancedb://${foreign}`]), /not a ja-bert index/, 'index = a foreign folder');
  assert.equal(readFileSync(join(foreign, 'sentinel.txt'), 'utf8'), 'keep me');
  writeFileSync(join(dir, 'note.txt'), 'keep me too');
  refused(run(['cache', 'build', '--model', pairModel, '--texts', t.texts, '--cache', cache, '--index', 'lancedb://.'], { cwd: dir }), /index/, 'index = the working folder');
  refused(run(['cache', 'build', '--model', pairModel, '--texts', t.texts, '--cache', cache, '--index', `lancedb://${join(dir, 'note.txt')}`]), /not a folder/, 'index = a file');
  assert.equal(readFileSync(join(dir, 'note.txt'), 'utf8'), 'keep me too');
  assert.ok(readdirSync(dir).includes('pairs.json'));
  assert.ok(!existsSync(cache), 'nothing written before the refusal');
  // its own index: built, then rebuilt in place
  const ix = join(dir, 'ix');
  for (let k = 0; k < 2; k++) {
    const r = run(['cache', 'build', '--model', pairModel, '--texts', t.texts, '--cache', cache, '--index', `lancedb://${ix}`, '--dtype', 'f32']);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(join(ix, '.ja-bert-index')));
  }
});

test('data: --cache is never the model\'s weights, the texts, or a file that is not a cache (unless --overwrite)', () => {
  const weights = join(pairModel, 'model.safetensors'), before = readFileSync(weights);
  refused(run(['cache', 'build', '--model', pairModel, '--texts', t.texts, '--cache', weights]), /model folder|inside the model/, '--cache = the weights');
  assert.ok(readFileSync(weights).equals(before));
  const texts = readFileSync(t.texts);
  refused(run(['cache', 'build', '--model', pairModel, '--texts', t.texts, '--cache', t.texts]), /is the input file \(--texts\)/, '--cache = --texts');
  assert.ok(readFileSync(t.texts).equals(texts));
  const other = join(dir, 'other.bin');
  writeFileSync(other, 'user data');
  refused(run(['cache', 'build', '--model', pairModel, '--texts', t.texts, '--cache', other]), /not a ja-bert cache/, '--cache = a user file');
  assert.equal(readFileSync(other, 'utf8'), 'user data');
  assert.equal(run(['cache', 'build', '--model', pairModel, '--texts', t.texts, '--cache', other, '--overwrite', '--dtype', 'f32']).status, 0);
  assert.equal(readFileSync(other).subarray(0, 8).toString('latin1'), 'JABCACHE');
});

test('data: predict/encode/tokenize outputs never replace their input or the model\'s files; stdout redirections append', () => {
  const inBytes = readFileSync(input), cfg = readFileSync(join(pairModel, 'config.json'));
  refused(run(['predict', '--model', pairModel, '--input', input, '--output', input]), /is the input file/, 'predict --output = --input');
  refused(run(['predict', '--model', pairModel, '--input', input, '--output', join(pairModel, 'config.json')]), /model folder/, 'predict --output MODEL/config.json');
  refused(run(['encode', '--model', pairModel, '--input', input, '--output', join(pairModel, 'spiece.model')]), /model folder/, 'encode --output MODEL/spiece.model');
  refused(run(['tokenize', '--tokenizer', pairModel, '--input', input, '--output', input]), /is the input file/, 'tokenize --output = --input');
  // a symbolic link to the input is the input
  const link = join(dir, 'link.jsonl');
  symlinkSync(input, link);
  refused(run(['predict', '--model', pairModel, '--input', input, '--output', link]), /is the input file/, 'predict --output = a link to --input');
  assert.ok(readFileSync(input).equals(inBytes));
  assert.ok(readFileSync(join(pairModel, 'config.json')).equals(cfg));
  // --output /dev/stdout >> log appends to the log, never replaces it
  const log = join(dir, 'log.txt');
  writeFileSync(log, 'SENTINEL\n');
  const sh = spawnSync('bash', ['-c', `"${join(ROOT, 'bin/ja-bert')}" predict --model "${pairModel}" --input "${input}" --output /dev/stdout >> "${log}"`], { encoding: 'utf8' });
  assert.equal(sh.status, 0, sh.stderr);
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  assert.equal(lines[0], 'SENTINEL');
  assert.equal(lines.length, 3);
});

test('data: run folders: --output may not be the model or hold an input; --overwrite never removes files ja-bert did not write', () => {
  const tok = readdirSync(t.model).sort();
  refused(run(['finetune', '--model', t.model, '--output', t.model, '--overwrite', '--texts', t.texts, '--pairs', t.pairs, '--max-steps', '1']), /model folder/, 'finetune --output = --model');
  assert.deepEqual(readdirSync(t.model).sort(), tok);
  refused(run(['finetune', '--model', t.model, '--output', dir, '--texts', t.texts, '--pairs', t.pairs, '--max-steps', '1']), /holds the input|model folder/, 'finetune --output = a folder holding the inputs');
  const out = join(dir, 'userfolder');
  mkdirSync(out);
  writeFileSync(join(out, 'thesis.tex'), 'keep');
  refused(run(['finetune', '--model', t.model, '--output', out, '--overwrite', '--texts', t.texts, '--pairs', t.pairs, '--max-steps', '1']), /did not write/, 'finetune --overwrite on a user folder');
  refused(run(['export', '--model', t.model, '--output', out, '--overwrite']), /does not write/, 'export --overwrite on a user folder');
  assert.equal(readFileSync(join(out, 'thesis.tex'), 'utf8'), 'keep');
  // a model folder of the user's (no run.json): its files are named like a run's outputs, and are still not ja-bert's
  const hf = join(dir, 'hf-model');
  mkdirSync(join(hf, 'generator'), { recursive: true });
  writeFileSync(join(hf, 'config.json'), '{}');
  writeFileSync(join(hf, 'generator', 'config.json'), '{}');
  refused(run(['finetune', '--model', t.model, '--output', hf, '--overwrite', '--texts', t.texts, '--pairs', t.pairs, '--max-steps', '1']), /did not write/, 'finetune --overwrite on a model folder');
  refused(run(['pretrain', '--corpus', t.texts, '--tokenizer', join(t.model, 'spiece.model'), '--output', hf, '--overwrite', '--objective', 'electra']), /did not write/, 'pretrain --overwrite on a model folder');
  assert.deepEqual([readdirSync(hf).sort(), readdirSync(join(hf, 'generator'))], [['config.json', 'generator'], ['config.json']]);
});

test('broken runs: a diverging run stops in one line and writes no finished result; out-of-range labels are refused', () => {
  const out = join(dir, 'nan');
  refused(run(['finetune', '--model', t.model, '--output', out, '--texts', t.texts, '--pairs', t.pairs, '--max-steps', '4', '--batch-size', '8', '--max-seq-length', '32',
    '--learning-rate', '1e30', '--dtype', 'f32', '--max-grad-norm', '0']), /diverged/, 'finetune --learning-rate 1e30');
  assert.ok(!existsSync(join(out, 'eval_results.txt')), 'no finished marker');
  const reg = join(dir, 'reg.jsonl');
  writeFileSync(reg, '{"text": "a", "label": 1e308}\n{"text": "b", "label": 0.5}\n{"text": "c", "label": 0.1}\n');
  refused(run(['finetune', '--model', t.model, '--output', join(dir, 'reg'), '--train', reg, '--max-steps', '1']), /outside ±1000000000/, 'a regression label of 1e308');
  refused(run(['finetune', '--model', t.model, '--output', join(dir, 'both'), '--train', reg, '--texts', t.texts, '--pairs', t.pairs]), /both given/, '--train with --texts/--pairs');
});

test('broken runs: pretraining reads its corpus strictly and refuses one too small to hold anything out', () => {
  const spm = join(t.model, 'spiece.model');
  const cases: Array<[string, Buffer, RegExp]> = [
    ['one.txt', Buffer.from('ひとつだけの文です。\n'), /too small to hold anything out/],
    ['line.txt', Buffer.from('あ'.repeat(300_000)), /too small/],
    ['sjis.txt', Buffer.from([0x82, 0xa0, 0x82, 0xa2, 0x0a]), /not valid UTF-8.*Shift_JIS/],
    ['nul.txt', Buffer.from('文です。\0\n'), /NUL/],
    ['random.bin', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff)), /not valid UTF-8|NUL/],
  ];
  for (const [name, bytes, re] of cases) {
    writeFileSync(join(dir, name), bytes);
    refused(run(['pretrain', '--corpus', join(dir, name), '--tokenizer', spm, '--output', join(dir, `pt-${name}`), '--layers', '1', '--hidden', '32', '--heads', '2', '--max-steps', '2']), re, `pretrain on ${name}`);
    assert.ok(!existsSync(join(dir, `pt-${name}`, 'pretrain_report.json')));
  }
});

test('typed validation: pre-tokenized ids are checked before narrowing; hostile pickles are refused', () => {
  const f = join(dir, 'ids.jsonl');
  for (const ids of [[2 ** 32 + 100], [2 ** 53], [-1], [1e9]]) {
    writeFileSync(f, JSON.stringify({ input_ids: ids }) + '\n');
    refused(run(['encode', '--model', t.model, '--input', f, '--output', join(dir, 'ids.out')]), /outside the vocabulary/, `input_ids ${ids}`);
  }
  writeFileSync(f, JSON.stringify({ input_ids: [5, 6], token_type_ids: [0, 7] }) + '\n');
  refused(run(['encode', '--model', t.model, '--input', f, '--output', join(dir, 'ids.out')]), /type_vocab_size/, 'token type 7');
  const fx = new URL('../../test/fixtures/hostile-torchbin/', import.meta.url).pathname;
  assert.throws(() => readTorchBin(join(fx, 'negative-offset.bin')), /storage offset -4 is not a non-negative integer/);
  assert.throws(() => readTorchBin(join(fx, 'negative-stride.bin')), /stride/);
  const rss = process.memoryUsage().rss;
  assert.throws(() => readTorchBin(join(fx, 'bomb.bin')), /declares 200000000 bytes, more than the \d+ it may hold/);
  assert.ok(process.memoryUsage().rss - rss < 64 << 20, 'the bomb was not inflated');
});

test('typed validation: cache values are bounded (no NaN ranking); embeddings beyond the range are refused', () => {
  const emb = join(dir, 'emb.jsonl'), D = 32;
  const row = (x: number) => Array.from({ length: D }, () => x);
  writeFileSync(emb, JSON.stringify({ id: 'a', text: 'a', last_hidden_state: [row(1e39), row(1)], pooler_output: row(1) }) + '\n');
  refused(run(['cache', 'build', '--model', pairModel, '--from-embeddings', emb, '--cache', join(dir, 'emb.jabc')]), /within ±1000000/, '--from-embeddings 1e39');
  // a cache whose values are 3e38 (a valid checksum) is refused when read, not ranked as NaN
  const good = join(dir, 'good.jabc');
  encodeCache({ model: pairModel, texts: t.texts, cache: good, kernels: K, dtype: 'f32' });
  const c = readCache(good);
  const e = c.header.entries[0]!;
  const recs = c.header.entries.map((x) => ({ id: x.id, text: x.text, hash: x.hash, rows: x.rows, data: new Float32Array(x.rows * c.header.width).fill(3e38) }));
  const { entries: _e, floats: _f, ...header } = c.header;
  closeCache(c);
  writeCacheFile(join(dir, 'huge.jabc'), header, recs);
  refused(run(['rank', '--model', pairModel, '--cache', join(dir, 'huge.jabc'), '--id', e.id]), /out-of-range value/, 'a cache of 3e38');
});

test('one line, no hang: directories, FIFOs and devices where files belong; a huge --head-dim; thousands of classes', () => {
  const m = join(dir, 'devmodel');
  mkdirSync(m);
  writeFileSync(join(m, 'config.json'), readFileSync(join(t.model, 'config.json')));
  writeFileSync(join(m, 'spiece.model'), readFileSync(join(t.model, 'spiece.model')));
  for (const [what, make] of [
    ['a folder', () => mkdirSync(join(m, 'model.safetensors'))],
    ['/dev/zero', () => symlinkSync('/dev/zero', join(m, 'model.safetensors'))],
    ['a FIFO', () => execFileSync('mkfifo', [join(m, 'model.safetensors')])],
  ] as Array<[string, () => void]>) {
    rmSync(join(m, 'model.safetensors'), { recursive: true, force: true });
    make();
    refused(run(['encode', '--model', m, '--input', input, '--output', join(dir, 'o.jsonl')], { timeout: 20_000 }), /model\.safetensors: is /, `weights = ${what}`);
  }
  rmSync(join(m, 'model.safetensors'), { recursive: true, force: true });
  writeFileSync(join(m, 'model.safetensors'), readFileSync(join(t.model, 'model.safetensors')));
  rmSync(join(m, 'spiece.model'));
  symlinkSync('/dev/urandom', join(m, 'spiece.model'));
  refused(run(['encode', '--model', m, '--input', input, '--output', join(dir, 'o.jsonl')], { timeout: 20_000 }), /spiece\.model: is a character device/, 'spiece.model = /dev/urandom');
  refused(run(['predict', '--model', pairModel, '--input', '/dev/zero', '--output', join(dir, 'o.jsonl')], { timeout: 20_000 }), /character device/, 'predict --input /dev/zero');
  refused(run(['cache', 'build', '--model', pairModel, '--texts', t.texts, '--cache', dir]), /not a file|holds the input/, '--cache = a folder');
  refused(run(['finetune', '--model', t.model, '--output', join(dir, 'hd'), '--texts', t.texts, '--pairs', t.pairs, '--head', 'dot', '--head-dim', '100000000']), /--head-dim must be an integer from 0 to 65536/, '--head-dim 1e8');
  // a config.json that is a link to a secret: the error never shows its bytes
  const s = join(dir, 'secretmodel');
  mkdirSync(s);
  writeFileSync(join(dir, 'secret.txt'), 'root:$6$SECRETHASH:19000:0:99999:7:::\n');
  symlinkSync(join(dir, 'secret.txt'), join(s, 'config.json'));
  writeFileSync(join(s, 'model.safetensors'), readFileSync(join(t.model, 'model.safetensors')));
  const r = run(['encode', '--model', s, '--input', input, '--output', join(dir, 'o.jsonl')]);
  refused(r, /not valid JSON/, 'config.json -> a secret');
  assert.doesNotMatch(r.stderr, /SECRETHASH|root:/);
  // thousands of classes: the reports' text has no argument-spread limit
  const C = 5000, cm = Array.from({ length: C }, (_, i) => Array.from({ length: C }, (_, j) => (i === j ? i : 0)));
  assert.ok(confusionMatrixText(cm).length > C);
});

test('the lock first: a folder another live run holds is refused before anything in it is read', () => {
  const out = join(dir, 'locked');
  mkdirSync(out);
  const sleeper = spawnSync('bash', ['-c', 'sleep 30 >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' });
  const pid = Number(sleeper.stdout.trim());
  try {
    writeFileSync(join(out, '.ja-bert.lock'), `${pid}\n`);
    writeFileSync(join(out, 'run.json'), '{}\n');
    mkdirSync(join(out, 'checkpoint-1'));
    refused(run(['finetune', '--model', t.model, '--output', out, '--texts', t.texts, '--pairs', t.pairs, '--max-steps', '1']), new RegExp(`another ja-bert run \\(pid ${pid}\\)`), 'a locked folder');
    assert.ok(existsSync(join(out, 'checkpoint-1')));
  } finally { process.kill(pid); }
});

test('serve: busy port and bad host in one line; JSON types without coercion; charset and UTF-8 as the CLI', async (t2) => {
  const s = await startServer({ model: pairModel, port: 0, dtype: 'f32' });
  t2.after(() => s.close());
  const port = new URL(s.url).port;
  refused(run(['serve', '--model', pairModel, '--port', port], { timeout: 30_000 }), /cannot listen \(EADDRINUSE/, 'serve on a busy port');
  refused(run(['serve', '--model', pairModel, '--host', 'no-such-host.invalid', '--port', '0'], { timeout: 30_000 }), /cannot listen/, 'serve --host unresolvable');
  const post = (body: string | Buffer, type = 'application/json') => fetch(`${s.url}/v1/classify`, { method: 'POST', headers: { 'content-type': type }, body: typeof body === 'string' ? body : new Uint8Array(body) });
  for (const v of [true, 1, null, 1.5, [], {}, ['a']]) {
    const r = await post(JSON.stringify({ inputs: [{ text: v, text_b: 'b' }] }));
    assert.equal(r.status, 400, `text ${JSON.stringify(v)}`);
  }
  let r = await post(Buffer.from('{"inputs":[{"text":"\x82\xa0","text_b":"b"}]}', 'latin1'), 'application/json; charset=Shift_JIS');
  assert.equal(r.status, 415);
  r = await post(Buffer.concat([Buffer.from('{"inputs":[{"text":"'), Buffer.from([0xff, 0xfe]), Buffer.from('","text_b":"b"}]}')]));
  assert.equal(r.status, 400);
  assert.match(((await r.json()) as { error: { message: string } }).error.message, /not valid UTF-8/);
  // property: random JSON values in every field are a 4xx, never a 500
  const rng = new Rng(25);
  const values = [true, false, 0, -1, 1e308, 'x', '', null, [], {}, [1], { text: 1 }];
  for (let i = 0; i < N; i++) {
    const pick = () => values[Math.floor(rng.next() * values.length)];
    const body = rng.next() < 0.5 ? { inputs: [{ text: pick(), text_b: pick() }] } : { inputs: pick(), extra: pick() };
    const x = await post(JSON.stringify(body));
    assert.ok(x.status >= 400 && x.status < 500 || x.status === 200, `${JSON.stringify(body)} -> ${x.status}`);
  }
});

test('queue without Redis: one line after a bounded retry, for the build and the worker', () => {
  const t0 = Date.now();
  refused(run(['cache', 'build', '--model', pairModel, '--texts', t.texts, '--cache', join(dir, 'q.jabc'), '--queue', 'redis://127.0.0.1:1'], { timeout: 40_000 }), /cannot reach Redis/, 'cache build --queue, no Redis');
  refused(run(['worker', '--queue', 'redis://127.0.0.1:1'], { timeout: 40_000 }), /cannot reach Redis/, 'worker, no Redis');
  assert.ok(Date.now() - t0 < 40_000);
});

test('the library validates as the CLI does and throws only JaBertErrors', async () => {
  const isJa = (e: unknown) => e instanceof JaBertError;
  await assert.rejects(Classifier.load(pairModel, { dtype: 'f16' as never }), isJa);
  await assert.rejects(Classifier.load(pairModel, { maxSeqLength: -1 }), isJa);
  const c = await Classifier.load(pairModel, { dtype: 'f32' });
  for (const batchSize of [0, NaN, 1.5, -3, 1e9]) await assert.rejects(c.classify([{ text: 'a', textB: 'b' }], { batchSize }), isJa, `batchSize ${batchSize}`);
  await assert.rejects(c.classify([{ text: 1 as never }]), isJa);
  const enc = await c.encoder();
  await assert.rejects(enc.encode([1 as never]), isJa);
  await enc.close();
  await c.close();
  await assert.rejects(c.classify(['a']), isJa);
  await assert.rejects(Encoder.load(t.model, { dtype: 'fp16' as never }), isJa);
  await assert.rejects(PairScorer.load(pairModel, {} as never), isJa);
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(apiBuildCache({ model: pairModel, texts: t.texts, cache: join(dir, 'ab.jabc') }, { signal: ac.signal }), isJa);
  assert.ok(!existsSync(join(dir, 'ab.jabc')));
});

test('a cache header naming an index outside its folder, a missing or damaged index: one line', async () => {
  const c = readCache(join(dir, 'ix.jabc'));
  const recs = c.header.entries.map((x) => ({ id: x.id, text: x.text, hash: x.hash, rows: x.rows, data: new Float32Array(0) }));
  void recs;
  closeCache(c);
  const { entries, floats: _f, ...header } = c.header;
  const cc = readCache(join(dir, 'ix.jabc'));
  const { entryValues } = await import('../src/cache/index.js');
  const data = entries.map((e) => ({ id: e.id, text: e.text, hash: e.hash, rows: e.rows, data: entryValues(cc, e) }));
  closeCache(cc);
  writeCacheFile(join(dir, 'evil.jabc'), { ...header, index: { kind: 'lancedb', path: '../../../../etc' } }, data);
  await assert.rejects(RetrieveRanker.load({ model: pairModel, cache: join(dir, 'evil.jabc'), kernels: K, dtype: 'f32' }), /outside the cache's folder/);
  // the index removed, then a file in its place, then a damaged table
  const ixDir = join(dir, 'ix');
  const table = join(ixDir, 'ja_bert_keys.lance');
  const files = readdirSync(table, { recursive: true }).map(String).filter((f) => f.endsWith('.lance') || f.endsWith('.manifest'));
  assert.ok(files.length > 0);
  for (const f of files) writeFileSync(join(table, f), 'damaged');
  refused(run(['rank', '--model', pairModel, '--cache', join(dir, 'ix.jabc'), '--text', 'テスト']), /cannot be (read|searched)/, 'a damaged index');
  rmSync(ixDir, { recursive: true });
  writeFileSync(ixDir, 'a file');
  refused(run(['rank', '--model', pairModel, '--cache', join(dir, 'ix.jabc'), '--text', 'テスト']), /not a ja-bert index/, 'an index that is a file');
  rmSync(ixDir);
  refused(run(['rank', '--model', pairModel, '--cache', join(dir, 'ix.jabc'), '--text', 'テスト']), /is missing/, 'a missing index');
});

test('property: every output aliasing an input, a model file or an ancestor of either is refused, and nothing changes', () => {
  const rng = new Rng(2525);
  const snapshot = () => [input, t.texts, join(t.model, 'config.json'), join(t.model, 'model.safetensors'), join(t.model, 'spiece.model')].map((f) => readFileSync(f).toString('base64')).join();
  const before = snapshot();
  const outputs = [input, join(t.model, 'config.json'), join(t.model, 'model.safetensors'), t.model, dir, join(t.model, '..'), `${dir}/./in.jsonl`, join(dir, 'sub', '..', 'in.jsonl')];
  const commands = [
    (o: string) => ['predict', '--model', t.model, '--input', input, '--output', o],
    (o: string) => ['encode', '--model', t.model, '--input', input, '--output', o],
    (o: string) => ['tokenize', '--tokenizer', t.model, '--input', input, '--output', o],
    (o: string) => ['cache', 'build', '--model', pairModel, '--texts', t.texts, '--cache', o],
    (o: string) => ['finetune', '--model', t.model, '--output', o, '--overwrite', '--texts', t.texts, '--pairs', t.pairs, '--max-steps', '1'],
    (o: string) => ['export', '--model', t.model, '--output', o, '--overwrite'],
  ];
  for (let i = 0; i < Math.min(N, outputs.length * commands.length); i++) {
    const cmd = commands[Math.floor(rng.next() * commands.length)]!, o = outputs[Math.floor(rng.next() * outputs.length)]!;
    const r = run(cmd(o));
    assert.notEqual(r.status, 0, `${cmd(o).join(' ')} was not refused`);
    assert.doesNotMatch(r.stderr, /internal error/);
  }
  assert.equal(snapshot(), before);
});
