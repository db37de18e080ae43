/**
 * Processors: files -> examples {guid, textA, textB?, label}. Every malformed
 * input is one clear error naming the file and the line or key.
 */
import { JaBertError, registerError } from '../core/errors.js';
import { extname } from 'node:path';
import { InputFileError, readDelimited, readJsonFile, readJsonLines } from '../io/text.js';

export class DataError extends JaBertError { override readonly code = 'ERR_JA_BERT_DATA'; }
registerError(DataError);

/** strict file readers (io/text.ts) with their errors as DataError */
function data<T>(f: () => T): T {
  try { return f(); } catch (e) { if (e instanceof InputFileError) throw new DataError(e.message); throw e; }
}

export interface Example {
  guid: string;
  textA: string;
  textB?: string;
  label: string;
  /** multi-label examples (a JSONL "label" / "labels" list): every label that applies; `label` is then '' */
  labels?: string[];
  /** the texts' ids where the data names them (the titles of honbun_data.json): leakage and grouped splits key texts by them */
  idA?: string;
  idB?: string;
}

function parseJson(path: string): unknown {
  return data(() => readJsonFile(path));
}

/** a label as text: a class name, an integer class, or a score (a number with a fraction: regression, see isScoreLabel) */
function labelString(v: unknown, where: string): string {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new DataError(`${where}: label ${v} is not a finite number`);
    return String(v);
  }
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (typeof v === 'string' && v.trim() !== '') return v.trim();
  if (Array.isArray(v)) throw new DataError(`${where}: a list of labels (multi-label) is read from JSONL files ({"text": ..., "labels": [...]}); give one label here`);
  throw new DataError(`${where}: missing or empty label`);
}

/** a label written as a decimal number (0.5, 3.80, 1e-2): float targets, as HF's run_glue takes them for regression */
export const isScoreLabel = (l: string): boolean => /[.eE]/.test(l) && l.trim() !== '' && Number.isFinite(Number(l));

/** the largest regression score magnitude accepted: its square and gradients stay finite in f32 */
export const MAX_SCORE = 1e9;

/** float targets of examples (regression); a label that is not a number, or beyond ±MAX_SCORE, is a DataError naming the example */
export function scoreTargets(examples: Example[], source: string): Float64Array {
  return Float64Array.from(examples, (e) => {
    const v = Number(e.label);
    if (e.label.trim() === '' || !Number.isFinite(v)) throw new DataError(`${source}: example ${e.guid} has label "${e.label.slice(0, 40)}", not a number (a regression task needs numeric scores)`);
    if (Math.abs(v) > MAX_SCORE) throw new DataError(`${source}: example ${e.guid} has score ${v}, outside ±${MAX_SCORE} (regression scores must be finite numbers within it; rescale them)`);
    return v;
  });
}

/**
 * The seed's pair format: `texts` maps a title to its body (honbun_data.json);
 * `pairs` lists [title_a, title_b, label] or {a, b, label} (negaposi.json).
 */
export function readPairExamples(textsPath: string, pairsPath: string): Example[] {
  const texts = parseJson(textsPath);
  if (!texts || typeof texts !== 'object' || Array.isArray(texts)) throw new DataError(`${textsPath}: expected a JSON object mapping titles to texts`);
  const map = texts as Record<string, unknown>;
  const pairs = parseJson(pairsPath);
  if (!Array.isArray(pairs)) throw new DataError(`${pairsPath}: expected a JSON list of [title_a, title_b, label]`);
  const body = (title: unknown, where: string): string => {
    if (typeof title !== 'string') throw new DataError(`${where}: a title must be a string`);
    if (!(title in map)) throw new DataError(`${where}: title "${title}" is not in ${textsPath}`);
    const t = map[title];
    if (typeof t !== 'string' || t.trim() === '') throw new DataError(`${textsPath}: the text of "${title}" is empty`);
    return t;
  };
  return pairs.map((p, i) => {
    const where = `${pairsPath}: entry ${i}`;
    let a: unknown, b: unknown, label: unknown;
    if (Array.isArray(p) && p.length === 3) [a, b, label] = p;
    else if (p && typeof p === 'object' && !Array.isArray(p)) ({ a, b, label } = p as Record<string, unknown>);
    else throw new DataError(`${where}: expected [title_a, title_b, label] or {"a", "b", "label"}`);
    return { guid: `pair-${i}`, textA: body(a, where), textB: body(b, where), label: labelString(label, where), idA: a as string, idB: b as string };
  });
}

const TEXT_A = ['text', 'text_a', 'sentence1', 'sentence'];
const TEXT_B = ['text_b', 'sentence2'];

/**
 * TSV, CSV or JSONL. With a header (or JSON keys): text / text_a / sentence1,
 * text_b / sentence2, label (or score, as STS data names it). A TSV/CSV without a header is read as text, label
 * or text_a, text_b, label (chABSA's rows end with an extra tab, which is ignored).
 */
