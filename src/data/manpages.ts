/**
 * Japanese man-page link pairs in the seed's format, from Debian's manpages-ja
 * (roff sources under /usr/share/man/ja): honbun_data.json maps a title such
 * as `open(2)` to its 名前 line + 説明 section; negaposi.json lists
 * [title_a, title_b, label] with label 1 when one page names the other under
 * 関連項目 (SEE ALSO) and 0 for a random unlinked pair, balanced.
 * Used by scripts/make-demo-data.sh to make the demo's shipped sample.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Rng } from '../core/random.js';
import { intOption } from '../core/options.js';
import { writeFileAtomic } from '../io/atomic.js';
import { DataError } from './processors.js';

const NAMED: Record<string, string> = { em: '—', en: '–', aq: "'", lq: '“', rq: '”', dq: '"', bu: '•', co: '©', mi: '-', hy: '-', ga: '`', ti: '~', ha: '^', oq: '‘', cq: '’', rs: '\\', at: '@' };

/** roff inline escapes to plain text */
export function roffInline(s: string): string {
  return s
    .replace(/\\f(\(..|\[[^\]]*\]|.)/g, '')
    .replace(/\\s[+-]?\d/g, '')
    .replace(/\\\*?\((..)/g, (_, n: string) => NAMED[n] ?? '')
    .replace(/\\\*?\[([^\]]*)\]/g, (_, n: string) => NAMED[n] ?? '')
    .replace(/\\\*./g, '')
    .replace(/\\-/g, '-')
    .replace(/\\e/g, '\u0000')
    .replace(/\\[&%:|^)]/g, '')
    .replace(/\\[ ~0]/g, ' ')
    .replace(/\\c$/g, '')
    .replace(/\\(.)/g, '$1')
    .replace(/\u0000/g, '\\');
}

