// npm pack ships what a user needs and nothing else; the packed tarball
// installs into a fresh project offline (building the native addon), and the
// README's examples (library, transformers.js, serving), compiled by TypeScript
// against the package's own types where TypeScript, all run from it; require and
// import give the same module; the optional features name what to install.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;
let dir = '', tarball = '', files: string[] = [];

/** the README's example blocks: ```ts and ```js blocks that start with "// example: NAME", ```sh blocks that start with "# example: NAME" */
function readmeExamples(): Map<string, { lang: string; code: string }> {
  const md = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const out = new Map<string, { lang: string; code: string }>();
  for (const m of md.matchAll(/```(ts|js|sh)\n(?:\/\/|#) example: (\S+)[^\n]*\n([\s\S]*?)```/g)) out.set(m[2]!, { lang: m[1]!, code: m[3]! });
  return out;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'jabert-pack-'));
  // dist/ is built by setup; --ignore-scripts: no prepack rebuild under a running suite
  const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' });
  const info = (JSON.parse(out) as Array<{ filename: string; size: number; files: Array<{ path: string }> }>)[0]!;
  tarball = join(dir, info.filename);
  files = info.files.map((f) => f.path);
});
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

test('the tarball holds the runtime, the native sources, the default model, README and licence, and no tests, tools or sources of the build', () => {
  for (const f of ['package.json', 'README.md', 'LICENSE', 'binding.gyp', 'bin/ja-bert', 'native/addon.cc', 'dist/src/index.js', 'dist/src/index.d.ts',
    'dist/src/api/worker.js', 'dist/src/cli/main.js', 'cjs/index.cjs', 'models/ja-bert-mini-debian/model.safetensors', 'models/ja-bert-mini-debian/spiece.model',
    'data/demo/manpages-ja-links-sample/negaposi.json', 'bench/torch_bert.py']) assert.ok(files.includes(f), `${f} is shipped`);
  for (const f of files) {
    assert.ok(!/^(test|tools|scripts|docs|src|dist\/test|dist\/bench|build|node_modules)\//.test(f), `${f} is not shipped`);
    assert.ok(!/\.(tmp|log)$/.test(f), `${f} is not shipped`);
  }
});

test('installed from the tarball into a fresh project: no engine warning, import and require, every README example runs as written, the optional features name their packages', { timeout: 900_000 }, async () => {
  const proj = join(dir, 'app');
  execFileSync('mkdir', ['-p', proj]);
  // the optional packages must be absent for their messages to show: no folder above the project may hold them
  for (let d = dirname(proj); d !== dirname(d); d = dirname(d)) {
    for (const p of ['bullmq', '@lancedb/lancedb']) assert.ok(!existsSync(join(d, 'node_modules', p)), `${join(d, 'node_modules', p)} exists: Node would resolve it from the test's project; move it away to run this test`);
  }
  const tgz = basename(tarball);
  copyFileSync(tarball, join(proj, tgz));
  writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { 'ja-bert': `file:${tgz}` } }));
  // offline, as CI runs: the tarball's dependencies at the versions of ja-bert's own lockfile, whose packages
  // setup's npm ci put in npm's cache (a user online just runs npm install ja-bert-0.1.0.tgz); the install builds the addon.
  // The optional peers (LanceDB, BullMQ) are dev-only in that lockfile, so the project gets none, as a user's would.
  const ours = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; version?: string }> };
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  const packages: Record<string, unknown> = {
    '': { name: 'app', dependencies: { 'ja-bert': `file:${tgz}` } },
    'node_modules/ja-bert': { version: pkg.version, resolved: `file:${tgz}`, integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
      hasInstallScript: true, license: pkg.license, dependencies: pkg.dependencies, peerDependencies: pkg.peerDependencies, peerDependenciesMeta: pkg.peerDependenciesMeta,
      bin: pkg.bin, engines: pkg.engines },
  };
  // each package with its registry tarball address: npm then takes it from its cache by integrity, without asking the registry
  for (const [k, v] of Object.entries(ours.packages)) {
    if (!k || v.dev) continue;
    const name = k.slice(k.lastIndexOf('node_modules/') + 'node_modules/'.length);
    packages[k] = { resolved: `https://registry.npmjs.org/${name}/-/${name.split('/').pop()}-${v.version}.tgz`, ...v };
  }
  writeFileSync(join(proj, 'package-lock.json'), JSON.stringify({ name: 'app', lockfileVersion: 3, requires: true, packages }));
  const inst = spawnSync('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: proj, encoding: 'utf8' });
  assert.equal(inst.status, 0, `npm ci failed:\n${inst.stdout}\n${inst.stderr}`);
  assert.doesNotMatch(inst.stdout + inst.stderr, /EBADENGINE/, 'no dependency asks for another Node');
  for (const a of ['jabert.node', 'jabert_mecab.node']) assert.ok(existsSync(join(proj, 'node_modules/ja-bert/build/Release', a)), `the install built ${a}`);
  for (const p of ['bullmq', 'ioredis', '@lancedb/lancedb', 'apache-arrow']) assert.ok(!existsSync(join(proj, 'node_modules', p)), `${p} is optional, not installed`);

  // every example block of the README is tagged, and so run here
  const md = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const ex = readmeExamples();
  assert.equal([...md.matchAll(/```(ts|js)\n/g)].length, [...ex.values()].filter((e) => e.lang !== 'sh').length, 'every ts/js block of the README is an example run here');
  for (const n of ['classify', 'encode', 'finetune-rank', 'transformers-js', 'serve-classify']) assert.ok(ex.has(n), `the README has the ${n} example`);
  const ts = [...ex].filter(([, e]) => e.lang === 'ts');
  for (const [name, e] of ex) if (e.lang !== 'sh') writeFileSync(join(proj, `${name}.${e.lang === 'ts' ? 'ts' : 'mjs'}`), e.code);
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '--strict', '--noUncheckedIndexedAccess', '--module', 'nodenext', '--moduleResolution', 'nodenext',
    '--target', 'es2022', '--typeRoots', join(ROOT, 'node_modules/@types'), '--types', 'node', ...ts.map(([n]) => `${n}.ts`)], { cwd: proj, encoding: 'utf8' });
  assert.equal(tsc.status, 0, `the README examples do not compile against the package's types:\n${tsc.stdout}${tsc.stderr}`);
  const run = (file: string) => {
    const r = spawnSync(process.execPath, [file], { cwd: proj, encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, `${file}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const got = JSON.parse(run('classify.js')) as { label: string; score: number; probabilities: Record<string, number> };
  assert.ok(Math.abs(Number(run('encode.js'))) <= 1.0005, 'a cosine similarity');
  // the same pair through the installed CLI
  const m = /text: '([^']+)', textB: '([^']+)'/.exec(ex.get('classify')!.code)!;
  const p = spawnSync(join(proj, 'node_modules/.bin/ja-bert'), ['predict', '--input', '-', '--output', '-'],
    { cwd: proj, encoding: 'utf8', input: JSON.stringify({ text: m[1], text_b: m[2] }) + '\n' });
  assert.equal(p.status, 0, p.stderr);
  const want = (JSON.parse(p.stdout.trim()) as { label: string; probabilities: Record<string, number> });
  assert.equal(got.label, want.label);
  for (const [k, v] of Object.entries(want.probabilities)) assert.ok(Math.abs(got.probabilities[k]! - v) <= 1.5e-6, `${k}: ${got.probabilities[k]} vs predict ${v}`);

  // require('ja-bert') is the same module: the same answer as import
  writeFileSync(join(proj, 'classify.cjs'), `const { Classifier, closeEngine, JaBertError } = require('ja-bert');
(async () => { const clf = await Classifier.load(); const [r] = await clf.classify([{ text: ${JSON.stringify(m[1])}, textB: ${JSON.stringify(m[2])} }]);
  console.log(JSON.stringify({ r, err: typeof JaBertError })); await closeEngine(); })();\n`);
  const cjs = JSON.parse(run('classify.cjs')) as { r: typeof got; err: string };
  assert.deepEqual(cjs.r, got);
  assert.equal(cjs.err, 'function');

  // the library example 3 as written, on honbun_data.json / negaposi.json in the project: the first 160 pairs of the shipped demo sample
  const demo = join(proj, 'node_modules/ja-bert/data/demo/manpages-ja-links-sample');
  const texts = JSON.parse(readFileSync(join(demo, 'honbun_data.json'), 'utf8')) as Record<string, string>;
  const pairs = (JSON.parse(readFileSync(join(demo, 'negaposi.json'), 'utf8')) as Array<[string, string, number]>).slice(0, 160);
  const used = new Set(pairs.flatMap(([a, b]) => [a, b]));
  writeFileSync(join(proj, 'honbun_data.json'), JSON.stringify(Object.fromEntries(Object.entries(texts).filter(([k]) => used.has(k)))));
  writeFileSync(join(proj, 'negaposi.json'), JSON.stringify(pairs));
  const fr = run('finetune-rank.js').split('\n');
  assert.ok(Number(fr[0]) >= 0 && Number(fr[0]) <= 1, `accuracy ${fr[0]}`);
  assert.match(fr.slice(1).join('\n'), /id: '[^']+',\s*score: /, 'ranked results');

  // the transformers.js example, on a classifier exported as its comment says (the test's transformers.js: ja-bert's own dev copy)
  const cli = (...args: string[]) => { const r = spawnSync(join(proj, 'node_modules/.bin/ja-bert'), args, { cwd: proj, encoding: 'utf8' }); assert.equal(r.status, 0, `${args[0]}: ${r.stderr}`); };
  cli('finetune', '--texts', 'honbun_data.json', '--pairs', 'negaposi.json', '--output', 'OUT', '--max-steps', '4', '--batch-size', '8', '--max-seq-length', '64');
  cli('export', '--model', 'OUT', '--output', 'exported');
  execFileSync('mkdir', ['-p', join(proj, 'node_modules/@huggingface')]);
  symlinkSync(join(ROOT, 'node_modules/@huggingface/transformers'), join(proj, 'node_modules/@huggingface/transformers'));
  assert.match(run('transformers-js.mjs'), /label: '(0|1)',\s*score: 0\.\d+/);

  // examples/cache-from-onnx.mjs as its usage lines say: the pair-head model exported, B encoded outside ja-bert, the cache built from it, ranked
  execFileSync('ln', ['-s', join(ROOT, 'node_modules/onnxruntime-node'), join(proj, 'node_modules/onnxruntime-node')]);
  cli('export', '--model', 'run', '--output', 'exported-dot');
  const ce = spawnSync(process.execPath, ['node_modules/ja-bert/examples/cache-from-onnx.mjs', 'exported-dot', 'honbun_data.json', 'embeddings.jsonl'], { cwd: proj, encoding: 'utf8', timeout: 300_000 });
  assert.equal(ce.status, 0, ce.stderr);
  cli('cache', 'build', '--model', 'run', '--from-embeddings', 'embeddings.jsonl', '--cache', 'b2.jabc');
  const rk = spawnSync(join(proj, 'node_modules/.bin/ja-bert'), ['rank', '--model', 'run', '--cache', 'b2.jabc', '--id', pairs[0]![0], '--top', '3', '--json'], { cwd: proj, encoding: 'utf8' });
  assert.equal(rk.status, 0, rk.stderr);
  assert.equal((JSON.parse(rk.stdout) as { results: unknown[] }).results.length, 3);

  // the serving example: ja-bert serve with the default model, the README's curl (its port replaced by the one the server took)
  const port = await freePort();
  const server = spawn(join(proj, 'node_modules/.bin/ja-bert'), ['serve', '--port', String(port)], { cwd: proj, stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    for (let t = 0; ; t++) {
      try { if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break; } catch { /* starting */ }
      assert.ok(t < 600, 'serve started');
      await new Promise((r) => setTimeout(r, 100));
    }
    const curl = ex.get('serve-classify')!.code.replace(/localhost:8080/g, `localhost:${port}`);
    const out = await new Promise<string>((resolve, reject) => {
      const c = spawn('bash', ['-c', curl], { cwd: proj });
      let o = '';
      c.stdout.on('data', (d: Buffer) => { o += d; });
      c.on('error', reject);
      c.on('exit', (code) => (code === 0 ? resolve(o) : reject(new Error(`curl exited ${code}`))));
    });
    const served = JSON.parse(out) as { results: Array<{ label: string }> };
    assert.equal(served.results[0]!.label, 'is_next', 'the answer the README shows');
  } finally {
    server.kill('SIGTERM');
  }

  // the optional features say which packages to add
  const w = spawnSync(join(proj, 'node_modules/.bin/ja-bert'), ['worker', '--queue', 'redis://127.0.0.1:9'], { cwd: proj, encoding: 'utf8' });
  assert.equal(w.status, 1);
  assert.match(w.stderr, /^ja-bert: queued cache builds .* needs the optional package bullmq, which is not installed: npm install bullmq@6\.7\.0 ioredis@\S+\n$/);
  writeFileSync(join(proj, 'index.mjs'), `import { buildCache, closeEngine } from 'ja-bert';
try { await buildCache({ model: 'run', texts: 'honbun_data.json', cache: 'ix.jabc', index: 'lancedb://ix' }); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
await closeEngine();\n`);
  const ix = JSON.parse(run('index.mjs')) as { code: string; message: string };
  assert.equal(ix.code, 'ERR_JA_BERT_MISSING_PACKAGE');
  assert.match(ix.message, /needs the optional package @lancedb\/lancedb, which is not installed: npm install @lancedb\/lancedb@0\.31\.0 apache-arrow@18\.1\.0$/);
});

/** a port nothing listens on, from the kernel */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => { const p = (srv.address() as AddressInfo).port; srv.close(() => resolve(p)); });
    srv.on('error', reject);
  });
}
