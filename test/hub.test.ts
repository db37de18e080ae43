// Models by hub id (issue 28): --model org/name[@revision] resolves from the local Hugging Face cache, else
// downloads from HF_ENDPOINT into huggingface_hub's layout (refs, blobs by ETag, snapshot links), resumable and
// checked. A local HTTP server speaking the Hub's URL scheme (/{repo}/resolve/{revision}/{file}, its headers, LFS
// redirects, 401, 404, Range) stands in for the Hub: no test touches the network.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Encoder, closeEngine } from '../src/index.js';
import { cachedSnapshot, parseHubId, resolveCachedModel } from '../src/io/hub.js';
import { findModelFiles } from '../src/io/checkpoint.js';
import { tinySetup } from './helpers.js';
import { Bert } from '../src/model/bert.js';
import { makeConfig } from '../src/model/config.js';
import { saveBert } from '../src/model/load.js';
import { nativeKernels } from '../src/core/native.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const sha1 = (b: Buffer | string) => createHash('sha1').update(b).digest('hex');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Repo { commit: string; files: Record<string, Buffer>; lfs: Set<string>; gated?: boolean; corrupt?: string }
let dir = '', model = '', url = '', server: Server;
const repos = new Map<string, Repo>();
const seen: Array<{ method: string; path: string; range?: string }> = [];

function hub(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
  const path = decodeURIComponent((req.url ?? '').split('?')[0]!);
  seen.push({ method: req.method!, path, range: req.headers.range });
  const lfs = /^\/lfs\/([^/]+\/[^/]+)\/([0-9a-f]{64})$/.exec(path);
  const send = (body: Buffer) => {
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m && Number(m[1]) < body.length) {
      res.writeHead(206, { 'content-length': body.length - Number(m[1]), 'content-range': `bytes ${m[1]}-${body.length - 1}/${body.length}` });
      res.end(req.method === 'HEAD' ? undefined : body.subarray(Number(m[1])));
    } else { res.writeHead(200, { 'content-length': body.length }); res.end(req.method === 'HEAD' ? undefined : body); }
  };
  if (lfs) {
    const r = repos.get(lfs[1]!);
    for (const [f, b] of Object.entries(r?.files ?? {})) if (sha256(b) === lfs[2]) return send(r!.corrupt === f ? Buffer.concat([b.subarray(0, b.length - 1), Buffer.from([b[b.length - 1]! ^ 1])]) : b);
    res.writeHead(404); res.end(); return;
  }
  const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
  const repo = m && repos.get(m[1]!);
  if (!m || !repo) { res.writeHead(404, { 'x-error-code': 'RepoNotFound' }); res.end(); return; }
  if (repo.gated && req.headers.authorization !== 'Bearer secret') { res.writeHead(401, { 'x-error-code': 'GatedRepo' }); res.end(); return; }
  if (m[2] !== 'main' && m[2] !== repo.commit) { res.writeHead(404, { 'x-error-code': 'RevisionNotFound' }); res.end(); return; }
  const body = repo.files[m[3]!];
  if (!body) { res.writeHead(404, { 'x-error-code': 'EntryNotFound', 'x-repo-commit': repo.commit }); res.end(); return; }
  if (repo.lfs.has(m[3]!)) {
    // an LFS file: the resolve URL redirects to the content store; the ETag and size ride on the redirect
    res.writeHead(302, { location: `/lfs/${m[1]}/${sha256(body)}`, 'x-repo-commit': repo.commit, 'x-linked-etag': `"${sha256(body)}"`, 'x-linked-size': String(body.length), etag: `"${sha1(body)}"` });
    res.end(); return;
  }
  res.setHeader('x-repo-commit', repo.commit);
  res.setHeader('etag', `"${sha1(body)}"`);
  send(body);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jabert-hub-'));
  ({ model } = tinySetup(dir, { seed: 12, from: 0, to: 10 }));
  const files = Object.fromEntries(readdirSync(model).map((f) => [f, readFileSync(join(model, f))]));
  repos.set('test-org/tiny', { commit: sha1('tiny-1'), files, lfs: new Set(['model.safetensors', 'spiece.model']) });
  repos.set('test-org/gated', { commit: sha1('gated-1'), files, lfs: new Set(['model.safetensors']), gated: true });
  repos.set('test-org/corrupt', { commit: sha1('corrupt-1'), files, lfs: new Set(['model.safetensors']), corrupt: 'model.safetensors' });
  // a sentence-transformers embedding model on XLM-R (as multilingual-e5 is): modules.json, 1_Pooling/config.json, XLM-R's SentencePiece file
  const xlmr = join(dir, 'xlmr');
  mkdirSync(xlmr);
  saveBert(new Bert(makeConfig({ model_type: 'xlm-roberta', vocab_size: 32002, hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 4, intermediate_size: 64,
    max_position_embeddings: 66, type_vocab_size: 1, pad_token_id: 1 }), { kernels: nativeKernels(), seed: 2 }), xlmr);
  repos.set('test-org/e5-tiny', { commit: sha1('e5-1'), lfs: new Set(['model.safetensors']), files: {
    ...Object.fromEntries(readdirSync(xlmr).map((f) => [f, readFileSync(join(xlmr, f))])), 'sentencepiece.bpe.model': files['spiece.model']!,
    'modules.json': Buffer.from(JSON.stringify([{ idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
      { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' }, { idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' }])),
    '1_Pooling/config.json': Buffer.from(JSON.stringify({ word_embedding_dimension: 32, pooling_mode_cls_token: true, pooling_mode_mean_tokens: false })),
  } });
  repos.set('test-org/noweights', { commit: sha1('nw-1'), files: { 'config.json': files['config.json']! }, lfs: new Set() });
  server = createServer(hub);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address() as { port: number };
  url = `http://127.0.0.1:${a.port}`;
});
after(async () => {
  await closeEngine();
  await new Promise((r) => server.close(r));
  if (dir && !process.env.KEEP) rmSync(dir, { recursive: true, force: true });
});

