/** A minimal zip reader (stored and deflated entries, zip64) for pytorch_model.bin. */
import { inflateRawSync } from 'node:zlib';
import { CheckpointError } from './tensor.js';

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();
  constructor(private buf: Uint8Array, private path: string) {
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    // end of central directory: signature 0x06054b50 within the last 64 KiB + 22 bytes
    let eocd = -1;
    for (let i = buf.byteLength - 22; i >= Math.max(0, buf.byteLength - 65557); i--) {
      if (dv.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
    }
    if (eocd < 0) throw new CheckpointError(`${path}: not a zip archive (no end-of-central-directory record); legacy non-zip torch.save files are not supported, re-save with a current PyTorch`);
    let count = dv.getUint16(eocd + 10, true);
    let cdOffset = dv.getUint32(eocd + 16, true);
    if (cdOffset === 0xffffffff || count === 0xffff) {
      const loc = eocd - 20;
      if (loc < 0 || dv.getUint32(loc, true) !== 0x07064b50) throw new CheckpointError(`${path}: zip64 locator missing`);
      const z64 = Number(dv.getBigUint64(loc + 8, true));
      if (dv.getUint32(z64, true) !== 0x06064b50) throw new CheckpointError(`${path}: zip64 end record missing`);
      count = Number(dv.getBigUint64(z64 + 32, true));
      cdOffset = Number(dv.getBigUint64(z64 + 48, true));
    }
    let p = cdOffset;
    for (let i = 0; i < count; i++) {
      if (p + 46 > buf.byteLength || dv.getUint32(p, true) !== 0x02014b50) throw new CheckpointError(`${path}: corrupt central directory at entry ${i}`);
      const method = dv.getUint16(p + 10, true);
      let compressedSize = dv.getUint32(p + 20, true);
      let size = dv.getUint32(p + 24, true);
      const nlen = dv.getUint16(p + 28, true), xlen = dv.getUint16(p + 30, true), clen = dv.getUint16(p + 32, true);
      let localOffset = dv.getUint32(p + 42, true);
      const name = new TextDecoder().decode(buf.subarray(p + 46, p + 46 + nlen));
      // zip64 extra field (id 1): the 0xffffffff fields follow in order
      let x = p + 46 + nlen;
      const xend = x + xlen;
      while (x + 4 <= xend) {
        const id = dv.getUint16(x, true), len = dv.getUint16(x + 2, true);
        if (id === 1) {
          let q = x + 4;
          if (size === 0xffffffff) { size = Number(dv.getBigUint64(q, true)); q += 8; }
          if (compressedSize === 0xffffffff) { compressedSize = Number(dv.getBigUint64(q, true)); q += 8; }
          if (localOffset === 0xffffffff) { localOffset = Number(dv.getBigUint64(q, true)); q += 8; }
        }
        x += 4 + len;
      }
      this.entries.set(name, { name, method, compressedSize, size, localOffset });
      p = xend + clen;
    }
  }

  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (!e) throw new CheckpointError(`${this.path}: no entry ${name} in the archive`);
    const dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    const h = e.localOffset;
    if (dv.getUint32(h, true) !== 0x04034b50) throw new CheckpointError(`${this.path}: corrupt local header for ${name}`);
    const start = h + 30 + dv.getUint16(h + 26, true) + dv.getUint16(h + 28, true);
    if (start + e.compressedSize > this.buf.byteLength) throw new CheckpointError(`${this.path}: entry ${name} runs past the end of the file; the file is truncated`);
    const raw = this.buf.subarray(start, start + e.compressedSize);
    if (e.method === 0) return raw;
    if (e.method === 8) return new Uint8Array(inflateRawSync(raw));
    throw new CheckpointError(`${this.path}: entry ${name} uses unsupported compression method ${e.method}`);
  }
}
