// ja-bert serve: the four endpoints answer as predict/encode/rank do, bad
// requests mixed with good ones under concurrency get their 4xx and never
// disturb the others, batching really batches, SIGTERM drains and exits 0.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCache, closeEngine, finetune } from '../src/index.js';
import { startServer, type Server } from '../src/serve/server.js';
import { tinySetup } from './helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const cli = (...args: string[]) => spawnSync(join(ROOT, 'bin/ja-bert'), args, { encoding: 'utf8' });
let dir = '', dot = '', cross = '', cache = '';
let body: Record<string, string> = {};
let slice: Array<[string, string, number]> = [];
let server: Server;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jabert-serve-'));
  const tiny = tinySetup(dir, { seed: 5, from: 100, to: 160 });
  ({ slice, body } = tiny);
  const { model, pairs, texts } = tiny;
  dot = join(dir, 'dot');
  cross = join(dir, 'cross');
  const common = { model, texts, pairs, maxSteps: 3, batchSize: 8, maxSeqLength: 32, learningRate: 1e-3, dtype: 'f32' as const };
  await finetune({ ...common, output: dot, head: 'dot' });
  await finetune({ ...common, output: cross });
  cache = join(dir, 'dot.jabc');
  await buildCache({ model: dot, texts, cache, dtype: 'f32' });
  server = await startServer({ model: dot, cache, port: 0, dtype: 'f32', bodyLimit: 64 * 1024, maxInputs: 16, maxTextLength: 2000, maxWaitMs: 5 });
});
after(async () => {
  await server?.close();
  await closeEngine();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const post = (path: string, payload: unknown, raw = false) => fetch(server.url + path, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: raw ? (payload as string) : JSON.stringify(payload),
});
const trimmed = (t: string) => t.slice(0, 1500);
const pairs = () => slice.slice(0, 16).map(([a, b]) => ({ text: trimmed(body[a]!), text_b: trimmed(body[b]!) }));

function predictCli(m: string, inputs: Array<{ text: string; text_b?: string }>): Array<Record<string, number>> {
  const inp = join(dir, `in-${Math.random()}.jsonl`), out = join(dir, `out-${Math.random()}.jsonl`);
  writeFileSync(inp, inputs.map((x) => JSON.stringify(x)).join('\n') + '\n');
  const r = cli('predict', '--model', m, '--input', inp, '--output', out, '--dtype', 'f32');
  assert.equal(r.status, 0, r.stderr);
  return readFileSync(out, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { probabilities: Record<string, number> }).probabilities);
}

test('classify, encode, rank, healthz and metrics answer; classify equals predict', async () => {
  const h = await (await fetch(server.url + '/healthz')).json() as Record<string, unknown>;
  assert.equal(h.status, 'ok');
  assert.equal(h.head, 'dot');
  const inputs = pairs();
  const res = await post('/v1/classify', { inputs });
  assert.equal(res.status, 200);
  const got = (await res.json() as { results: Array<{ label: string; score: number; probabilities: Record<string, number> }> }).results;
  const want = predictCli(dot, inputs);
  got.forEach((g, i) => { for (const k of ['0', '1']) assert.ok(Math.abs(g.probabilities[k]! - want[i]![k]!) <= 1.5e-6, `input ${i}`); });
  const e = await post('/v1/encode', { inputs: ['日本語の文です', 'もう一つ'], pooling: 'cls', normalize: true });
  assert.equal(e.status, 200);
  const emb = (await e.json() as { embeddings: number[][] }).embeddings;
  assert.equal(emb.length, 2);
  assert.equal(emb[0]!.length, 32);
  assert.ok(Math.abs(Math.hypot(...emb[0]!) - 1) < 1e-5);
  const id = Object.keys(body)[0]!;
  const rk = await post('/v1/rank', { id, top: 3 });
  assert.equal(rk.status, 200);
  const ranked = await rk.json() as { results: Array<{ id: string; score: number }>; candidates: number };
  const c = cli('rank', '--model', dot, '--cache', cache, '--id', id, '--top', '3', '--dtype', 'f32');
  assert.deepEqual(ranked.results.map((x) => x.id), c.stdout.trim().split('\n').map((l) => /^\s*\d+\s+\S+\s+(.+)$/.exec(l)![1]));
  assert.equal(ranked.candidates, Object.keys(body).length - 1);
  const m = await (await fetch(server.url + '/metrics')).text();
  for (const name of ['ja_bert_requests_total', 'ja_bert_request_duration_seconds_bucket', 'ja_bert_batch_size_bucket', 'ja_bert_queue_depth']) assert.match(m, new RegExp(name));
  assert.match(m, /ja_bert_requests_total\{route="\/v1\/classify",status="200"\} \d+/);
});