const input = () => { const p = join(dir, 'in.jsonl'); writeFileSync(p, '{"text": "ファイルを一覧表示する"}\n{"text": "ディレクトリを作る"}\n'); return p; };
/** the CLI in a child process, awaited (the stand-in Hub answers from this process, so the test must not block) */
function run(args: string[], env: Record<string, string | undefined>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const e: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const k of ['HF_TOKEN', 'HF_HUB_OFFLINE', 'HF_HUB_CACHE', 'HF_HOME', 'HF_ENDPOINT']) if (!(k in env)) delete e[k];
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete e[k];
  return new Promise((resolve, reject) => {
    const p = spawn(join(ROOT, 'bin/ja-bert'), args, { env: e });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('error', reject);
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

test('--model org/name downloads into the Hugging Face cache layout, then loads from it offline; the library and the loaders take the id too', async () => {
  const hf = join(dir, 'hf1'), env = { HF_HOME: hf, HF_ENDPOINT: url };
  const want = await run(['encode', '--model', model, '--input', input(), '--output', join(dir, 'local.jsonl')], {});
  assert.equal(want.status, 0, want.stderr);
  const r = await run(['encode', '--model', 'test-org/tiny', '--input', input(), '--output', join(dir, 'hub.jsonl')], env);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(join(dir, 'hub.jsonl'), 'utf8'), readFileSync(join(dir, 'local.jsonl'), 'utf8'));
  // huggingface_hub's layout: refs/main names the commit, snapshot files link to blobs named by ETag
  const repo = join(hf, 'hub', 'models--test-org--tiny'), commit = repos.get('test-org/tiny')!.commit;
  assert.equal(readFileSync(join(repo, 'refs', 'main'), 'utf8'), commit);
  const st = repos.get('test-org/tiny')!.files['model.safetensors']!;
  assert.ok(lstatSync(join(repo, 'snapshots', commit, 'model.safetensors')).isSymbolicLink());
  assert.equal(readlinkSync(join(repo, 'snapshots', commit, 'model.safetensors')), join('..', '..', 'blobs', sha256(st)));
  assert.equal(readlinkSync(join(repo, 'snapshots', commit, 'config.json')), join('..', '..', 'blobs', sha1(repos.get('test-org/tiny')!.files['config.json']!)));
  assert.ok(!readdirSync(join(repo, 'blobs')).some((f) => f.endsWith('.incomplete')));
  // the second run reads the cache: no request reaches the Hub, even offline
  const before = seen.length;
  const again = await run(['encode', '--model', 'test-org/tiny', '--input', input(), '--output', join(dir, 'hub2.jsonl')], { ...env, HF_HUB_OFFLINE: '1' });
  assert.equal(again.status, 0, again.stderr);
  assert.equal(seen.length, before);
  assert.equal(readFileSync(join(dir, 'hub2.jsonl'), 'utf8'), readFileSync(join(dir, 'local.jsonl'), 'utf8'));
  // HF_HUB_CACHE wins over HF_HOME; @revision pins a commit
  const pinned = await run(['encode', '--model', `test-org/tiny@${commit}`, '--input', input(), '--output', join(dir, 'hub3.jsonl')], { HF_HUB_CACHE: join(dir, 'hf-cache'), HF_ENDPOINT: url });
  assert.equal(pinned.status, 0, pinned.stderr);
  assert.ok(existsSync(join(dir, 'hf-cache', 'models--test-org--tiny', 'snapshots', commit, 'config.json')));
  assert.ok(!existsSync(join(dir, 'hf-cache', 'models--test-org--tiny', 'refs', 'main')), 'a commit is not a ref');
  // the async library and the synchronous loaders
  const saved = { HF_HOME: process.env.HF_HOME, HF_ENDPOINT: process.env.HF_ENDPOINT };
  process.env.HF_HOME = hf; process.env.HF_ENDPOINT = url;
  try {
    assert.equal(cachedSnapshot('test-org/tiny'), join(repo, 'snapshots', commit));
    assert.equal(findModelFiles('test-org/tiny').dir, join(repo, 'snapshots', commit));
    const enc = await Encoder.load('test-org/tiny', { dtype: 'f32' });
    const local = await Encoder.load(model, { dtype: 'f32' });
    assert.deepEqual(await enc.encode(['ファイル']), await local.encode(['ファイル']));
    await enc.close(); await local.close();
  } finally { Object.assign(process.env, saved); for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; }
  // ids: a local path wins; paths and URLs are not ids
  assert.deepEqual(parseHubId('org/name@v1.0'), { repo: 'org/name', revision: 'v1.0' });
  assert.equal(parseHubId(model), null);
  for (const s of ['../x', './a/b', 'a/b/c', '/abs/path', 'org/..', 'https://x/y']) assert.equal(parseHubId(s), null, s);
  assert.equal(resolveCachedModel(model), model);
});

test('an interrupted download resumes with a Range request; a file whose SHA-256 is not its ETag is removed, never linked', async () => {
  const hf = join(dir, 'hf2'), blobs = join(hf, 'hub', 'models--test-org--tiny', 'blobs');
  const st = repos.get('test-org/tiny')!.files['model.safetensors']!;
  mkdirSync(blobs, { recursive: true });
  writeFileSync(join(blobs, `${sha256(st)}.incomplete`), st.subarray(0, 1000));
  const r = await run(['encode', '--model', 'test-org/tiny', '--input', input(), '--output', join(dir, 'resumed.jsonl')], { HF_HOME: hf, HF_ENDPOINT: url });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(seen.some((s) => s.method === 'GET' && s.path === `/lfs/test-org/tiny/${sha256(st)}` && s.range === 'bytes=1000-'), 'resumed from byte 1000');
  assert.deepEqual(readFileSync(join(blobs, sha256(st))), st);
  const c = await run(['encode', '--model', 'test-org/corrupt', '--input', input(), '--output', join(dir, 'corrupt.jsonl')], { HF_HOME: hf, HF_ENDPOINT: url });
  assert.equal(c.status, 1);
  assert.match(c.stderr, /^ja-bert: test-org\/corrupt\/model\.safetensors: the downloaded file's SHA-256 [0-9a-f]{64} is not its ETag [0-9a-f]{64}; it was removed, run again$/m);
  const repo = join(hf, 'hub', 'models--test-org--corrupt');
  assert.ok(!existsSync(join(repo, 'snapshots', repos.get('test-org/corrupt')!.commit, 'model.safetensors')));
  assert.ok(!readdirSync(join(repo, 'blobs')).some((f) => f.endsWith('.incomplete')));
  assert.ok(!existsSync(join(dir, 'corrupt.jsonl')));
});

test('refusals say which applies: 404, 401 (gated, HF_TOKEN), offline and not cached, no weights, unreachable Hub', async () => {
  const hf = join(dir, 'hf3'), env = { HF_HOME: hf, HF_ENDPOINT: url };
  // a port nothing listens on: one just released
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const dead = (closed.address() as { port: number }).port;
  await new Promise((r) => closed.close(r));
  const args = (m: string) => ['encode', '--model', m, '--input', input(), '--output', join(dir, 'x.jsonl')];
  const cases: Array<[string, Record<string, string | undefined>, RegExp]> = [
    ['test-org/nope', env, /test-org\/nope: not a local folder, and no such model or revision on http:\/\/127\.0\.0\.1:\d+ \(404 for config\.json\)/],
    ['test-org/tiny@v9', env, /test-org\/tiny@v9: not a local folder, and no such model or revision/],
    ['test-org/gated', env, /test-org\/gated: 401 Unauthorized .*gated or private model \(set HF_TOKEN/],
    ['test-org/gated', { ...env, HF_TOKEN: 'wrong' }, /401 Unauthorized .*this HF_TOKEN may not read/],
    ['test-org/tiny', { ...env, HF_HUB_OFFLINE: '1' }, /test-org\/tiny: not in the Hugging Face cache \(.*hf3\/hub\) and HF_HUB_OFFLINE=1/],
    ['test-org/noweights', env, /no model\.safetensors or pytorch_model\.bin/],
    ['test-org/tiny', { HF_HOME: hf, HF_ENDPOINT: `http://127.0.0.1:${dead}` }, /cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\) and the model is not in the Hugging Face cache/],
  ];
  for (const [m, e, re] of cases) {
    const r = await run(args(m), e);
    assert.equal(r.status, 1, `${m}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('ja-bert:')).length, 1);
  }
  assert.ok(!existsSync(join(dir, 'x.jsonl')));
  const ok = await run(args('test-org/gated'), { ...env, HF_TOKEN: 'secret' });
  assert.equal(ok.status, 0, ok.stderr);
});

test('a sentence-transformers model on XLM-R by hub id: its SentencePiece file, modules.json and 1_Pooling/config.json arrive, and the encoder pools as declared (cls, normalised)', async () => {
  const hf = join(dir, 'hf-e5');
  const prev = { HF_HOME: process.env.HF_HOME, HF_ENDPOINT: process.env.HF_ENDPOINT };
  process.env.HF_HOME = hf; process.env.HF_ENDPOINT = url;
  try {
    const enc = await Encoder.load('test-org/e5-tiny');
    const [u, v] = await enc.encode(['ファイルを削除する', 'ファイルを消す']);
    assert.ok(Math.abs(u!.reduce((a, x) => a + x * x, 0) - 1) < 1e-5, 'normalised as 2_Normalize declares');
    const cls = await enc.encode(['ファイルを削除する', 'ファイルを消す'], { pooling: 'cls', normalize: true });
    assert.deepEqual(Array.from(u!), Array.from(cls[0]!));
    assert.deepEqual(Array.from(v!), Array.from(cls[1]!));
    const snap = join(hf, 'hub', 'models--test-org--e5-tiny', 'snapshots', repos.get('test-org/e5-tiny')!.commit);
    for (const f of ['sentencepiece.bpe.model', 'modules.json', '1_Pooling/config.json']) assert.ok(existsSync(join(snap, f)), f);
  } finally {
    for (const [k, val] of Object.entries(prev)) if (val === undefined) delete process.env[k]; else process.env[k] = val;
  }
});
