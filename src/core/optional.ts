/**
 * Packages only one feature needs are optional peer dependencies (npm does not install them with
 * ja-bert): @lancedb/lancedb and apache-arrow for `cache build --index` / retrieve-then-rerank, bullmq
 * and ioredis for `cache build --queue` and `worker`. They are loaded on first use; when one is absent
 * the feature says in one line which packages to add, at the versions ja-bert is tested with.
 */
import { JaBertError, registerError } from './errors.js';
import { packageInfo } from './native.js';

export class MissingPackageError extends JaBertError { override readonly code = 'ERR_JA_BERT_MISSING_PACKAGE'; }
registerError(MissingPackageError);

/** the optional packages of each feature */
export const OPTIONAL_FEATURES = {
  index: { what: 'a LanceDB index (cache build --index, ranking a cache that names one)', packages: ['@lancedb/lancedb', 'apache-arrow'] },
  queue: { what: 'queued cache builds (cache build --queue, worker)', packages: ['bullmq', 'ioredis'] },
} as const;

/** the package a module-not-found error names, when it is one of `packages` */
function missingOf(e: unknown, packages: readonly string[]): string | null {
  const err = e as NodeJS.ErrnoException;
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' && err?.code !== 'MODULE_NOT_FOUND') return null;
  return packages.find((p) => err.message.includes(`'${p}'`) || err.message.includes(`"${p}"`)) ?? null;
}

/** `load()` (a dynamic import of the module that uses the feature's packages), or one line naming what to install */
export async function loadFeature<T>(feature: keyof typeof OPTIONAL_FEATURES, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    const f = OPTIONAL_FEATURES[feature];
    const missing = missingOf(e, f.packages);
    if (!missing) throw e;
    // the versions the test suite runs (package.json's devDependencies; the peer ranges allow others)
    const tested = ((packageInfo() as { devDependencies?: Record<string, string> }).devDependencies) ?? {};
    const spec = f.packages.map((p) => (tested[p] ? `${p}@${tested[p]}` : p)).join(' ');
    throw new MissingPackageError(`${f.what} needs the optional package ${missing}, which is not installed: npm install ${spec}`);
  }
}
