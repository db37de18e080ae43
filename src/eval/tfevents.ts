/**
 * TensorBoard event files (`--report-to tensorboard`): the run's scalars —
 * train/loss and train/learning_rate per step, eval/<metric> per evaluation —
 * as tf.Event records, which TensorBoard reads from `OUT/runs/`. The record
 * framing (length, masked CRC-32C of the length, data, masked CRC-32C of the
 * data) follows TensorFlow's record_writer; the Event/Summary protobufs are
 * encoded by protobufjs. CRC-32C is hand-written: a table, a few lines, and
 * no dependency offers it for this framing.
 */
import protobuf from 'protobufjs';

const root = protobuf.Root.fromJSON({
  nested: {
    Value: { fields: { tag: { type: 'string', id: 1 }, simpleValue: { type: 'float', id: 2 } } },
    Summary: { fields: { value: { rule: 'repeated', type: 'Value', id: 1 } } },
    Event: { fields: { wallTime: { type: 'double', id: 1 }, step: { type: 'int64', id: 2 }, fileVersion: { type: 'string', id: 3 }, summary: { type: 'Summary', id: 5 } } },
  },
});
export const EventType = root.lookupType('Event');

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32C (Castagnoli), as TensorFlow's crc32c */
export function crc32c(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TensorFlow's masked CRC: rotate right by 15, add a constant */
export function maskedCrc(b: Uint8Array): number {
  const c = crc32c(b);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

function record(data: Uint8Array): Buffer {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(data.length));
  const c1 = Buffer.alloc(4), c2 = Buffer.alloc(4);
  c1.writeUInt32LE(maskedCrc(len));
  c2.writeUInt32LE(maskedCrc(data));
  return Buffer.concat([len, c1, Buffer.from(data), c2]);
}

export interface Scalar { step: number; tag: string; value: number }

/** an event file: the version record, then one event per scalar */
export function eventsFile(scalars: Scalar[], wallTime = Date.now() / 1000): Buffer {
  const parts = [record(EventType.encode(EventType.create({ wallTime, fileVersion: 'brain.Event:2' })).finish())];
  for (const s of scalars) {
    if (!Number.isFinite(s.value)) continue;
    parts.push(record(EventType.encode(EventType.create({ wallTime, step: s.step, summary: { value: [{ tag: s.tag, simpleValue: s.value }] } })).finish()));
  }
  return Buffer.concat(parts);
}

/** the scalars of a run: train/loss and train/learning_rate per step, eval/<metric> per evaluation */
export function runScalars(curve: Array<{ step: number; loss: number; lr?: number }>, evals: Array<{ step: number; [k: string]: number | undefined }>): Scalar[] {
  const out: Scalar[] = [];
  for (const c of curve) {
    out.push({ step: c.step, tag: 'train/loss', value: c.loss });
    if (c.lr !== undefined) out.push({ step: c.step, tag: 'train/learning_rate', value: c.lr });
  }
  for (const e of evals) for (const [k, v] of Object.entries(e)) if (k !== 'step' && v !== undefined) out.push({ step: e.step, tag: `eval/${k.replace(/^eval_/, '')}`, value: v });
  return out;
}
