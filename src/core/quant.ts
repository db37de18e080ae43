/**
 * Symmetric int8 quantisation with one scale per row, shared by the int8 ONNX
 * export (weights per output channel, embedding rows) and int8 caches (per token
 * row): q = round(x / s), s = max|row| / 127 (1 for an all-zero row), |q| ≤ 127.
 */
export function quantizeRows(w: Float32Array, rows: number, cols: number): { q: Int8Array; scale: Float32Array } {
  const q = new Int8Array(rows * cols), scale = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let mx = 0;
    for (let c = 0; c < cols; c++) mx = Math.max(mx, Math.abs(w[r * cols + c]!));
    const s = mx > 0 ? mx / 127 : 1;
    scale[r] = s;
    for (let c = 0; c < cols; c++) q[r * cols + c] = Math.max(-127, Math.min(127, Math.round(w[r * cols + c]! / s)));
  }
  return { q, scale };
}