/** one man page's roff source -> its sections as plain text (section name -> text) */
export function parseRoff(src: string): Map<string, string> {
  const sections = new Map<string, string>();
  let cur: string | null = null;
  let buf: string[] = [];
  const flush = () => { if (cur !== null) sections.set(cur, ((sections.get(cur) ?? '') + ' ' + buf.join(' ')).replace(/\s+/g, ' ').trim()); buf = []; };
  for (const raw of src.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (/^[.']\s*\\"/.test(line) || line.startsWith('\\"')) continue;
    const m = /^[.']\s*(\S+)\s*(.*)$/.exec(line);
    if (m) {
      const [, mac, argsRaw] = m as unknown as [string, string, string];
      if (mac === 'SH' || mac === 'SS') {
        if (mac === 'SH') { flush(); cur = roffInline(argsRaw.replace(/"/g, '')).trim(); continue; }
        buf.push(roffInline(argsRaw.replace(/"/g, ''))); continue;
      }
      const args = (argsRaw.match(/"[^"]*"|\S+/g) ?? []).map((a) => roffInline(a.replace(/^"|"$/g, '')));
      if (/^(B|I|SM|SB)$/.test(mac)) buf.push(args.join(' '));
      else if (/^(BR|RB|IR|RI|BI|IB)$/.test(mac)) buf.push(args.join(''));
      else if (mac === 'IP' || mac === 'TP' || mac === 'HP') { if (args[0] && mac === 'IP') buf.push(args[0]); }
      continue; // layout requests (.PP .RS .nf .sp .TH ...) carry no text
    }
    buf.push(roffInline(line));
  }
  flush();
  return sections;
}

const NAME_KEYS = ['名前', 'NAME', '名称'];
const DESC_KEYS = ['説明', 'DESCRIPTION', '解説'];
const SEE_KEYS = ['関連項目', 'SEE ALSO', '参照'];
const pick = (s: Map<string, string>, keys: string[]) => { for (const k of keys) { const v = s.get(k); if (v) return v; } return ''; };

export interface ManPage { title: string; body: string; links: string[] }

/** every page under manDir/man{1-8} that has a name and a description (`.so` aliases skipped) */
export function readManPages(manDir: string, maxBodyChars = 500): ManPage[] {
  if (!existsSync(manDir)) throw new DataError(`${manDir}: no such directory (install Debian's manpages-ja and manpages-ja-dev)`);
  const pages: ManPage[] = [];
  for (const sec of readdirSync(manDir).filter((d) => /^man\d$/.test(d)).sort()) {
    for (const f of readdirSync(join(manDir, sec)).sort()) {
      const m = /^(.+)\.(\d[a-z]*)(\.gz)?$/.exec(f);
      if (!m) continue;
      const raw = readFileSync(join(manDir, sec, f));
      const src = (m[3] ? gunzipSync(raw) : raw).toString('utf8');
      if (/^\.so\s/m.test(src.split('\n').slice(0, 5).join('\n')) && src.length < 200) continue;
      const s = parseRoff(src);
      const name = pick(s, NAME_KEYS), desc = pick(s, DESC_KEYS);
      if (!name || !desc || !/[\u3040-\u30ff]/.test(desc)) continue; // untranslated pages keep an English description
      const title = `${m[1]}(${m[2]})`;
      const links = [...pick(s, SEE_KEYS).matchAll(/([A-Za-z0-9_.:+-]+)\s*\((\d[a-z]*)\)/g)].map((x) => `${x[1]}(${x[2]})`).filter((t) => t !== title);
      pages.push({ title, body: `${name}\n${desc}`.slice(0, maxBodyChars), links: [...new Set(links)] });
    }
  }
  return pages;
}

export interface PairSet { texts: Record<string, string>; pairs: [string, string, number][] }

/**
 * Link pairs over `pages`: every linked pair (either direction, both pages
 * present) is a positive; as many random unlinked pairs are negatives. With
 * `maxPairs`, a seeded sample of positives is kept first; only the titles the
 * pairs use go into `texts`.
 */
export function linkPairs(pages: ManPage[], seed = 42, maxPairs?: number): PairSet {
  const byTitle = new Map(pages.map((p) => [p.title, p]));
  const key = (a: string, b: string) => (a < b ? `${a}\t${b}` : `${b}\t${a}`);
  const linked = new Set<string>();
  for (const p of pages) for (const l of p.links) if (byTitle.has(l)) linked.add(key(p.title, l));
  const rng = new Rng(seed);
  const shuffle = <T>(xs: T[]) => { for (let i = xs.length - 1; i > 0; i--) { const j = rng.int(i + 1); [xs[i], xs[j]] = [xs[j]!, xs[i]!]; } return xs; };
  let pos = shuffle([...linked].sort());
  if (maxPairs !== undefined) pos = pos.slice(0, Math.floor(maxPairs / 2));
  const titles = [...new Set(pos.flatMap((k) => k.split('\t')))].sort();
  if (titles.length < 3) throw new DataError('fewer than 3 linked man pages: nothing to pair');
  const neg = new Set<string>();
  let tries = 0;
  while (neg.size < pos.length && tries++ < pos.length * 100) {
    const a = titles[rng.int(titles.length)]!, b = titles[rng.int(titles.length)]!;
    if (a !== b && !linked.has(key(a, b))) neg.add(key(a, b));
  }
  const pairs = shuffle([...pos.map((k) => [k, 1] as const), ...[...neg].map((k) => [k, 0] as const)])
    .map(([k, l]) => { const [a, b] = k.split('\t') as [string, string]; return rng.next() < 0.5 ? [a, b, l] : [b, a, l]; }) as [string, string, number][];
  const texts: Record<string, string> = {};
  for (const t of titles) texts[t] = byTitle.get(t)!.body;
  return { texts, pairs };
}

export interface ManpagePairsOptions { output: string; manDir?: string; maxPairs?: number; maxChars?: number; seed?: number }

/** `ja-bert manpage-pairs`: the link pairs of the man pages under manDir, written as OUT/honbun_data.json and OUT/negaposi.json */
export function manpagePairs(o: ManpagePairsOptions): { pages: number; texts: number; pairs: number; linked: number; output: string } {
  const maxChars = intOption('max-chars', o.maxChars, 500), seed = intOption('seed', o.seed, 42, 0, 2 ** 32 - 1);
  const maxPairs = o.maxPairs === undefined ? undefined : intOption('max-pairs', o.maxPairs, 1);
  const pages = readManPages(o.manDir ?? '/usr/share/man/ja', maxChars);
  const set = linkPairs(pages, seed, maxPairs);
  mkdirSync(o.output, { recursive: true });
  writeFileAtomic(join(o.output, 'honbun_data.json'), (w) => w(JSON.stringify(set.texts, null, 1) + '\n'));
  writeFileAtomic(join(o.output, 'negaposi.json'), (w) => w('[\n' + set.pairs.map((p) => JSON.stringify(p)).join(',\n') + '\n]\n'));
  return { pages: pages.length, texts: Object.keys(set.texts).length, pairs: set.pairs.length, linked: set.pairs.filter((p) => p[2] === 1).length, output: o.output };
}
