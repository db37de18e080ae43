/**
 * Train/eval splits of a data file, as 0-based indices into it.
 *
 * - random: a seeded shuffle, the first ceil(n · ratio) held out (sklearn's train_test_split count);
 *   k folds: the shuffled order cut into K parts whose sizes differ by at most one (KFold(shuffle=True)).
 * - group: every text (by id where the data has ids, by normalised text otherwise) belongs to exactly one
 *   part, so no eval text is ever seen in training. The pair graph's connected components are kept whole
 *   where they fit; a component too large for any part is cut by assigning its texts to parts at random
 *   (independently of the labels, so the parts keep the data's label shares), and the pairs that cross
 *   parts are dropped (counted).
 *   Each eval part must hold its asked number of pairs within GROUP_TOLERANCE, or the split is refused.
 */
import { Rng } from '../core/random.js';
import { DataError, type Example } from './processors.js';

export const SPLIT_STRATEGIES = ['random', 'group'] as const;
export type SplitStrategy = (typeof SPLIT_STRATEGIES)[number];

/** a grouped eval part may differ from its asked number of pairs by this share of it (at least one pair) */
export const GROUP_TOLERANCE = 0.1;

export interface SplitIndices { train: number[]; eval: number[]; dropped: number[] }

/** what identifies a text across examples: its id when the data has ids (honbun_data.json's titles), else its normalised text */
export function textKeys(e: Example): [string, string | undefined] {
  return [e.idA !== undefined ? `id:${e.idA}` : `text:${normaliseText(e.textA)}`,
    e.textB === undefined ? undefined : e.idB !== undefined ? `id:${e.idB}` : `text:${normaliseText(e.textB)}`];
}

/** NFKC, lower case, runs of white space as one space, trimmed: the same text however it was typed */
export function normaliseText(t: string): string {
  return t.normalize('NFKC').toLowerCase().replace(/\s+/gu, ' ').trim();
}

function shuffled(n: number, seed: number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  const rng = new Rng(seed);
  for (let i = idx.length - 1; i > 0; i--) { const j = rng.int(i + 1); [idx[i], idx[j]] = [idx[j]!, idx[i]!]; }
  return idx;
}

/** seeded shuffle, then the first ceil(n · ratio) are held out; train keeps the shuffled order */
export function randomSplit(n: number, evalRatio: number, seed: number): SplitIndices {
  const idx = shuffled(n, seed), nEval = Math.ceil(n * evalRatio);
  return { train: idx.slice(nEval), eval: idx.slice(0, nEval), dropped: [] };
}

/** K folds of a seeded shuffle (fold sizes differ by at most one, the larger first); train keeps the shuffled order */
export function randomFolds(n: number, K: number, seed: number): SplitIndices[] {
  const idx = shuffled(n, seed);
  const bounds = [0];
  for (let k = 0; k < K; k++) bounds.push(bounds[k]! + Math.floor(n / K) + (k < n % K ? 1 : 0));
  return Array.from({ length: K }, (_, k) => ({ train: [...idx.slice(0, bounds[k]), ...idx.slice(bounds[k + 1])], eval: idx.slice(bounds[k], bounds[k + 1]), dropped: [] }));
}

/** the pair graph: texts as nodes, each example an edge (a single text: a loop) */
function pairGraph(examples: Example[]): { ends: Int32Array; nodes: number; adj: number[][] } {
  const id = new Map<string, number>();
  const node = (k: string) => { let v = id.get(k); if (v === undefined) { v = id.size; id.set(k, v); } return v; };
  const ends = new Int32Array(examples.length * 2);
  examples.forEach((e, i) => { const [a, b] = textKeys(e); ends[2 * i] = node(a); ends[2 * i + 1] = b === undefined ? ends[2 * i]! : node(b); });
  const adj: number[][] = Array.from({ length: id.size }, () => []);
  examples.forEach((_, i) => { const u = ends[2 * i]!, v = ends[2 * i + 1]!; adj[u]!.push(i); if (v !== u) adj[v]!.push(i); });
  return { ends, nodes: id.size, adj };
}

