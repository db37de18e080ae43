/**
 * Leakage between a pair run's training and evaluation data: how many eval
 * pairs have a text the model was trained on. Texts are keyed as the grouped
 * split keys them (data/split.ts: by id where the data has ids, by normalised
 * text otherwise); a text counts as seen when it is either side of any
 * training pair.
 */
import type { Example } from './processors.js';
import { textKeys } from './split.js';

/** the eval pairs by what training saw of them: disjoint, together every eval pair */
export const LEAKAGE_SUBSETS = ['both_seen', 'a_only', 'b_only', 'neither'] as const;
export type LeakageSubset = (typeof LEAKAGE_SUBSETS)[number];

export interface Leakage {
  /** how texts were matched: 'id' (the data's text ids) or 'text' (normalised text) */
  keyed_by: 'id' | 'text';
  eval_pairs: number;
  /** eval pairs whose text A is a training text (either side of a training pair); includes both_seen */
  a_seen: number;
  /** eval pairs whose text B is a training text; includes both_seen */
  b_seen: number;
  both_seen: number;
  /** eval pairs neither of whose texts was trained on */
  neither: number;
  /** eval pairs that are also training pairs (the same A and B, in that order) */
  duplicates: number;
  /** eval pairs whose reverse (B, A) is a training pair */
  swapped_duplicates: number;
  /** eval pairs that occur elsewhere in the data (training or eval, same A and B) with another label */
  contradictions: number;
  /** eval pairs whose two sides are the same text */
  same_text: number;
}

/** the leakage counts and each eval pair's subset (index into LEAKAGE_SUBSETS); null for data without pairs */
export function leakage(train: Example[], evalSet: Example[]): { report: Leakage; subset: Uint8Array } | null {
  if (evalSet.length === 0 || ![...train, ...evalSet].every((e) => e.textB !== undefined)) return null;
  const keyed = [...train, ...evalSet].every((e) => e.idA !== undefined && e.idB !== undefined) ? 'id' : 'text';
  const seen = new Set<string>(), trainPairs = new Set<string>();
  const labelsOf = new Map<string, Set<string>>();
  const pairKey = (a: string, b: string) => JSON.stringify([a, b]);
  const note = (e: Example) => {
    const [a, b] = textKeys(e), k = pairKey(a, b!);
    if (!labelsOf.has(k)) labelsOf.set(k, new Set());
    labelsOf.get(k)!.add(e.labels ? JSON.stringify([...e.labels].sort()) : e.label);
    return [a, b!, k] as const;
  };
  for (const e of train) { const [a, b, k] = note(e); seen.add(a); seen.add(b); trainPairs.add(k); }
  const evalKeys = evalSet.map(note);
  const r: Leakage = { keyed_by: keyed, eval_pairs: evalSet.length, a_seen: 0, b_seen: 0, both_seen: 0, neither: 0, duplicates: 0, swapped_duplicates: 0, contradictions: 0, same_text: 0 };
  const subset = new Uint8Array(evalSet.length);
  evalKeys.forEach(([a, b, k], i) => {
    const sa = seen.has(a), sb = seen.has(b);
    r.a_seen += Number(sa); r.b_seen += Number(sb); r.both_seen += Number(sa && sb); r.neither += Number(!sa && !sb);
    subset[i] = sa && sb ? 0 : sa ? 1 : sb ? 2 : 3;
    r.duplicates += Number(trainPairs.has(k));
    r.swapped_duplicates += Number(a !== b && trainPairs.has(pairKey(b, a)));
    r.contradictions += Number(labelsOf.get(k)!.size > 1);
    r.same_text += Number(a === b);
  });
  return { report: r, subset };
}
