/**
 * One base class for every error ja-bert reports to its user: a bad input
 * file, option, model folder, cache... Each carries a stable `code` (for
 * programs) and the exit status the CLI ends with. Anything else thrown is a
 * bug, and the CLI shows its stack trace.
 */
export class JaBertError extends Error {
  /** a stable machine-readable code, e.g. ERR_JA_BERT_INPUT */
  readonly code: string = 'ERR_JA_BERT';
  /** the CLI's exit status for this error: 2 for a bad command line, 1 otherwise */
  readonly exitCode: number = 1;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** a long job (training, a cache build) cancelled through its signal; rerunning the same call resumes it */
export class AbortedError extends JaBertError { override readonly code = 'ERR_JA_BERT_ABORTED'; }

const registry = new Map<string, new (message: string) => JaBertError>();

/** remember an error class so an error crossing a thread boundary comes back as itself */
export function registerError(...classes: Array<new (message: string) => JaBertError>): void {
  for (const c of classes) registry.set(c.name, c);
}

/** a plain object for postMessage: the class name, code and message */
export interface SerializedError { name: string; message: string; stack?: string; jaBert: boolean }

export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) return { name: e.name, message: e.message, stack: e.stack, jaBert: e instanceof JaBertError };
  return { name: 'Error', message: String(e), jaBert: false };
}

/** the error again, as an instance of its own class where that class is registered */
export function deserializeError(s: SerializedError): Error {
  const C = s.jaBert ? registry.get(s.name) : undefined;
  const e = C ? new C(s.message) : new Error(s.message);
  if (!C && s.name !== 'Error') e.name = s.name;
  if (s.stack) e.stack = s.stack;
  return e;
}

registerError(AbortedError);
