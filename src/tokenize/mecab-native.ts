/**
 * The MeCab binding (build/Release/jabert_mecab.node, native/mecab.cc): an
 * addon of its own, so that tokenizing needs libmecab only, not the compute
 * engine. Loaded on first use.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildHint, EngineError, packageRoot } from '../core/native.js';

export interface MecabBinding {
  /** argv as for the mecab command; returns a handle */
  mecabOpen(argv: string[]): number;
  /** surface forms joined by NUL characters */
  mecabSurfaces(handle: number, text: string): string;
  mecabClose(handle: number): void;
}

let binding: MecabBinding | null = null;

export function mecabBinding(): MecabBinding {
  if (binding) return binding;
  const path = join(packageRoot(), 'build', 'Release', 'jabert_mecab.node');
  if (!existsSync(path)) throw new EngineError(`ja-bert: the MeCab binding is not built (${path} is missing). ${buildHint()}`);
  binding = createRequire(import.meta.url)(path) as MecabBinding;
  return binding;
}
