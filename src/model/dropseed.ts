/**
 * Dropout masks drawn per example, not per batch: every row of a mask (a token's hidden vector, an attention-probability
 * row, an example's pooled vector) has its own seed, mixed from the dropout site's seed, the example's position in the
 * global batch and the row's place within the example (token position; head and query). A mask then does not depend
 * on which other examples share the micro-batch, on its padding, or on the packing of an unpadded batch, so data-parallel
 * ranks that each run a shard of the global batch (train/distributed.ts) apply exactly the masks one process would.
 */
import { hash32 } from '../core/ref.js';

/** one mask row's seed (int32 bits of a uint32) from the site's seed, the example's global position and the row within it */
export function rowSeed(site: number, example: number, sub: number): number {
  const a = hash32(((site >>> 0) ^ 0x85ebca6b) >>> 0);
  const b = hash32((a + Math.imul(example + 1, 0xc2b2ae35)) >>> 0);
  return hash32((b + Math.imul(sub + 1, 0x27d4eb2f)) >>> 0) | 0;
}

/** the rows of a dropout site, by what each row belongs to */
export type DropRows =
  /** [B·S or packed T, width]: token t of example b at row off[b] + t (padded: off[b] = b·S, every row's S positions) */
  | { kind: 'tokens'; B: number; S: number; off?: ArrayLike<number>; len?: ArrayLike<number> }
  /** attention probabilities [B, H, S, S] (padded) or per example [H, len, len] at pOff (unpadded): row (b, h, query) */
  | { kind: 'probs'; B: number; H: number; S: number; pOff?: ArrayLike<number>; len?: ArrayLike<number> }
  /** [B, width]: one row per example */
  | { kind: 'examples'; B: number }
  /** a tensor every example shares (DeBERTa's relative-position rows): one mask per step, from the site's seed */
  | { kind: 'shared' };

/** the head/query index of a probability row: heads up to 65,535, queries up to 65,535 positions */
const probRow = (h: number, q: number) => h * 65536 + q;

/**
 * Fill `seeds` for the rows of `rows` and hand each run of rows to `apply(elemStart, rowCount, rowLen, seeds)`; `key(b)`
 * is example b's position in the global batch.
 */
export function eachDropRun(rows: Exclude<DropRows, { kind: 'shared' }>, width: number, site: number, key: (b: number) => number, seedsOf: (n: number) => Int32Array,
  apply: (elemStart: number, rowCount: number, rowLen: number, seeds: Int32Array) => void): void {
  if (rows.kind === 'examples') {
    const s = seedsOf(rows.B);
    for (let b = 0; b < rows.B; b++) s[b] = rowSeed(site, key(b), 0);
    apply(0, rows.B, width, s);
  } else if (rows.kind === 'tokens') {
    const { B, S, off, len } = rows;
    const total = off && len ? Array.from({ length: B }, (_, b) => len[b]!).reduce((x, y) => x + y, 0) : B * S;
    const s = seedsOf(total);
    for (let b = 0; b < B; b++) {
      const o = off ? off[b]! : b * S, n = len ? len[b]! : S, k = key(b);
      for (let t = 0; t < n; t++) s[o + t] = rowSeed(site, k, t);
    }
    apply(0, total, width, s);
  } else {
    const { B, H, S, pOff, len } = rows;
    if (!pOff || !len) {
      const s = seedsOf(B * H * S);
      for (let b = 0; b < B; b++) { const k = key(b); for (let h = 0; h < H; h++) for (let q = 0; q < S; q++) s[(b * H + h) * S + q] = rowSeed(site, k, probRow(h, q)); }
      apply(0, B * H * S, S, s);
      return;
    }
    // unpadded: example b's probabilities [H, len, len] start at element pOff[b]
    for (let b = 0; b < B; b++) {
      const n = len[b]!, s = seedsOf(H * n), k = key(b);
      for (let h = 0; h < H; h++) for (let q = 0; q < n; q++) s[h * n + q] = rowSeed(site, k, probRow(h, q));
      apply(pOff[b]!, H * n, n, s);
    }
  }
}
