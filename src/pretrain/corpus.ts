/**
 * The pretraining corpus: Japanese text from Debian documentation packages,
 * markup stripped, non-Japanese and duplicate paragraphs dropped, split into
 * sentences at 。！？, written in BERT's pretraining format (one sentence per
 * line, a blank line between documents). Man pages (/usr/share/man) and
 * chABSA are evaluation data and are refused outright.
 */
import { JaBertError, registerError } from '../core/errors.js';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { checkOutputFile, writeFileAtomic } from '../io/atomic.js';
import { ZipReader } from '../io/zip.js';

export interface CorpusSource {
  name: string;
  /** the Debian package that provides the files */
  package: string;
  roots: string[];
  /** keep files whose path matches */
  include: RegExp;
  /** for zip archives (.jar, .xpi): read the members whose name matches, each as one document */
  members?: RegExp;
}

/** Debian's Japanese documentation (paths as the Debian 12 packages install them) */
export const DEFAULT_SOURCES: CorpusSource[] = [
  { name: 'lilypond', package: 'lilypond-doc-html-ja', roots: ['/usr/share/doc/lilypond/html'], include: /\.ja\.html$/ },
  { name: 'libreoffice-help', package: 'libreoffice-help-ja', roots: ['/usr/share/libreoffice/help/ja'], include: /\.(html|xhp)$/ },
  { name: 'gimp-help', package: 'gimp-help-ja', roots: ['/usr/share/gimp/2.0/help/ja'], include: /\.html$/ },
  { name: 'debian-handbook', package: 'debian-handbook', roots: ['/usr/share/doc/debian-handbook/html/ja-JP'], include: /\.html$/ },
  { name: 'debian-reference', package: 'debian-reference-ja', roots: ['/usr/share/debian-reference'], include: /\.ja\.html$/ },
  { name: 'debian-edu-doc', package: 'debian-edu-doc-ja', roots: ['/usr/share/doc/debian-edu-doc-ja'], include: /\.html$/ },
  { name: 'gnome-user-docs', package: 'gnome-user-docs', roots: ['/usr/share/help/ja'], include: /\.page$/ },
  { name: 'maint-guide', package: 'maint-guide-ja', roots: ['/usr/share/doc/maint-guide-ja/html'], include: /\.html$/ },
  { name: 'developers-reference', package: 'developers-reference-ja', roots: ['/usr/share/developers-reference/ja'], include: /\.html$/ },
  { name: 'kicad-doc', package: 'kicad-doc-ja', roots: ['/usr/share/doc/kicad/help/ja'], include: /\.html$/ },
  { name: 'debian-faq', package: 'debian-faq-ja', roots: ['/usr/share/doc/debian/FAQ/ja'], include: /\.html$/ },
  { name: 'debian-policy', package: 'debian-policy-ja', roots: ['/usr/share/doc/debian-policy/ja'], include: /\.html$/ },
  { name: 'installation-guide', package: 'installation-guide-amd64', roots: ['/usr/share/doc/installation-guide-amd64/ja'], include: /\.html$/ },
  { name: 'aptitude-doc', package: 'aptitude-doc-ja', roots: ['/usr/share/doc/aptitude/html/ja'], include: /\.html$/ },
  { name: 'debian-edu-doc-legacy', package: 'debian-edu-doc-legacy-ja', roots: ['/usr/share/doc/debian-edu-doc-legacy-ja'], include: /\.html$/ },
  { name: 'scilab-help', package: 'scilab-doc-ja', roots: ['/usr/share/scilab/modules/helptools/jar'], include: /_ja_JP_help\.jar$/, members: /\.html$/ },
  { name: 'libreoffice-ui', package: 'libreoffice-l10n-ja', roots: ['/usr/lib/libreoffice/program/resource/ja/LC_MESSAGES'], include: /\.mo$/ },
  { name: 'firefox-ui', package: 'firefox-esr-l10n-ja', roots: ['/usr/lib/firefox-esr/browser/extensions'], include: /langpack-ja@.*\.xpi$/, members: /\.(ftl|properties)$/ },
  { name: 'thunderbird-ui', package: 'thunderbird-l10n-ja', roots: ['/usr/lib/thunderbird/extensions'], include: /langpack-ja@.*\.xpi$/, members: /\.(ftl|properties)$/ },
  { name: 'message-catalogs', package: '(installed packages)', roots: ['/usr/share/locale/ja/LC_MESSAGES'], include: /\.mo$/ },
];

const FORBIDDEN = [/^\/usr\/share\/man(\/|$)/, /chabsa/i, /manpages-ja/];

export class CorpusError extends JaBertError { override readonly code = 'ERR_JA_BERT_CORPUS'; }
registerError(CorpusError);

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', copy: '©', reg: '®', hellip: '…', mdash: '—', ndash: '–', laquo: '«', raquo: '»', rarr: '→', larr: '←' };