export function readTableExamples(path: string): Example[] {
  const ext = extname(path).toLowerCase();
  const out: Example[] = [];
  if (ext === '.jsonl' || ext === '.json') {
    for (const { value, line } of data(() => readJsonLines(path))) {
      const where = `${path}:${line}`;
      if (!value || typeof value !== 'object' || Array.isArray(value)) throw new DataError(`${where}: expected a JSON object {"text": ..., "label": ...}`);
      const o = value as Record<string, unknown>;
      const a = TEXT_A.map((k) => o[k]).find((v) => v !== undefined);
      const b = TEXT_B.map((k) => o[k]).find((v) => v !== undefined);
      if (typeof a !== 'string' || a.trim() === '') throw new DataError(`${where}: missing or empty text (${TEXT_A.join(' / ')})`);
      if (b !== undefined && (typeof b !== 'string' || b.trim() === '')) throw new DataError(`${where}: text_b must be a non-empty string`);
      const lv = o.labels ?? o.label;
      if (Array.isArray(lv)) {
        const labels = lv.map((x) => labelString(x, where));
        if (new Set(labels).size !== labels.length) throw new DataError(`${where}: a label is listed twice`);
        out.push({ guid: String(o.guid ?? o.id ?? `${line - 1}`), textA: a, textB: b as string | undefined, label: '', labels });
        continue;
      }
      out.push({ guid: String(o.guid ?? o.id ?? `${line - 1}`), textA: a, textB: b as string | undefined, label: labelString(o.label ?? o.score, where) });
    }
    return out;
  }
  if (ext !== '.tsv' && ext !== '.csv' && ext !== '.txt') throw new DataError(`${path}: unknown data format (use .tsv, .csv or .jsonl)`);
  const rows = data(() => readDelimited(path, ext === '.csv' ? ',' : '\t'));
  const first = (rows[0]?.fields ?? []).map((h) => h.trim().toLowerCase());
  const labelCol = first.includes('label') ? 'label' : 'score';
  const header = first.includes(labelCol) && first.some((h) => TEXT_A.includes(h));
  const col = (names: string[]) => first.findIndex((h) => names.includes(h));
  const ia = header ? col(TEXT_A) : 0, ib = header ? col(TEXT_B) : -1, il = header ? first.indexOf(labelCol) : -1;
  const sep = ext === '.csv' ? 'comma' : 'tab';
  rows.forEach(({ fields, line }, r) => {
    if (header && r === 0) return;
    if (fields.every((f) => f.trim() === '')) return;
    const where = `${path}:${line}`;
    let f = fields;
    while (f.length > (header ? first.length : 2) && f[f.length - 1] === '') f = f.slice(0, -1); // trailing separators (chABSA's rows end with one)
    if (header && f.length !== first.length) throw new DataError(`${where}: ${f.length} fields where the header has ${first.length} (a ${sep} inside a text must be in "quotes")`);
    if (!header && (f.length < 2 || f.length > 3)) throw new DataError(`${where}: expected text${sep === 'tab' ? '<TAB>' : ','}label or text_a${sep === 'tab' ? '<TAB>' : ','}text_b${sep === 'tab' ? '<TAB>' : ','}label, found ${f.length} fields`);
    const a = f[ia], b = ib >= 0 ? f[ib] : !header && f.length === 3 ? f[1] : undefined;
    const l = il >= 0 ? f[il] : f[f.length - 1];
    if (!a || a.trim() === '') throw new DataError(`${where}: empty text`);
    if (b !== undefined && b.trim() === '') throw new DataError(`${where}: empty text_b`);
    out.push({ guid: `${line - 1}`, textA: a, textB: b, label: labelString(l, where) });
  });
  return out;
}

/** the label list, sorted (numerically when every label is an integer) */
/** each example's class id in `labels`; an unseen label is a DataError naming the example */
export function labelIds(examples: Example[], labels: string[], source: string): Int32Array {
  const index = new Map(labels.map((l, i) => [l, i]));
  return Int32Array.from(examples, (e) => {
    const id = index.get(e.label);
    if (id === undefined) throw new DataError(`${source}: example ${e.guid} has label "${e.label}", which the training data does not have (${labels.join(', ')})`);
    return id;
  });
}

/** which label means "a match" where ranking needs one: "1" when the labels have it, else the last (sorted) label */
export function positiveLabelIndex(labels: string[]): number {
  return labels.indexOf('1') >= 0 ? labels.indexOf('1') : labels.length - 1;
}

export function labelList(examples: Example[], source: string): string[] {
  const set = [...new Set(examples.map((e) => e.label))];
  if (set.length < 2) throw new DataError(`${source}: the training data has ${set.length === 0 ? 'no examples' : `only one class ("${set[0]}")`}; classification needs at least two`);
  const numeric = set.every((l) => /^-?\d+$/.test(l));
  return numeric ? set.sort((a, b) => Number(a) - Number(b)) : set.sort();
}

/** multi-label data: the label set (sorted) and an n × C 0/1 matrix; every example must have a list */
export function multiLabelTargets(examples: Example[], source: string, labelSet?: string[]): { labels: string[]; Y: Uint8Array } {
  for (const e of examples) if (!e.labels) throw new DataError(`${source}: example ${e.guid} has one label where the others have lists (multi-label data needs a list on every example)`);
  const labels = labelSet ?? [...new Set(examples.flatMap((e) => e.labels!))].sort();
  if (labels.length < 2) throw new DataError(`${source}: multi-label data needs at least two distinct labels`);
  const index = new Map(labels.map((l, i) => [l, i]));
  const Y = new Uint8Array(examples.length * labels.length);
  examples.forEach((e, i) => e.labels!.forEach((l) => {
    const c = index.get(l);
    if (c === undefined) throw new DataError(`${source}: example ${e.guid} has label "${l}", which the training data does not have (${labels.join(', ')})`);
    Y[i * labels.length + c] = 1;
  }));
  return { labels, Y };
}