test('malformed and oversized requests interleaved with valid ones under concurrency: each gets its answer, the server lives', async () => {
  const inputs = pairs();
  const want = (await (await post('/v1/classify', { inputs })).json() as { results: Array<{ probabilities: Record<string, number> }> }).results;
  const big = 'あ'.repeat(40_000); // 120 KB of UTF-8: over the 64 KiB body limit
  const cases: Array<[() => Promise<Response>, number, number | null]> = [];
  for (let i = 0; i < 48; i++) {
    const k = i % 16;
    switch (i % 8) {
      case 0: case 3: case 6: cases.push([() => post('/v1/classify', { inputs: [inputs[k]] }), 200, k]); break;
      case 1: cases.push([() => post('/v1/classify', '{"inputs": [', true), 400, null]); break;
      case 2: cases.push([() => post('/v1/classify', { inputs: [{ text: big, text_b: 'x' }] }), 413, null]); break;
      case 4: cases.push([() => post('/v1/classify', { inputs: [{ text: 'a' }] }), 400, null]); break; // a pair model needs text_b
      case 5: cases.push([() => post('/v1/classify', { inputs: 'not a list' }), 400, null]); break;
      case 7: cases.push([() => fetch(server.url + '/v2/nothing'), 404, null]); break;
    }
  }
  cases.push([() => post('/v1/classify', { inputs: Array.from({ length: 17 }, () => inputs[0]) }), 400, null]); // over maxInputs
  cases.push([() => post('/v1/classify', { inputs: [{ text: 'x'.repeat(2001), text_b: 'y' }] }), 400, null]); // over maxTextLength
  cases.push([() => post('/v1/classify', { inputs: [{ text: '   ', text_b: 'y' }] }), 400, null]); // blank after trimming
  cases.push([() => post('/v1/encode', { inputs: ['a'], pooling: 'max' }), 400, null]);
  cases.push([() => fetch(server.url + '/v1/classify', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' }), 415, null]);
  const res = await Promise.all(cases.map(([f]) => f()));
  for (let i = 0; i < cases.length; i++) {
    const r = res[i]!, [, status, k] = cases[i]!;
    const j = await r.json() as { results?: Array<{ probabilities: Record<string, number> }>; error?: { code: string; message: string } };
    assert.equal(r.status, status, `case ${i}: ${JSON.stringify(j)}`);
    if (k === null) {
      assert.equal(typeof j.error?.message, 'string', `case ${i} has an error body`);
      // one code style on ja-bert's routes, whoever refused (the route, the model, fastify): bad_request, unsupported_media_type, not_found
      assert.equal(j.error!.code, { 400: 'bad_request', 404: 'not_found', 413: 'payload_too_large', 415: 'unsupported_media_type' }[status], `case ${i}: ${JSON.stringify(j)}`);
      continue;
    }
    for (const l of ['0', '1']) assert.ok(Math.abs(j.results![0]!.probabilities[l]! - want[k]!.probabilities[l]!) < 1e-6, `case ${i}: the same probabilities alone as in a batch`);
  }
  // and it still answers
  assert.equal((await fetch(server.url + '/healthz')).status, 200);
  // concurrent single-input requests were batched together
  const m = await (await fetch(server.url + '/metrics')).text();
  const le1 = Number(/ja_bert_batch_size_bucket\{le="1",route="classify"\} (\d+)/.exec(m)![1]);
  const count = Number(/ja_bert_batch_size_count\{route="classify"\} (\d+)/.exec(m)![1]);
  assert.ok(count > le1, `some batches held more than one input (${count} batches, ${le1} of size 1)`);
});

test('rank without a cache is 409; a cross-encoder serves single texts', async () => {
  const s = await startServer({ model: cross, port: 0, dtype: 'f32' });
  try {
    const r = await fetch(s.url + '/v1/rank', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'x' }) });
    assert.equal(r.status, 409);
    assert.equal((await r.json() as { error: { code: string } }).error.code, 'no_cache');
    const c = await fetch(s.url + '/v1/classify', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: ['テキスト一つ'] }) });
    assert.equal(c.status, 200);
  } finally {
    await s.close();
  }
});

