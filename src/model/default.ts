/**
 * The embedded default model: a small Japanese BERT that ja-bert pretrained
 * itself on Debian's Japanese documentation (models/ja-bert-mini-debian, see
 * its README.md). Commands use it when --model is omitted.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DataError } from '../data/processors.js';

/** dist/src/model/default.js -> <repo>/models/ja-bert-mini-debian */
export const DEFAULT_MODEL = fileURLToPath(new URL('../../../models/ja-bert-mini-debian', import.meta.url));

/** the given model folder, or the embedded default when none is given */
export function modelOrDefault(model: string | undefined): string {
  if (model !== undefined) return model;
  if (!existsSync(DEFAULT_MODEL)) throw new DataError(`no --model given and the default model is missing at ${DEFAULT_MODEL}`);
  return DEFAULT_MODEL;
}
