/**
 * Child process of fuzz-formats.test.ts: for one file format, seeded random
 * mutations (truncate, flip, splice, enlarge) of a valid file, each read by the
 * library function the CLI uses. Every case must end in success or in a known
 * ja-bert error with a one-line message naming the file; anything else (a
 * TypeError, a RangeError, a message without the file) is reported and exits 3.
 * A crash or hang shows as a signal or timeout in the parent.
 *   node fuzz-child.js FORMAT SEED CASES WORKDIR
 */
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Rng } from '../src/core/random.js';
import { nativeKernels } from '../src/core/native.js';
import { loadBert, saveBert } from '../src/model/load.js';
import { Bert } from '../src/model/bert.js';
import { makeConfig } from '../src/model/config.js';
import { loadTokenizer } from '../src/tokenize/index.js';
import { readPairExamples, readTableExamples } from '../src/data/processors.js';
import { readLivedoor } from '../src/data/livedoor.js';
import { encodeCache, checkCacheFor, loadScoringModel, readCache } from '../src/cache/index.js';
import { headConfig } from '../src/model/heads/index.js';

const [format, seedArg, casesArg, work] = process.argv.slice(2) as [string, string, string, string];
// node --test runs every .js under test/: without arguments this file is not a test and does nothing
if (format === undefined) process.exit(0);
const rng = new Rng(Number(seedArg));
const CASES = Number(casesArg);
const SHARED = new URL('../../test/fixtures/shared/', import.meta.url).pathname;
const FIX = new URL('../../test/fixtures/', import.meta.url).pathname;
const K = nativeKernels();
const KNOWN = new Set(['DataError', 'CheckpointError', 'ConfigError', 'TokenizerError', 'InputError', 'CacheError', 'InputFileError', 'OptionError', 'MecabError', 'OutputPathError', 'CorpusError']);

/** one mutation of a valid file's bytes */
function mutate(b: Buffer): { bytes: Buffer; what: string } {
  const kind = ['truncate', 'flip', 'flip', 'splice', 'enlarge'][rng.int(5)]!;
  if (kind === 'truncate') { const n = rng.int(b.length); return { bytes: b.subarray(0, n), what: `truncated to ${n}` }; }
  if (kind === 'flip') {
    const c = Buffer.from(b);
    const n = 1 + rng.int(8);
    for (let i = 0; i < n; i++) { const o = rng.int(c.length); c[o] = c[o]! ^ (1 << rng.int(8)); }
    return { bytes: c, what: `${n} bits flipped` };
  }
  if (kind === 'splice') {
    // a span copied over another place (structure from elsewhere in the file)
    const len = 1 + rng.int(Math.min(64, b.length)), from = rng.int(b.length - len + 1), to = rng.int(b.length - len + 1);
    const c = Buffer.from(b); b.copy(c, to, from, from + len);
    return { bytes: c, what: `${len} bytes spliced ${from}->${to}` };
  }
  const extra = Buffer.alloc(1 + rng.int(4096)); for (let i = 0; i < extra.length; i++) extra[i] = rng.int(256);
  const at = rng.int(b.length + 1);
  return { bytes: Buffer.concat([b.subarray(0, at), extra, b.subarray(at)]), what: `${extra.length} random bytes inserted at ${at}` };
}

/** a format: the file to mutate (inside a folder of its own) and how the product reads it */
interface Format { file: string; read: () => void; names: string }

function tinyModel(dir: string, pairHead = false): void {
  const cfg = makeConfig({ vocab_size: 32000, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 64, labels: ['0', '1'] });
  if (pairHead) cfg.pair_head = headConfig('dot', undefined, undefined, 16);
  saveBert(new Bert(cfg, { kernels: K, seed: 1 }), dir);
  copyFileSync(join(SHARED, 'models/wiki-ja-albert-spm/wiki-ja_albert.model'), join(dir, 'spiece.model'));
}

const texts = ['日本語の文章を分割する', 'ファイルを開いてください。', 'ＡＢＣ 全角と半角'];