/**
 * Assign every text to one of the parts whose asked pair counts are `targets`; returns each text's part.
 * Components largest first (seeded order among equals) go whole to the part with the largest remaining need
 * if they fit. A component too large for that is cut: each of its texts goes to part g at random with
 * probability p_g ∝ √need_g, so about p_g² of its pairs land inside part g (its need) and the rest cross
 * parts and are dropped. Texts are assigned independently of the labels, so the labels' shares in each
 * part stay those of the data (a region grown along the pairs would gather linked texts, that is the
 * positive pairs, and leave the negatives crossing).
 */
function assignTexts(examples: Example[], targets: number[], seed: number): { part: Int32Array; ends: Int32Array } {
  const { ends, nodes, adj } = pairGraph(examples);
  const rng = new Rng(seed);
  const other = (i: number, v: number) => (ends[2 * i] === v ? ends[2 * i + 1]! : ends[2 * i]!);
  // connected components (iterative search)
  const comp = new Int32Array(nodes).fill(-1);
  const comps: Array<{ nodes: number[]; pairs: number }> = [];
  for (let s = 0; s < nodes; s++) {
    if (comp[s] !== -1) continue;
    const c = { nodes: [s], pairs: 0 };
    comp[s] = comps.length;
    for (let q = 0; q < c.nodes.length; q++) for (const i of adj[c.nodes[q]!]!) { const w = other(i, c.nodes[q]!); if (comp[w] === -1) { comp[w] = comps.length; c.nodes.push(w); } }
    comps.push(c);
  }
  examples.forEach((_, i) => { comps[comp[ends[2 * i]!]!]!.pairs++; });
  const order = shuffled(comps.length, rng.seed()).sort((a, b) => comps[b]!.pairs - comps[a]!.pairs);
  const part = new Int32Array(nodes).fill(-1);
  const fill = targets.map(() => 0);
  const tol = targets.map((t) => Math.max(1, Math.floor(t * GROUP_TOLERANCE)));
  const argmax = (v: number[]) => v.reduce((b, x, g) => (x > v[b]! ? g : b), 0);
  for (const ci of order) {
    const c = comps[ci]!, need = targets.map((t, g) => t - fill[g]!), best = argmax(need);
    if (c.pairs <= need[best]! + tol[best]!) {
      for (const v of c.nodes) part[v] = best;
      fill[best]! += c.pairs;
      continue;
    }
    const w = need.map((x) => Math.sqrt(Math.max(0, x)));
    const sum = w.reduce((a, b) => a + b, 0);
    for (const v of c.nodes) {
      let g = best;
      if (sum > 0) {
        let u = rng.next() * sum;
        for (g = 0; g < w.length - 1 && u >= w[g]!; g++) u -= w[g]!;
      }
      part[v] = g;
    }
    // the pairs inside each part; then random texts move from the part fullest for its need to the emptiest
    // until the shares match within half the tolerance (moves of random texts keep the labels' shares)
    const inside = need.map(() => 0), members: number[][] = need.map(() => []);
    for (const v of c.nodes) { members[part[v]!]!.push(v); for (const i of adj[v]!) if (ends[2 * i] === v && part[v] === part[other(i, v)]) inside[part[v]!]!++; }
    const live = need.map((x, g) => (x > 0 ? g : -1)).filter((g) => g >= 0);
    for (let step = 0; step < 20 * c.nodes.length && live.length > 1; step++) {
      const ratio = (g: number) => inside[g]! / need[g]!;
      const hi = live.reduce((b, g) => (ratio(g) > ratio(b) ? g : b)), lo = live.reduce((b, g) => (ratio(g) < ratio(b) ? g : b));
      if (ratio(hi) - ratio(lo) <= GROUP_TOLERANCE / 2 * ratio(lo) || members[hi]!.length === 0) break;
      const list = members[hi]!, k = rng.int(list.length), v = list[k]!;
      list[k] = list[list.length - 1]!; list.pop();
      for (const i of adj[v]!) { const u = other(i, v); if (u === v) { inside[hi]!--; inside[lo]!++; } else if (part[u] === hi) inside[hi]!--; else if (part[u] === lo) inside[lo]!++; }
      part[v] = lo; members[lo]!.push(v);
    }
    for (let g = 0; g < need.length; g++) fill[g]! += inside[g]!;
  }
  return { part, ends };
}

