// npm pack ships what a user needs and nothing else; the packed tarball
// installs into a fresh project offline (building the native addon), and the
// README's library examples, compiled by TypeScript against the package's
// own types, run from it, classifying as `ja-bert predict` does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;
let dir = '', tarball = '', files: string[] = [];

/** the README's ```ts blocks that start with "// example: NAME" */
function readmeExamples(): Map<string, string> {
  const md = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const out = new Map<string, string>();
  for (const m of md.matchAll(/```ts\n\/\/ example: (\S+)\n([\s\S]*?)```/g)) out.set(m[1]!, m[2]!);
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
    'dist/src/api/worker.js', 'dist/src/cli/main.js', 'models/ja-bert-mini-debian/model.safetensors', 'models/ja-bert-mini-debian/spiece.model',
    'data/demo/manpages-ja-links-sample/negaposi.json', 'bench/torch_bert.py']) assert.ok(files.includes(f), `${f} is shipped`);
  for (const f of files) {
    assert.ok(!/^(test|tools|scripts|docs|src|dist\/test|dist\/bench|build|node_modules)\//.test(f), `${f} is not shipped`);
    assert.ok(!/\.(tmp|log)$/.test(f), `${f} is not shipped`);
  }
});

test('installed from the tarball into a fresh project, the README examples compile against its types and run; classify equals predict', { timeout: 900_000 }, () => {
  const proj = join(dir, 'app');
  execFileSync('mkdir', ['-p', proj]);
  const tgz = basename(tarball);
  copyFileSync(tarball, join(proj, tgz));
  writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { 'ja-bert': `file:${tgz}` } }));
  // offline, as CI runs: the tarball's dependencies at the versions of ja-bert's own lockfile, whose packages
  // setup's npm ci put in npm's cache (a user online just runs npm install ja-bert-0.1.0.tgz); the install builds the addon
  const ours = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; version?: string }> };
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  const packages: Record<string, unknown> = {
    '': { name: 'app', dependencies: { 'ja-bert': `file:${tgz}` } },
    'node_modules/ja-bert': { version: pkg.version, resolved: `file:${tgz}`, integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
      hasInstallScript: true, license: pkg.license, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines },
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
  for (const a of ['jabert.node', 'jabert_mecab.node']) assert.ok(existsSync(join(proj, 'node_modules/ja-bert/build/Release', a)), `the install built ${a}`);
  const ex = readmeExamples();
  assert.ok(ex.has('classify') && ex.has('encode'), 'the README has the classify and encode examples');
  for (const [name, code] of ex) writeFileSync(join(proj, `${name}.ts`), code);
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '--strict', '--noUncheckedIndexedAccess', '--module', 'nodenext', '--moduleResolution', 'nodenext',
    '--target', 'es2022', '--typeRoots', join(ROOT, 'node_modules/@types'), '--types', 'node', ...[...ex.keys()].map((n) => `${n}.ts`)], { cwd: proj, encoding: 'utf8' });
  assert.equal(tsc.status, 0, `the README examples do not compile against the package's types:\n${tsc.stdout}${tsc.stderr}`);
  const run = (n: string) => {
    const r = spawnSync(process.execPath, [`${n}.js`], { cwd: proj, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `${n}.js: ${r.stderr}`);
    return r.stdout.trim();
  };
  const got = JSON.parse(run('classify')) as { label: string; score: number; probabilities: Record<string, number> };
  assert.ok(Math.abs(Number(run('encode'))) <= 1.0005, 'a cosine similarity');
  // the same pair through the installed CLI
  const m = /text: '([^']+)', textB: '([^']+)'/.exec(ex.get('classify')!)!;
  const p = spawnSync(join(proj, 'node_modules/.bin/ja-bert'), ['predict', '--input', '-', '--output', '-'],
    { cwd: proj, encoding: 'utf8', input: JSON.stringify({ text: m[1], text_b: m[2] }) + '\n' });
  assert.equal(p.status, 0, p.stderr);
  const want = (JSON.parse(p.stdout.trim()) as { prediction: string; probabilities: Record<string, number> });
  assert.equal(got.label, want.prediction);
  for (const [k, v] of Object.entries(want.probabilities)) assert.ok(Math.abs(got.probabilities[k]! - v) <= 1.5e-6, `${k}: ${got.probabilities[k]} vs predict ${v}`);
});