function setup(): Format {
  const d = join(work, format);
  mkdirSync(d, { recursive: true });
  switch (format) {
    case 'safetensors': case 'config':
      tinyModel(d);
      return { file: join(d, format === 'config' ? 'config.json' : 'model.safetensors'), names: d, read: () => { loadBert(d, { kernels: K }); } };
    case 'torchbin':
      for (const f of ['config.json', 'pytorch_model.bin']) copyFileSync(join(FIX, 'parity-gelu', f), join(d, f));
      return { file: join(d, 'pytorch_model.bin'), names: d, read: () => { loadBert(d, { kernels: K }); } };
    case 'tf1-index': case 'tf1-data':
      for (const f of readdirSync(join(SHARED, 'models/tf1-checkpoints/keras-bert-tiny'))) copyFileSync(join(SHARED, 'models/tf1-checkpoints/keras-bert-tiny', f), join(d, f));
      return { file: join(d, format === 'tf1-index' ? 'bert_model.ckpt.index' : 'bert_model.ckpt.data-00000-of-00001'), names: d, read: () => { loadBert(d, { kernels: K }); } };
    case 'spiece':
      copyFileSync(join(SHARED, 'models/wiki-ja-albert-spm/wiki-ja_albert.model'), join(d, 'spiece.model'));
      return { file: join(d, 'spiece.model'), names: d, read: () => { const t = loadTokenizer(join(d, 'spiece.model')); for (const x of texts) t.encode(x); } };
    case 'vocab':
      writeFileSync(join(d, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'BertTokenizer', do_lower_case: false }));
      copyFileSync(join(SHARED, 'models/tohoku-v1-vocab/vocab.txt'), join(d, 'vocab.txt'));
      return { file: join(d, 'vocab.txt'), names: d, read: () => { const t = loadTokenizer(d); for (const x of texts) t.encode(x); } };
    case 'cache': {
      const m = join(d, 'model');
      tinyModel(m, true);
      writeFileSync(join(d, 'texts.json'), JSON.stringify(Object.fromEntries(texts.map((t, i) => [`t${i}`, t]))));
      encodeCache({ model: m, texts: join(d, 'texts.json'), cache: join(d, 'c.jabc'), kernels: K, dtype: 'f32' });
      const sm = loadScoringModel(m, K);
      return { file: join(d, 'c.jabc'), names: d, read: () => { checkCacheFor(readCache(join(d, 'c.jabc')), sm); } };
    }
    case 'seed-json': {
      const body = JSON.parse(readFileSync(join(SHARED, 'data/manpages-ja-links/honbun_data.json'), 'utf8')) as Record<string, string>;
      const pairs = (JSON.parse(readFileSync(join(SHARED, 'data/manpages-ja-links/negaposi.json'), 'utf8')) as Array<[string, string, number]>).slice(0, 20);
      writeFileSync(join(d, 'honbun_data.json'), JSON.stringify(Object.fromEntries(pairs.flatMap((p) => [p[0], p[1]]).map((t) => [t, body[t]!.slice(0, 300)])), null, 1));
      writeFileSync(join(d, 'negaposi.json'), JSON.stringify(pairs));
      const which = rng.int(2) ? 'honbun_data.json' : 'negaposi.json';
      return { file: join(d, which), names: d, read: () => { readPairExamples(join(d, 'honbun_data.json'), join(d, 'negaposi.json')); } };
    }
    case 'tsv': case 'csv': case 'jsonl': {
      const rows = readFileSync(join(SHARED, 'data/chabsa/test.tsv'), 'utf8').split('\n').slice(0, 30).map((l) => l.split('\t')).filter((f) => f.length >= 2);
      const content = format === 'jsonl' ? rows.map((f) => JSON.stringify({ text: f[0], label: Number(f[1]) })).join('\n') + '\n'
        : format === 'csv' ? 'text,label\n' + rows.map((f) => `"${f[0]!.replace(/"/g, '""')}",${f[1]}`).join('\n') + '\n'
          : 'text\tlabel\n' + rows.map((f) => `${f[0]}\t${f[1]}`).join('\n') + '\n';
      writeFileSync(join(d, `data.${format}`), content);
      return { file: join(d, `data.${format}`), names: d, read: () => { readTableExamples(join(d, `data.${format}`)); } };
    }
    case 'targz': {
      for (const [cat, n] of [['it-life-hack', 3], ['sports-watch', 3]] as const) {
        mkdirSync(join(d, 'text', cat), { recursive: true });
        for (let i = 0; i < n; i++) writeFileSync(join(d, 'text', cat, `${cat}-${i}.txt`), `http://news.livedoor.com/article/detail/${i}/\n2012-01-0${i + 1}T00:00:00+0900\n見出しの${i}番目\n本文の${cat}の記事です。\n`);
      }
      execFileSync('tar', ['czf', join(d, 'ldcc.tar.gz'), '-C', d, 'text']);
      return { file: join(d, 'ldcc.tar.gz'), names: d, read: () => { readLivedoor(join(d, 'ldcc.tar.gz')); } };
    }
  }
  throw new Error(`unknown format ${format}`);
}

const f = setup();
const orig = readFileSync(f.file);
const counts = { ok: 0, refused: 0 };
for (let c = 0; c < CASES; c++) {
  const m = mutate(orig);
  writeFileSync(f.file, m.bytes);
  process.stderr.write(`case ${c}: ${m.what}\n`);
  try {
    f.read();
    counts.ok++;
  } catch (e) {
    const err = e as Error;
    const name = err?.constructor?.name ?? typeof e;
    const bad = !KNOWN.has(name) ? `${name} is not a ja-bert error` : /\n/.test(err.message) ? 'message spans lines' : !err.message.includes(f.names) ? 'message does not name the file' : '';
    if (bad) { console.error(`${format} case ${c} (${m.what}): ${bad}: ${name}: ${err.message}\n${err.stack ?? ''}`); process.exit(3); }
    counts.refused++;
  }
}
writeFileSync(f.file, orig);
console.log(JSON.stringify(counts));
