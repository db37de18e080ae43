/**
 * MeCab through the addon, behind a check of the dictionary. libmecab maps a
 * dictionary's files and trusts every offset in them: a damaged sys.dic can
 * crash the process. Before the first open of a dictionary (per process,
 * keyed by the files' size and mtime) its binary files are checked against
 * what the format allows — header magic, version, section sizes against the
 * file size, token and double-array indices inside their sections, the
 * connection matrix and character table sizes — and it is then opened once in
 * a child process on a probe text, so that what the checks cannot see still
 * fails there and not here. Hand-written because no library reads MeCab's
 * binary format; it follows mecab-0.996's dictionary.cpp, darts.h,
 * connector.cpp and char_property.cpp.
 */
import { JaBertError, registerError } from '../core/errors.js';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mecabBinding } from './mecab-native.js';

export class MecabError extends JaBertError { override readonly code = 'ERR_JA_BERT_MECAB'; }
registerError(MecabError);

const DIC_MAGIC = 0xef718f77;
const DIC_VERSION = 102;
const HEADER = 72; // 10 uint32 + charset[32]
const TOKEN = 16; // lcAttr, rcAttr, posid: uint16; wcost: int16; feature, compound: uint32

/** bytes [start, start + length) of a file (clipped to its size) */
function readRange(path: string, start = 0, length = Infinity): Uint8Array {
  const size = statSync(path).size;
  const n = Math.max(0, Math.min(length, size - start));
  const buf = new Uint8Array(n);
  const fd = openSync(path, 'r');
  try { let o = 0; while (o < n) { const r = readSync(fd, buf, o, n - o, start + o); if (r <= 0) break; o += r; } } finally { closeSync(fd); }
  return buf;
}

/** matrix.bin: lsize, rsize (uint16) then lsize·rsize int16 costs */
function checkMatrix(path: string): { lsize: number; rsize: number } {
  const size = statSync(path).size, b = readRange(path, 0, 4);
  if (size < 4) throw new MecabError(`${path}: damaged MeCab dictionary (matrix.bin is ${size} bytes)`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const lsize = dv.getUint16(0, true), rsize = dv.getUint16(2, true);
  if (size !== 4 + 2 * lsize * rsize) throw new MecabError(`${path}: damaged MeCab dictionary (matrix.bin declares ${lsize}×${rsize} costs but holds ${size} bytes)`);
  return { lsize, rsize };
}

/** char.bin: csize (uint32), csize category names of 32 bytes, then 65,536 uint32 char infos */
function checkCharBin(path: string): void {
  const b = readRange(path);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const csize = b.length >= 4 ? dv.getUint32(0, true) : -1;
  if (csize < 1 || csize > 32 || b.length !== 4 + 32 * csize + 4 * 0xffff) throw new MecabError(`${path}: damaged MeCab dictionary (char.bin size ${b.length} does not match its ${csize} categories)`);
  for (let c = 0; c < 0xffff; c++) {
    const info = dv.getUint32(4 + 32 * csize + 4 * c, true);
    const type = info & 0x3ffff, dflt = (info >>> 18) & 0xff;
    if (type === 0 || type >>> csize !== 0 || dflt >= csize) throw new MecabError(`${path}: damaged MeCab dictionary (char.bin: character U+${c.toString(16).padStart(4, '0')} has an impossible category)`);
  }
}

/** sys.dic / unk.dic: header, sections, tokens and double array inside their bounds */
function checkDic(path: string, m: { lsize: number; rsize: number }): void {
  const size = statSync(path).size;
  const bad = (why: string): never => { throw new MecabError(`${path}: damaged MeCab dictionary (${why})`); };
  if (size < HEADER) bad(`${size} bytes is shorter than the header`);
  const h = new DataView(readRange(path, 0, HEADER).buffer);
  const [magic, version, , lexsize, lsize, rsize, dsize, tsize, fsize] = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => h.getUint32(4 * i, true)) as number[];
  if (((magic! ^ DIC_MAGIC) >>> 0) !== size) bad('bad magic number or file size');
  if (version !== DIC_VERSION) bad(`version ${version}, expected ${DIC_VERSION}`);
  if (HEADER + dsize! + tsize! + fsize! !== size) bad('section sizes do not add up to the file size');
  if (dsize! % 8 !== 0 || tsize! !== lexsize! * TOKEN) bad('section sizes do not match the entry counts');
  if (lsize !== m.lsize || rsize !== m.rsize) bad(`context sizes ${lsize}×${rsize} differ from matrix.bin's ${m.lsize}×${m.rsize}`);
  // the double array and the tokens (the features, the bulk of the file, are only bounds-checked)
  const body = readRange(path, HEADER, dsize! + tsize!);
  const units = dsize! / 8, fileUnits = Math.floor((size - HEADER) / 8);
  const da = new Int32Array(body.buffer, 0, units * 2);
  for (let i = 0; i < units; i++) {
    const base = da[2 * i]!;
    if (base >= 0) { if (base + 257 > fileUnits) bad(`double-array unit ${i} points outside the file`); }
    else { const v = -base - 1; if ((v >>> 8) + (v & 0xff) > lexsize!) bad(`double-array unit ${i} names tokens outside the token table`); }
  }
  const tok = new Uint16Array(body.buffer, dsize!, lexsize! * 8), tok32 = new Uint32Array(body.buffer, dsize!, lexsize! * 4);
  for (let i = 0; i < lexsize!; i++) {
    const lc = tok[8 * i]!, rc = tok[8 * i + 1]!, feature = tok32[4 * i + 2]!;
    if (rc >= m.lsize || lc >= m.rsize) bad(`token ${i} has context ids ${lc}/${rc} outside the ${m.lsize}×${m.rsize} matrix`);
    if (feature >= fsize!) bad(`token ${i}'s feature offset is outside the feature section`);
  }
  if (fsize! > 0 && readRange(path, size - 1, 1)[0] !== 0) bad('the feature section does not end in NUL');
}

