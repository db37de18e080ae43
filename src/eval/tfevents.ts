/**
 * TensorBoard event files (`--report-to tensorboard`): the run's scalars —
 * train/loss and train/learning_rate per step, eval/<metric> per evaluation —
 * as tf.Event records, which TensorBoard reads from `OUT/runs/`. The record
 * framing (length, masked CRC-32C of the length, data, masked CRC-32C of the
 * data) follows TensorFlow's record_writer, with the CRC-32C and its mask
 * the TF1 checkpoint reader already has; the Event/Summary protobufs are
 * encoded by protobufjs.
 */
import protobuf from 'protobufjs';
import { crc32c, maskCrc } from '../io/tf1.js';

const root = protobuf.Root.fromJSON({
  nested: {
    Value: { fields: { tag: { type: 'string', id: 1 }, simpleValue: { type: 'float', id: 2 } } },
    Summary: { fields: { value: { rule: 'repeated', type: 'Value', id: 1 } } },
    Event: { fields: { wallTime: { type: 'double', id: 1 }, step: { type: 'int64', id: 2 }, fileVersion: { type: 'string', id: 3 }, summary: { type: 'Summary', id: 5 } } },
  },
});
export const EventType = root.lookupType('Event');

/** TensorFlow's masked CRC-32C of bytes (the same CRC and mask as the TF1 checkpoint reader's, io/tf1.ts) */
export function maskedCrc(b: Uint8Array): number {
  return maskCrc(crc32c(b));
}

export { crc32c };

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
