/**
 * Tokenizer throughput on Japanese text: ja-bert's SentencePiece against
 * spm_encode, and MeCab + WordPiece against the mecab command, on the same
 * lines (the man-page bodies of ../shared/data/manpages-ja-links). The C++
 * tools are timed as whole processes on a file, start-up included.
 * Prints one JSON line per tokenizer, then a one-line summary.
 *   node dist/bench/tokenize.js [--lines N]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/core/native.js';
import { parseArgs } from '../src/commands/args.js';
import { loadTokenizer } from '../src/tokenize/index.js';
import { mecabDicDir } from '../src/tokenize/wordpiece.js';

const { flags } = parseArgs(process.argv.slice(2), { lines: 'number' });
const shared = join(packageRoot(), '..', 'shared');
const pages = JSON.parse(readFileSync(join(shared, 'data/manpages-ja-links/honbun_data.json'), 'utf8')) as Record<string, string>;
const lines = Object.values(pages).flatMap((b) => b.split('\n')).filter((l) => l.trim()).slice(0, (flags.lines as number | undefined) ?? 20000);
const chars = lines.reduce((a, l) => a + [...l].length, 0);
const dir = mkdtempSync(join(tmpdir(), 'jabert-tokbench-'));
const input = join(dir, 'lines.txt');
writeFileSync(input, lines.join('\n') + '\n');

const time = (f: () => void): number => { const t = process.hrtime.bigint(); f(); return Number(process.hrtime.bigint() - t) / 1e9; };
const results: Array<Record<string, unknown>> = [];
const wiki = join(shared, 'models/wiki-ja-albert-spm/wiki-ja_albert.model');
const tohoku = join(shared, 'models/tohoku-v1-vocab');

const sp = loadTokenizer(wiki);
sp.encode(lines[0]!);
const spOurs = time(() => { for (const l of lines) sp.encode(l); });
const spRef = time(() => execFileSync('spm_encode', [`--model=${wiki}`, '--output_format=id', `--input=${input}`], { maxBuffer: 1 << 30 }));
results.push({ tokenizer: 'sentencepiece-unigram (wiki-ja 32k)', chars, ours_chars_per_s: chars / spOurs, reference: 'spm_encode', reference_chars_per_s: chars / spRef, ratio: spRef / spOurs });

const wp = loadTokenizer(tohoku);
wp.encode(lines[0]!);
const wpOurs = time(() => { for (const l of lines) wp.encode(l); });
const mcRef = time(() => execFileSync('mecab', ['-d', mecabDicDir('ipadic'), '-r', '/dev/null', '-b', String(1 << 22), '-Owakati', input], { maxBuffer: 1 << 30 }));
results.push({ tokenizer: 'mecab-ipadic + wordpiece (cl-tohoku v1)', chars, ours_chars_per_s: chars / wpOurs, reference: 'mecab -Owakati (word splitting only)', reference_chars_per_s: chars / mcRef, ratio: mcRef / wpOurs });
rmSync(dir, { recursive: true, force: true });

for (const r of results) console.log(JSON.stringify(r));
console.log('summary: ' + results.map((r) => `${r.tokenizer}: ${Math.round(r.ours_chars_per_s as number)} chars/s vs ${r.reference} ${Math.round(r.reference_chars_per_s as number)} (${(r.ratio as number).toFixed(2)}x)`).join('; '));