/** everything checkDictionary reads; throws MecabError naming the file and what is wrong */
export function checkDictionary(dir: string): void {
  for (const f of ['sys.dic', 'unk.dic', 'matrix.bin', 'char.bin', 'dicrc']) if (!existsSync(join(dir, f))) throw new MecabError(`${dir}: not a MeCab dictionary folder (no ${f})`);
  const m = checkMatrix(join(dir, 'matrix.bin'));
  checkCharBin(join(dir, 'char.bin'));
  checkDic(join(dir, 'sys.dic'), m);
  checkDic(join(dir, 'unk.dic'), m);
}

const PROBE = 'MeCabの辞書を確かめる：東京都で2024年に１２３件、ｶﾀｶﾅとEnglish words, 記号「」…・！？ and 한국어 / Ελληνικά 🙂。';
const checked = new Set<string>();

function identity(dir: string): string {
  return ['sys.dic', 'unk.dic', 'matrix.bin', 'char.bin', 'dicrc'].map((f) => { const s = statSync(join(dir, f)); return `${f}:${s.size}:${s.mtimeMs}:${s.ino}`; }).join('|') + `@${dir}`;
}

/** check a dictionary folder once per process: format checks here, then one open and parse in a child process */
export function verifyDictionary(dir: string): void {
  if (!existsSync(dir)) throw new MecabError(`MeCab dictionary folder ${dir} does not exist`);
  const id = identity(dir);
  if (checked.has(id)) return;
  checkDictionary(dir);
  const probe = fileURLToPath(new URL('./mecab-probe.js', import.meta.url));
  const r = spawnSync(process.execPath, [probe, dir, PROBE], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, JA_BERT_MECAB_PROBE: '1' } });
  if (r.status !== 0) {
    const why = r.signal ? `MeCab crashed with ${r.signal} opening it` : r.error ? r.error.message : (r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`);
    throw new MecabError(`${dir}: damaged MeCab dictionary (${why.replace(`${dir}: `, '')})`);
  }
  checked.add(id);
}

/** a MeCab tagger over a checked dictionary: surface forms of the best path */
export class MecabTagger {
  private handle: number;
  constructor(readonly dicDir: string) {
    verifyDictionary(dicDir);
    this.handle = openUnchecked(dicDir);
  }
  /** surface forms in order; a NUL in the text is an error (MeCab would stop there) */
  words(text: string): string[] {
    if (text.includes('\0')) throw new MecabError('the text contains a NUL character, which MeCab cannot read past');
    const joined = mecabBinding().mecabSurfaces(this.handle, text);
    return joined === '' ? [] : joined.split('\0');
  }
  close(): void { if (this.handle >= 0) mecabBinding().mecabClose(this.handle); this.handle = -1; }
}

/** open without the checks (the probe child, after the format checks) */
export function openUnchecked(dir: string): number {
  try { return mecabBinding().mecabOpen(['mecab', '-d', dir, '-r', '/dev/null']); } catch (e) { throw new MecabError(`${dir}: ${(e as Error).message}`); }
}
