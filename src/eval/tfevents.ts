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
    SessionLog: { fields: { status: { type: 'int32', id: 1 }, checkpointPath: { type: 'string', id: 2 }, msg: { type: 'string', id: 3 } } },
    Event: { fields: { wallTime: { type: 'double', id: 1 }, step: { type: 'int64', id: 2 }, fileVersion: { type: 'string', id: 3 }, summary: { type: 'Summary', id: 5 }, sessionLog: { type: 'SessionLog', id: 6 } } },
  },
});
export const EventType = root.lookupType('Event');

/** TensorFlow's masked CRC-32C of bytes (the same CRC and mask as the TF1 checkpoint reader's, io/tf1.ts) */
export function maskedCrc(b: Uint8Array): number {
  return maskCrc(crc32c(b));
}

export { crc32c };

/** one TFRecord: length, masked CRC of the length, data, masked CRC of the data */
export function record(data: Uint8Array): Buffer {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(data.length));
  const c1 = Buffer.alloc(4), c2 = Buffer.alloc(4);
  c1.writeUInt32LE(maskedCrc(len));
  c2.writeUInt32LE(maskedCrc(data));
  return Buffer.concat([len, c1, Buffer.from(data), c2]);
}

export interface Scalar { step: number; tag: string; value: number }

/** the first record of every event file */
export function versionRecord(wallTime: number): Buffer {
  return record(EventType.encode(EventType.create({ wallTime, fileVersion: 'brain.Event:2' })).finish());
}

/** one scalar's event (a non-finite value has none: TensorBoard cannot chart it) */
export function scalarRecord(s: Scalar, wallTime: number): Buffer | null {
  if (!Number.isFinite(s.value)) return null;
  return record(EventType.encode(EventType.create({ wallTime, step: s.step, summary: { value: [{ tag: s.tag, simpleValue: s.value }] } })).finish());
}

/**
 * SessionLog START at `step`: what TensorFlow's supervisor writes when a run restarts from a
 * checkpoint. TensorBoard then drops the events of earlier files whose step is ≥ `step`: those an
 * interrupted process logged after its last checkpoint, which the resumed run logs again.
 */
export function sessionStartRecord(step: number, wallTime: number): Buffer {
  return record(EventType.encode(EventType.create({ wallTime, step, sessionLog: { status: 1 } })).finish());
}

/** an event file: the version record, then one event per scalar */
export function eventsFile(scalars: Scalar[], wallTime = Date.now() / 1000): Buffer {
  const parts = [versionRecord(wallTime)];
  for (const s of scalars) { const r = scalarRecord(s, wallTime); if (r) parts.push(r); }
  return Buffer.concat(parts);
}