/** the examples of each part (both texts in it) and the pairs that cross parts */
function partsOf(part: Int32Array, ends: Int32Array, K: number): { inPart: number[][]; crossing: Array<[number, number, number]> } {
  const inPart: number[][] = Array.from({ length: K }, () => []);
  const crossing: Array<[number, number, number]> = [];
  for (let i = 0; i < ends.length / 2; i++) {
    const pa = part[ends[2 * i]!]!, pb = part[ends[2 * i + 1]!]!;
    if (pa === pb) inPart[pa]!.push(i); else crossing.push([i, pa, pb]);
  }
  return { inPart, crossing };
}

function checkPart(what: string, got: number, want: number, source: string, strategyHint: string): void {
  const tol = Math.max(1, Math.floor(want * GROUP_TOLERANCE));
  if (got === 0 || Math.abs(got - want) > tol) {
    throw new DataError(`${source}: a grouped split cannot hold out ${want} pairs for ${what} (got ${got}; tolerance ±${tol}): the texts are too connected for ${strategyHint}; use a smaller ratio, fewer folds, or --split random`);
  }
}

/**
 * A grouped train/eval split: no text on both sides; pairs whose texts fell on different sides are dropped.
 * The eval share is of the pairs kept (train + eval): the split is redone with the eval count the drops call
 * for until it holds, and must then be within GROUP_TOLERANCE of evalRatio × the pairs kept.
 */
export function groupSplit(examples: Example[], evalRatio: number, seed: number, source: string): SplitIndices {
  const n = examples.length;
  // the parts' asked sizes are shares of the pairs kept, which the cut decides: start from all pairs, then from what was kept
  let kept = n, inPart: number[][] = [], crossing: Array<[number, number, number]> = [];
  for (let round = 0; round < 8; round++) {
    const nEval = Math.ceil(kept * evalRatio);
    const a = assignTexts(examples, [kept - nEval, nEval], seed);
    ({ inPart, crossing } = partsOf(a.part, a.ends, 2));
    const want = Math.round(evalRatio * (n - crossing.length));
    if (Math.abs(inPart[1]!.length - want) <= Math.max(1, Math.floor(want * GROUP_TOLERANCE)) / 2 || n - crossing.length === kept) break;
    kept = n - crossing.length;
  }
  checkPart('evaluation', inPart[1]!.length, Math.round(evalRatio * (n - crossing.length)), source, `--eval-ratio ${evalRatio}`);
  if (inPart[0]!.length === 0) throw new DataError(`${source}: a grouped split at --eval-ratio ${evalRatio} leaves no training pairs; use a smaller ratio or --split random`);
  return { train: inPart[0]!, eval: inPart[1]!, dropped: crossing.map((c) => c[0]).sort((a, b) => a - b) };
}

/** grouped k folds: fold k evaluates the pairs inside its texts and trains on the pairs that touch none of them; the folds' sizes are shares of the pairs kept inside parts */
export function groupFolds(examples: Example[], K: number, seed: number, source: string): SplitIndices[] {
  const n = examples.length;
  const even = (m: number) => Array.from({ length: K }, (_, k) => Math.floor(m / K) + (k < m % K ? 1 : 0));
  let targets = even(n), inPart: number[][] = [], crossing: Array<[number, number, number]> = [];
  for (let round = 0; round < 8; round++) {
    const a = assignTexts(examples, targets, seed);
    ({ inPart, crossing } = partsOf(a.part, a.ends, K));
    const next = even(n - crossing.length);
    if (next.every((t, k) => Math.abs(inPart[k]!.length - t) <= Math.max(1, Math.floor(t * GROUP_TOLERANCE)) / 2) || next.every((t, k) => t === targets[k])) break;
    targets = next;
  }
  const want = even(n - crossing.length);
  return inPart.map((ev, k) => {
    checkPart(`fold ${k + 1} of ${K}`, ev.length, want[k]!, source, `--folds ${K}`);
    const train = inPart.flatMap((p, j) => (j === k ? [] : p));
    for (const [i, a, b] of crossing) if (a !== k && b !== k) train.push(i);
    const dropped = crossing.filter(([, a, b]) => a === k || b === k).map((c) => c[0]);
    return { train: train.sort((x, y) => x - y), eval: ev, dropped: dropped.sort((x, y) => x - y) };
  });
}