export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-zA-Z]+);/g, (m, e: string) => {
    if (e[0] === '#') {
      const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : '';
    }
    return ENTITIES[e] ?? m;
  });
}

const BLOCK = /<\/?(p|div|li|ul|ol|dl|dt|dd|h[1-6]|br|tr|td|th|table|pre|title|para|section|item|paragraph|note|tip|caution|listitem|blockquote|figcaption|caption|td|bookmark_value|ahelp|variable|embedvar)\b[^>]*>/gi;

/** paragraphs of a markup document (HTML, XHP, Mallard): text between block elements */
export function markupParagraphs(doc: string): string[] {
  const body = doc
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<(script|style|head)\b[\s\S]*?<\/\1>/gi, (m) => (/^<head/i.test(m) ? (/<title[^>]*>([\s\S]*?)<\/title>/i.exec(m)?.[0] ?? '') : ' '))
    .replace(BLOCK, '\n\n')
    .replace(/<[^>]+>/g, '');
  return decodeEntities(body).split(/\n\s*\n/).map((p) => p.replace(/\s+/g, ' ').trim()).filter(Boolean);
}

/** msgstr strings of a GNU gettext .mo catalog */
export function moStrings(buf: Uint8Array, path: string): string[] {
  if (buf.length < 28) return [];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = dv.getUint32(0, true);
  const le = magic === 0x950412de ? true : magic === 0xde120495 ? false : null;
  if (le === null) throw new CorpusError(`${path}: not a gettext .mo file`);
  const n = dv.getUint32(8, le), tOff = dv.getUint32(16, le);
  const dec = new TextDecoder('utf-8', { fatal: false });
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const len = dv.getUint32(tOff + i * 8, le), off = dv.getUint32(tOff + i * 8 + 4, le);
    if (off + len > buf.length) break;
    if (i === 0 && dv.getUint32(tOff, le) > 0 && dec.decode(buf.subarray(off, off + len)).includes('Content-Type')) continue; // the header entry
    for (const s of dec.decode(buf.subarray(off, off + len)).split('\0')) if (s.trim()) out.push(s.replace(/_(?=\S)|&(?=\S)|%[-+ #0]*\d*(?:\.\d+)?[sdiuxXfgl]+|\\n/g, ' ').replace(/\s+/g, ' ').trim());
  }
  return out;
}

/** message values of a Fluent (.ftl) file: placeables dropped, select variants kept as text */
export function ftlStrings(text: string): string[] {
  const out: string[] = [];
  let cur: string[] = [];
  const flush = (): void => { if (cur.length) out.push(cur.join(' ')); cur = []; };
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*#/.test(raw) || !raw.trim()) { flush(); continue; }
    const head = /^-?[A-Za-z][\w-]*\s*=(.*)$/.exec(raw);            // a message or term
    const attr = /^\s+\.[\w-]+\s*=(.*)$/.exec(raw);                  // an attribute
    if (head || attr) { flush(); cur.push((head ?? attr)![1]!); continue; }
    cur.push(raw.replace(/^\s*\*?\[[^\]]*\]/, ''));                 // a continuation or a select variant
  }
  flush();
  return out.map((v) => v.replace(/\{[^{}]*->/g, ' ').replace(/\{[^{}]*\}/g, ' ').replace(/[{}]/g, ' ').replace(/\s+/g, ' ').trim()).filter(Boolean);
}

/** values of a Java .properties file (\\uXXXX escapes decoded, printf-style placeholders dropped) */
export function propertiesStrings(text: string): string[] {
  const out: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    let l = lines[i]!;
    if (/^\s*[#!]/.test(l) || !l.trim()) continue;
    while (/(^|[^\\])(\\\\)*\\$/.test(l) && i + 1 < lines.length) l = l.slice(0, -1) + lines[++i]!.trimStart();
    const m = /^\s*(?:\\.|[^=:\s\\])+\s*[=:\s]\s*(.*)$/.exec(l);
    if (!m) continue;
    const v = m[1]!.replace(/\\u([0-9a-fA-F]{4})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))).replace(/\\n/g, ' ').replace(/\\(.)/g, '$1')
      .replace(/%(\d+\$)?[-+ #0]*\d*(?:\.\d+)?[sSdDuxXfgl]|#\d+/g, ' ').replace(/\s+/g, ' ').trim();
    if (v) out.push(v);
  }
  return out;
}

/** the charset a markup file declares (HTML meta or XML declaration), when the decoder knows it */
export function declaredCharset(raw: Uint8Array): string | undefined {
  const head = new TextDecoder('latin1').decode(raw.subarray(0, 2048));
  const m = /<meta[^>]*charset=["']?([\w-]+)|<\?xml[^>]*encoding=["']([\w-]+)/i.exec(head);
  const cs = (m?.[1] ?? m?.[2])?.toLowerCase();
  if (!cs) return undefined;
  try { new TextDecoder(cs); return cs; } catch { return undefined; }
}

/** the paragraphs of one file (or archive member), by its extension */
export function fileParagraphs(name: string, raw: Uint8Array): string[] {
  const ext = extname(name).toLowerCase();
  if (ext === '.mo') return moStrings(raw, name);
  const text = new TextDecoder(declaredCharset(raw) ?? 'utf-8').decode(raw);
  if (ext === '.ftl') return ftlStrings(text);
  if (ext === '.properties') return propertiesStrings(text);
  return markupParagraphs(text);
}

const JA = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]/gu;

/** Japanese enough: at least `min` Japanese characters making up at least `ratio` of the non-space ones */
export function isJapanese(p: string, min = 10, ratio = 0.3): boolean {
  const ja = (p.match(JA) ?? []).length;
  return ja >= min && ja / Math.max(1, p.replace(/\s/g, '').length) >= ratio;
}

/** split after 。！？ (and their ASCII forms when followed by space), keeping the marks */
export function splitSentences(p: string): string[] {
  return p.split(/(?<=[。！？])|(?<=[!?])\s+/u).map((s) => s.trim()).filter(Boolean);
}

function walk(root: string, include: RegExp, out: string[]): void {
  if (!existsSync(root)) return;
  for (const f of readdirSync(root).sort()) {
    const p = join(root, f);
    const st = statSync(p);
    if (st.isDirectory()) walk(p, include, out);
    else if (include.test(p)) out.push(p);
  }
}

export interface SourceReport { name: string; package: string; files: number; documents: number; paragraphs: number; sentences: number; japaneseChars: number; chars: number }

/** the corpus into `output`; with `report`, the per-source counts as JSON there too (ja-bert corpus --report) */
export function buildCorpus(o: { output: string; report?: string; sources?: CorpusSource[]; log?: (l: string) => void }): { sources: SourceReport[]; total: SourceReport } {
  checkOutputFile(o.output);
  if (o.report !== undefined) checkOutputFile(o.report);
  const sources = o.sources ?? DEFAULT_SOURCES;
  const seen = new Set<string>();
  const reports: SourceReport[] = [];
  const chunks: string[] = [];
  for (const src of sources) {
    for (const r of src.roots) if (FORBIDDEN.some((re) => re.test(r))) throw new CorpusError(`${r}: man pages and chABSA are evaluation data and never part of the pretraining corpus`);
    const files: string[] = [];
    for (const r of src.roots) walk(r, src.include, files);
    const rep: SourceReport = { name: src.name, package: src.package, files: files.length, documents: 0, paragraphs: 0, sentences: 0, japaneseChars: 0, chars: 0 };
    // one document per file, or per matching member of an archive
    const docs: Array<() => string[]> = [];
    for (const f of files) {
      if (FORBIDDEN.some((re) => re.test(f))) continue;
      if (src.members) {
        let zip: ZipReader;
        try { zip = new ZipReader(readFileSync(f), f); } catch (e) { throw new CorpusError(`${f}: ${(e as Error).message.replace(`${f}: `, '')}`); }
        for (const m of [...zip.entries.keys()].filter((n) => src.members!.test(n)).sort()) docs.push(() => fileParagraphs(m, zip.read(m)));
      } else docs.push(() => fileParagraphs(f, readFileSync(f)));
    }
    for (const doc of docs) {
      const paras = doc();
      const kept: string[] = [];
      for (const p of paras) {
        if (!isJapanese(p) || seen.has(p)) continue;
        seen.add(p);
        const sents = splitSentences(p);
        kept.push(...sents);
        rep.paragraphs++;
        rep.sentences += sents.length;
        rep.japaneseChars += (p.match(JA) ?? []).length;
        rep.chars += [...p].length;
      }
      if (kept.length) { chunks.push(kept.join('\n')); rep.documents++; }
    }
    reports.push(rep);
    o.log?.(`${src.name} (${src.package}): ${rep.files} files, ${rep.documents} documents, ${rep.sentences} sentences, ${rep.japaneseChars} Japanese characters`);
  }
  writeFileAtomic(o.output, (w) => { for (let i = 0; i < chunks.length; i++) w((i ? '\n' : '') + chunks[i]! + '\n'); });
  const total = reports.reduce<SourceReport>((a, r) => ({ ...a, files: a.files + r.files, documents: a.documents + r.documents, paragraphs: a.paragraphs + r.paragraphs, sentences: a.sentences + r.sentences, japaneseChars: a.japaneseChars + r.japaneseChars, chars: a.chars + r.chars }),
    { name: 'total', package: '', files: 0, documents: 0, paragraphs: 0, sentences: 0, japaneseChars: 0, chars: 0 });
  if (o.report !== undefined) {
    const report = JSON.stringify({ sources: reports, total, built: new Date().toISOString() }, null, 1) + '\n';
    writeFileAtomic(o.report, (w) => w(report));
  }
  return { sources: reports, total };
}