test("TEI's routes and OpenAI's /v1/embeddings answer as the anchors do, with ja-bert's numbers; the official openai client works unchanged", async () => {
  const [q, a, b, c] = slice.slice(0, 4).map(([x]) => body[x]!.slice(0, 10)); // within the pair head's 16 tokens a side
  // /embed (TEI's request from its docs): normalised by default, and otherwise the same vectors as /v1/encode's mean pooling
  let res = await post('/embed', { inputs: 'What is Deep Learning?' });
  assert.equal(res.status, 200);
  for (const h of ['x-compute-type', 'x-compute-time', 'x-compute-characters', 'x-compute-tokens', 'x-total-time', 'x-tokenization-time', 'x-queue-time', 'x-inference-time']) assert.ok(res.headers.get(h) !== null, h);
  const one = await res.json() as number[][];
  assert.equal(one.length, 1);
  assert.ok(Math.abs(Math.hypot(...one[0]!) - 1) < 1e-5);
  res = await post('/embed', { inputs: [a, b], normalize: false });
  const tokens = Number(res.headers.get('x-compute-tokens'));
  const raw = await res.json() as number[][];
  const mine = await (await post('/v1/encode', { inputs: [a, b], pooling: 'mean', normalize: false })).json() as { embeddings: number[][] };
  assert.deepEqual(raw, mine.embeddings);
  // OpenAI's client (base64 by default) gets the same unit vectors, and usage counts the tokens
  const { default: OpenAI } = await import('openai');
  const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const e = await openai.embeddings.create({ model: 'ja-bert', input: [a, b] });
  assert.equal(e.object, 'list');
  assert.equal(e.model, 'ja-bert');
  assert.deepEqual(e.data.map((d) => d.index), [0, 1]);
  const unit = raw.map((v) => { const n = Math.hypot(...v); return v.map((x) => x / n); });
  e.data.forEach((d, i) => d.embedding.forEach((x, k) => assert.ok(Math.abs(x - unit[i]![k]!) < 1e-5, `embedding ${i}[${k}]`)));
  assert.deepEqual(e.usage, { prompt_tokens: tokens, total_tokens: tokens });
  const floats = await (await post('/v1/embeddings', { input: a, encoding_format: 'float' })).json() as { data: Array<{ object: string; embedding: number[] }> };
  assert.equal(floats.data[0]!.object, 'embedding');
  assert.ok(floats.data[0]!.embedding.every((x, k) => Math.abs(x - unit[0]![k]!) < 1e-5));
  await assert.rejects(openai.embeddings.create({ model: 'ja-bert', input: [a], encoding_format: 'nope' as 'float' }), (err: { status?: number }) => err.status === 422);
  // /rerank: (query, text) pairs scored by the pair head, no cache involved: the positive label's probability, best first
  res = await post('/rerank', { query: q, texts: [a, b, c], return_text: true });
  assert.equal(res.status, 200);
  const ranks = await res.json() as Array<{ index: number; score: number; text: string }>;
  const probs = (await (await post('/v1/classify', { inputs: [a, b, c].map((t) => ({ text: q, text_b: t })) })).json() as { results: Array<{ probabilities: Record<string, number> }> }).results;
  const labels = Object.keys(probs[0]!.probabilities);
  const pos = labels.includes('1') ? '1' : labels[labels.length - 1]!;
  assert.deepEqual(ranks.map((r) => r.index).sort(), [0, 1, 2]);
  for (let i = 1; i < 3; i++) assert.ok(ranks[i - 1]!.score >= ranks[i]!.score, 'best first');
  for (const r of ranks) { assert.ok(Math.abs(r.score - probs[r.index]!.probabilities[pos]!) < 1e-6); assert.equal(r.text, [a, b, c][r.index]); }
  const logOdds = await (await post('/rerank', { query: q, texts: [a], raw_scores: true })).json() as Array<{ score: number; text?: string }>;
  const p0 = probs[0]!.probabilities[pos]!;
  assert.ok(Math.abs(logOdds[0]!.score - Math.log(p0 / (1 - p0))) < 1e-4);
  assert.equal(logOdds[0]!.text, undefined);
  // /predict: a pair → every label, best first; a batch → one list per input; log-probabilities with raw_scores
  const single = await (await post('/predict', { inputs: [q, a] })).json() as Array<{ label: string; score: number }>;
  assert.deepEqual(single.map((x) => x.label).sort(), labels.slice().sort());
  assert.ok(single[0]!.score >= single[1]!.score);
  for (const x of single) assert.ok(Math.abs(x.score - probs[0]!.probabilities[x.label]!) < 1e-6);
  const many = await (await post('/predict', { inputs: [[q, a], [q, b]], raw_scores: true })).json() as Array<Array<{ label: string; score: number }>>;
  assert.equal(many.length, 2);
  for (const x of many[1]!) assert.ok(Math.abs(x.score - Math.log(probs[1]!.probabilities[x.label]!)) < 1e-5);
  // /similarity: cosines of the normalised embeddings
  const sim = await (await post('/similarity', { inputs: { source_sentence: a, sentences: [a, b] } })).json() as number[];
  assert.ok(Math.abs(sim[0]! - 1) < 1e-5);
  assert.ok(Math.abs(sim[1]! - unit[0]!.reduce((s, x, k) => s + x * unit[1]![k]!, 0)) < 1e-5);
  // /info and /health
  const info = await (await fetch(`${server.url}/info`)).json() as { model_id: string; model_type: { reranker?: { id2label: Record<string, string> } }; max_input_length: number; max_client_batch_size: number; version: string };
  assert.equal(info.model_id, 'dot');
  assert.deepEqual(Object.values(info.model_type.reranker!.id2label).sort(), labels.slice().sort());
  assert.equal(info.max_client_batch_size, 16);
  assert.match(info.version, /^\d+\.\d+\.\d+$/);
  assert.equal((await fetch(`${server.url}/health`)).status, 200);
  // TEI's errors: {error, error_type} and its status codes
  const long = (body[slice[0]![0]]! + body[slice[1]![0]]!).repeat(10).slice(0, 1900);
  const cases: Array<[string, unknown, number, string]> = [
    ['/embed', {}, 422, 'Validation'],
    ['/embed', { inputs: Array.from({ length: 17 }, () => a) }, 413, 'Validation'],
    ['/embed', { inputs: long }, 413, 'Validation'],
    ['/embed', { inputs: a, bogus: 1 }, 422, 'Validation'],
    ['/predict', { inputs: q }, 422, 'Validation'],
    ['/rerank', { query: q }, 422, 'Validation'],
  ];
  for (const [path, payload, status, type] of cases) {
    const r = await post(path, payload);
    assert.equal(r.status, status, `${path} ${JSON.stringify(payload).slice(0, 60)}`);
    const j = await r.json() as { error: string; error_type: string };
    assert.equal(j.error_type, type);
    assert.equal(typeof j.error, 'string');
  }
  assert.match((await (await post('/embed', { inputs: long })).json() as { error: string }).error, /must have less than \d+ tokens\. Given: \d+/);
  assert.equal((await post('/embed', { inputs: long, truncate: true })).status, 200);
  const bad = await post('/v1/embeddings', { input: a, encoding_format: 'hex' });
  assert.deepEqual(Object.keys(await bad.json() as object).sort(), ['code', 'error_type', 'message']);
  const syntax = await post('/embed', '{"inputs": ', true);
  assert.equal(syntax.status, 400);
  assert.equal((await syntax.json() as { error_type: string }).error_type, 'Validation');
});

