/**
 * The livedoor news corpus (ldcc-20140209.tar.gz, or its extracted text/
 * folder): nine category folders, one article per file; line 1 is the URL,
 * line 2 the date, then title and body. As yoheikikuta/bert-japanese prepares
 * it: URL and date dropped, tabs turned into full-width spaces, the category
 * folder is the label, a seeded shuffle split train : dev : test = 3/5 : 1/5 : 1/5.
 * (Their shuffle used pandas' generator; ours is seeded but not the same permutation.)
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Rng } from '../core/random.js';
import { DataError, type Example } from './processors.js';

/** regular files of a (ustar) tar archive: [path, bytes] */
export function readTar(buf: Uint8Array, source: string): Array<[string, Uint8Array]> {
  const out: Array<[string, Uint8Array]> = [];
  const dec = new TextDecoder();
  const field = (off: number, len: number) => dec.decode(buf.subarray(off, off + len)).replace(/\0.*$/s, '');
  for (let p = 0; p + 512 <= buf.length;) {
    if (buf.subarray(p, p + 512).every((b) => b === 0)) break;
    const name = field(p, 100), prefix = field(p + 345, 155), type = String.fromCharCode(buf[p + 156] || 48);
    const size = parseInt(field(p + 124, 12).trim() || '0', 8);
    if (!Number.isFinite(size) || p + 512 + size > buf.length) throw new DataError(`${source}: corrupt or truncated tar archive at byte ${p}`);
    if (type === '0' || type === '\0') out.push([prefix ? `${prefix}/${name}` : name, buf.subarray(p + 512, p + 512 + size)]);
    p += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

function article(path: string, raw: string): { text: string } | null {
  const lines = raw.replace(/\r/g, '').split('\n');
  if (lines.length < 3) return null;
  const text = lines.slice(2).join('\n').replace(/\t/g, '\u3000').trim();
  if (!text) throw new DataError(`${path}: empty article`);
  return { text };
}

/** every article as an example labelled by its category folder, in path order */
export function readLivedoor(path: string): Example[] {
  if (!existsSync(path)) throw new DataError(`${path}: no such file or folder`);
  const files: Array<[string, string]> = [];
  if (statSync(path).isFile()) {
    let tar: Uint8Array;
    try {
      tar = path.endsWith('.gz') || path.endsWith('.tgz') ? gunzipSync(readFileSync(path)) : readFileSync(path);
    } catch (e) {
      throw new DataError(`${path}: cannot decompress (${(e as Error).message})`);
    }
    for (const [name, bytes] of readTar(tar, path)) files.push([name, new TextDecoder().decode(bytes)]);
  } else {
    const root = existsSync(join(path, 'text')) ? join(path, 'text') : path;
    for (const cat of readdirSync(root).sort()) {
      const d = join(root, cat);
      if (!statSync(d).isDirectory()) continue;
      for (const f of readdirSync(d).sort()) files.push([`text/${cat}/${f}`, readFileSync(join(d, f), 'utf8')]);
    }
  }
  const out: Example[] = [];
  for (const [name, content] of files.sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const m = /(?:^|\/)text\/([^/]+)\/([^/]+\.txt)$/.exec(name);
    if (!m || m[2] === 'LICENSE.txt') continue; // category/article files only
    const a = article(`${path}:${name}`, content);
    if (a) out.push({ guid: `${m[1]}/${m[2]}`, textA: a.text, label: m[1]! });
  }
  if (out.length === 0) throw new DataError(`${path}: no articles (expected text/<category>/<article>.txt)`);
  return out;
}

export function splitLivedoor(examples: Example[], seed: number): { train: Example[]; dev: Example[]; test: Example[] } {
  const idx = examples.map((_, i) => i);
  const rng = new Rng(seed);
  for (let i = idx.length - 1; i > 0; i--) { const j = rng.int(i + 1); [idx[i], idx[j]] = [idx[j]!, idx[i]!]; }
  const n = examples.length, a = Math.floor((n * 3) / 5), b = Math.floor((n * 4) / 5);
  const pick = (s: number, e: number) => idx.slice(s, e).map((i) => examples[i]!);
  return { train: pick(0, a), dev: pick(a, b), test: pick(b, n) };
}
