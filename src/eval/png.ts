/**
 * The report's pictures as PNG without dependencies: a tiny RGB canvas
 * (rectangles, lines, a 5x7 digit font for counts and axis values) and a PNG
 * encoder over Node's zlib.
 */
import { deflateSync } from 'node:zlib';
import type { Metrics } from './metrics.js';
import { extent, heatColor, smooth } from './html.js';

const CRC = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; t[n] = c >>> 0; }
  return t;
})();
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC[(c ^ x) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function encodePng(w: number, h: number, rgb: Uint8Array): Buffer {
  const chunk = (type: string, data: Uint8Array) => {
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
  const raw = Buffer.alloc(h * (1 + 3 * w));
  for (let y = 0; y < h; y++) { raw[y * (1 + 3 * w)] = 0; raw.set(rgb.subarray(y * 3 * w, (y + 1) * 3 * w), y * (1 + 3 * w) + 1); }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}

// 5x7 glyphs, one row per byte (low 5 bits, MSB left)
const FONT: Record<string, number[]> = {
  '0': [14, 17, 19, 21, 25, 17, 14], '1': [4, 12, 4, 4, 4, 4, 14], '2': [14, 17, 1, 2, 4, 8, 31], '3': [31, 2, 4, 2, 1, 17, 14],
  '4': [2, 6, 10, 18, 31, 2, 2], '5': [31, 16, 30, 1, 1, 17, 14], '6': [6, 8, 16, 30, 17, 17, 14], '7': [31, 1, 2, 4, 8, 8, 8],
  '8': [14, 17, 17, 14, 17, 17, 14], '9': [14, 17, 17, 15, 1, 2, 12], '.': [0, 0, 0, 0, 0, 12, 12], '-': [0, 0, 0, 31, 0, 0, 0], 'e': [0, 0, 14, 17, 31, 16, 14],
};

export class Canvas {
  readonly px: Uint8Array;
  constructor(readonly w: number, readonly h: number) { this.px = new Uint8Array(w * h * 3).fill(255); }
  set(x: number, y: number, c: [number, number, number]): void {
    x = Math.round(x); y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.w || y >= this.h) return;
    this.px.set(c, (y * this.w + x) * 3);
  }
  rect(x: number, y: number, w: number, h: number, c: [number, number, number]): void {
    for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) this.set(x + i, y + j, c);
  }
  line(x0: number, y0: number, x1: number, y1: number, c: [number, number, number]): void {
    const n = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
    for (let k = 0; k <= n; k++) { const x = x0 + ((x1 - x0) * k) / n, y = y0 + ((y1 - y0) * k) / n; this.set(x, y, c); this.set(x, y + 1, c); }
  }
  /** digits and . - e at scale s; returns the width drawn */
  text(x: number, y: number, s: string, c: [number, number, number], scale = 1): number {
    let cx = x;
    for (const ch of s) {
      const g = FONT[ch];
      if (g) g.forEach((row, j) => { for (let i = 0; i < 5; i++) if (row & (16 >> i)) this.rect(cx + i * scale, y + j * scale, scale, scale, c); });
      cx += 6 * scale;
    }
    return cx - x;
  }
  png(): Buffer { return encodePng(this.w, this.h, this.px); }
}

export function confusionPng(m: Metrics): Buffer {
  const n = m.labels.length, cell = Math.max(28, Math.min(80, Math.floor(480 / n))), pad = 10;
  const c = new Canvas(n * cell + 2 * pad, n * cell + 2 * pad);
  const max = Math.max(1, ...m.confusion.flat());
  m.confusion.forEach((row, i) => row.forEach((v, j) => {
    c.rect(pad + j * cell, pad + i * cell, cell - 1, cell - 1, heatColor(v, max));
    const s = String(v), scale = cell >= 50 && s.length <= 4 ? 2 : 1, tw = s.length * 6 * scale;
    c.text(pad + j * cell + (cell - tw) / 2, pad + i * cell + (cell - 7 * scale) / 2, s, v / max > 0.55 ? [255, 255, 255] : [0, 0, 0], scale);
  }));
  return c.png();
}

/** train loss (blue, smoothed), eval loss (red) and eval accuracy (green, right-hand scale 0-1) */
export function curvesPng(curve: Array<{ step: number; loss: number }>, evals: Array<{ step: number; eval_accuracy: number; eval_loss: number }>): Buffer {
  const W = 640, H = 300, L = 50, R = 20, T = 15, B = 25;
  const c = new Canvas(W, H);
  const train = smooth(curve.map((p) => [p.step, p.loss] as [number, number]), Math.max(1, Math.round(curve.length / 30)));
  const [y0, y1] = extent([...train.map((p) => p[1]), ...evals.map((e) => e.eval_loss)]);
  const x1 = Math.max(1, extent([...curve.map((p) => p.step), ...evals.map((e) => e.step)])[1]);
  const lo = Number.isFinite(y0) ? y0 : 0, hi = Number.isFinite(y1) && y1 > lo ? y1 : lo + 1;
  const px = (x: number) => L + (x / x1) * (W - L - R), py = (y: number, a = lo, b = hi) => T + (1 - (y - a) / (b - a)) * (H - T - B);
  c.line(L, H - B, W - R, H - B, [68, 68, 68]); c.line(L, T, L, H - B, [68, 68, 68]);
  c.text(2, T, hi.toPrecision(3), [0, 0, 0]); c.text(2, H - B - 7, lo.toPrecision(3), [0, 0, 0]); c.text(W - R - 6 * String(x1).length, H - B + 8, String(x1), [0, 0, 0]);
  const draw = (pts: Array<[number, number]>, col: [number, number, number], a?: number, b?: number) => {
    for (let k = 1; k < pts.length; k++) c.line(px(pts[k - 1]![0]), py(pts[k - 1]![1], a, b), px(pts[k]![0]), py(pts[k]![1], a, b), col);
    if (pts.length === 1) c.rect(px(pts[0]![0]) - 2, py(pts[0]![1], a, b) - 2, 5, 5, col);
  };
  draw(train, [31, 119, 180]);
  draw(evals.map((e) => [e.step, e.eval_loss]), [214, 39, 40]);
  draw(evals.map((e) => [e.step, e.eval_accuracy]), [44, 160, 44], 0, 1);
  return c.png();
}
