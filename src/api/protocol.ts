/** The messages between the library's main-thread API and its engine thread (src/api/worker.ts). */
import type { MessagePort } from 'node:worker_threads';
import type { SerializedError } from '../core/errors.js';

import type { JobName } from '../jobs.js';

export type { JobName };

export type Task =
  | { op: 'load'; kind: 'classifier' | 'encoder'; dir: string; options: Record<string, unknown> }
  | { op: 'load'; kind: 'scorer'; dir: string; options: Record<string, unknown> & { cache: string } }
  | { op: 'classify'; handle: number; inputs: Array<{ text: string; textB?: string }>; batchSize?: number }
  | { op: 'encode'; handle: number; texts: string[]; options: { pooling?: string; normalize?: boolean; batchSize?: number } }
  | { op: 'rank'; handle: number; query: { id?: string; text?: string; top?: number } }
  | { op: 'tokens'; handle: number; inputs: Array<{ text: string; textB?: string }> }
  | { op: 'dispose'; handle: number }
  | { op: 'info' }
  | { op: 'job'; name: JobName; options: Record<string, unknown>; port?: MessagePort; abort?: Int32Array };

export type Reply = { ok: unknown } | { error: SerializedError };
