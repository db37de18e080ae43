/** A minimal protobuf wire-format reader (TF bundle entries, SentencePiece models). */
import { JaBertError, registerError } from '../core/errors.js';
export class ProtoError extends JaBertError { override readonly code = 'ERR_JA_BERT_PROTOBUF'; }
registerError(ProtoError);

export class Proto {
  p = 0;
  constructor(readonly b: Uint8Array) {}
  get done(): boolean { return this.p >= this.b.length; }
  varint(): number {
    let v = 0, mul = 1;
    for (;;) {
      const x = this.b[this.p++];
      if (x === undefined) throw new ProtoError('truncated varint');
      v += (x & 0x7f) * mul;
      if (!(x & 0x80)) return v;
      mul *= 128;
    }
  }
  bytes(): Uint8Array {
    const n = this.varint();
    if (this.p + n > this.b.length) throw new ProtoError('field runs past the end of the message');
    const s = this.b.subarray(this.p, this.p + n);
    this.p += n;
    return s;
  }
  fixed32(): number { const v = new DataView(this.b.buffer, this.b.byteOffset + this.p, 4).getUint32(0, true); this.p += 4; return v; }
  float32(): number { const v = new DataView(this.b.buffer, this.b.byteOffset + this.p, 4).getFloat32(0, true); this.p += 4; return v; }
  /** next field: [field number, wire type], or null at the end */
  field(): [number, number] | null {
    if (this.done) return null;
    const tag = this.varint();
    return [Math.floor(tag / 8), tag & 7];
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.p += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.p += 4;
    else throw new ProtoError(`unsupported protobuf wire type ${wire}`);
  }
}