test('ja-bert serve: SIGTERM finishes the request in flight, then exits 0', async () => {
  const child = spawn(join(ROOT, 'bin/ja-bert'), ['serve', '--model', cross, '--port', '0', '--dtype', 'f32', '--max-inputs', '3000', '--body-limit', '20000000'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); const m = /listening on (\S+)/.exec(err); if (m) resolve(m[1]!); });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  // a request long enough (3,000 pairs) to still be computing when the signal comes
  const many = Array.from({ length: 3000 }, (_, i) => pairs()[i % 16]!);
  let answeredAt = 0;
  const inflight = fetch(url + '/v1/classify', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: many }) })
    .then((r) => { answeredAt = performance.now(); return r; });
  await new Promise((r) => setTimeout(r, 150));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const killedAt = performance.now();
  child.kill('SIGTERM');
  const r = await inflight;
  assert.ok(answeredAt > killedAt, 'the request was still in flight when SIGTERM came');
  assert.equal(r.status, 200);
  assert.equal((await r.json() as { results: unknown[] }).results.length, 3000);
  assert.equal(await exited, 0, err);
  assert.match(err, /SIGTERM: finishing requests in flight/);
  await assert.rejects(fetch(url + '/healthz'), 'no longer accepting');
});

test('serve refuses bad options in one line', () => {
  const r = cli('serve', '--model', cross, '--port', '70000');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^ja-bert: --port/);
  const h = cli('serve', '--help');
  assert.equal(h.status, 0);
  assert.match(h.stdout, /\/v1\/classify/);
});
