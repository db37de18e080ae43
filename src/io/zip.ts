/** A minimal zip reader (stored and deflated entries, zip64) for pytorch_model.bin. */
import { crc32, inflateRawSync } from 'node:zlib';
import { CheckpointError } from './tensor.js';

export interface ZipEntry {
  name: string;
  method: number;
  crc32: number;
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
      const crc32 = dv.getUint32(p + 16, true);
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
      this.entries.set(name, { name, method, crc32, compressedSize, size, localOffset });
      p = xend + clen;
    }
  }

  /** an entry's bytes, checked against its declared size and CRC-32; `maxBytes` bounds what may be inflated (a zip bomb stops there) */
  read(name: string, maxBytes = Infinity): Uint8Array {
    const e = this.entries.get(name);
    if (!e) throw new CheckpointError(`${this.path}: no entry ${name} in the archive`);
    if (e.size > maxBytes) throw new CheckpointError(`${this.path}: entry ${name} declares ${e.size} bytes, more than the ${maxBytes} it may hold`);
    const dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    const h = e.localOffset;
    if (dv.getUint32(h, true) !== 0x04034b50) throw new CheckpointError(`${this.path}: corrupt local header for ${name}`);
    const start = h + 30 + dv.getUint16(h + 26, true) + dv.getUint16(h + 28, true);
    if (start + e.compressedSize > this.buf.byteLength) throw new CheckpointError(`${this.path}: entry ${name} runs past the end of the file; the file is truncated`);
    const raw = this.buf.subarray(start, start + e.compressedSize);
    let out: Uint8Array;
    if (e.method === 0) out = raw;
    else if (e.method === 8) {
      try { out = new Uint8Array(inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) })); } catch (err) { throw new CheckpointError(`${this.path}: entry ${name} does not inflate to its declared ${e.size} bytes (${(err as Error).message}); the file is damaged`); }
    } else throw new CheckpointError(`${this.path}: entry ${name} uses unsupported compression method ${e.method}`);
    if (out.byteLength !== e.size) throw new CheckpointError(`${this.path}: entry ${name} holds ${out.byteLength} bytes, its header says ${e.size}; the file is damaged`);
    if (crc32(out) !== e.crc32) throw new CheckpointError(`${this.path}: entry ${name} fails its CRC-32 check; the file is damaged`);
    return out;
  }
}
