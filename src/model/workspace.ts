/**
 * The encoder's workspace: named f32/u8/i32 buffers reused across steps, and
 * the names it knows (the encoder's activations, and the task heads' mlm.* /
 * nsp.* buffers), so a misspelt buffer name does not compile.
 */

/** the activations one encoder layer keeps for its backward (workspace names l<i>.<name>) */
export type LayerAct = 'qkv' | 'q' | 'k' | 'v' | 'P' | 'Pd' | 'ctx' | 'ao' | 'aod' | 'r1' | 'h1' | 'mean1' | 'rstd1' | 'inter' | 'gelu' | 'o' | 'od' | 'r2' | 'out' | 'mean2' | 'rstd2'
  // ModernBERT's pre-norm layer: attn_norm's output and statistics, Wi's [input | gate], the GeGLU and its dropout
  | 'an' | 'meanA' | 'rstdA' | 'wi' | 'glu' | 'gd'
  // ModernBERT trained blocked: the context by head and each query's log-sum-exp (what attnBlockedBackward reads instead of P)
  | 'ctxhB' | 'lse'
  // DeBERTa: the relative-position rows after this layer's dropout, and their query and key projections by head
  | 'relD' | 'posQ' | 'posK';
/** where dropout runs: its mask is <site>.mask, its backward output <site>.d */
export type DropSite = 'emb.drop' | 'pooled.drop' | 'cls.drop' | `l${number}.${'Pd' | 'aod' | 'od' | 'gd' | 'rel'}`;
/** every named f32 buffer of the workspace: a name outside this type does not compile (no silent fresh zero buffer) */
export type Act =
  | 'emb' | 'emb.ln' | 'emb.mean' | 'emb.rstd' | 'emb.proj' | 'maskAdd' | 'scores' | 'ctxh' | 'cls' | 'pooler.pre' | 'pooled' | 'logits' | 'probs' | 'losses'
  // ModernBERT: final_norm's output and statistics, the head's activation and norm statistics, a bias-free norm's zero bias and its gradient's sink, a column of ones (mean pooling's backward)
  | 'final' | 'final.mean' | 'final.rstd' | 'seqOut' | 'head.act' | 'head.mean' | 'head.rstd' | 'zeros' | 'sink' | 'ones'
  // DeBERTa: the relative-position rows' LayerNorm, the c2p and p2c scores before the gather, the shared projections' scratch
  | 'rel.ln' | 'rel.mean' | 'rel.rstd' | 'c2p' | 'p2c' | 'posqkv' | 'posv' | 'posrows' | 'relzeros'
  | DropSite | `${DropSite}.d` | `l${number}.${LayerAct}`
  | `d.${'pooled' | 'logits' | 'pd' | 'pre' | 'cls' | 'r2' | 'gelu' | 'inter' | 'h1' | 'r1' | 'ctx' | 'ctxh' | 'Pd' | 'v' | 'scores' | 'q' | 'k' | 'qkv' | 'emb' | 'embln' | 'final' | 'act' | 'wi' | 'an' | 'c2p' | 'p2c' | 'posk' | 'posq' | 'posqkv' | 'posrows' | 'relD' | 'rel' | 'relIn'}`
  | `d.x${0 | 1}`
  | `mlm.${'x' | 'pre' | 'act' | 'h' | 'mean' | 'rstd' | 'logits' | 'probs' | 'losses' | 'dlogits' | 'dh' | 'dact' | 'dpre' | 'dx' | 'dseq' | 'zeros' | 'sink'}`
  | `nsp.${'logits' | 'losses' | 'probs' | 'dlogits' | 'dpooled'}`
  | `rtd.${'pre' | 'act' | 'logits' | 'dact' | 'dpre' | 'dseq'}`;

/**
 * Named buffers that grow to the largest batch seen and are then reused. A
 * view of a given length is made once and handed out again, so a training
 * step allocates nothing (no garbage for the collector to promote).
 */
export class Workspace {
  private f = new Map<string, { buf: Float32Array; views: Map<number, Float32Array> }>();
  private u = new Map<string, Uint8Array>();
  private i = new Map<string, Int32Array>();
  f32(name: Act, n: number): Float32Array {
    let e = this.f.get(name);
    if (!e || e.buf.length < n) { e = { buf: new Float32Array(n), views: new Map() }; this.f.set(name, e); }
    let v = e.views.get(n);
    if (!v) { v = e.buf.subarray(0, n); e.views.set(n, v); }
    return v;
  }
  u8(name: `${DropSite}.mask`, n: number): Uint8Array {
    let b = this.u.get(name);
    if (!b || b.length < n) { b = new Uint8Array(n); this.u.set(name, b); }
    return b.subarray(0, n);
  }
  i32(name: 'posIds' | 'typeIds' | 'packedIds' | 'dropSeeds', n: number): Int32Array {
    let b = this.i.get(name);
    if (!b || b.length < n) { b = new Int32Array(n); this.i.set(name, b); }
    return b.subarray(0, n);
  }
}

