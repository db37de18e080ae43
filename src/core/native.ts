/**
 * The one module that loads the native addon. It reports what it found
 * (oneDNN version, ISA, bf16 support, threads) through engineInfo().
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kernels } from './kernels.js';
import { JaBertError, registerError } from './errors.js';

/** the native engine cannot be loaded or set up (not built, a bad ISA cap, a bad JA_BERT_THREADS) */
export class EngineError extends JaBertError { override readonly code = 'ERR_JA_BERT_ENGINE'; }
registerError(EngineError);

export interface EngineInfo {
  onednn: string;
  threads: number;
  isa: string;
  bf16Native: boolean;
  /** whether oneDNN's int8 matmul sums in 32 bits throughout (VNNI or AMX): int8 weights then use ±127, else ±63 */
  int8Vnni: boolean;
  /** the build of the addon's own loops in use: x86-64, x86-64-v3 (AVX2) or x86-64-v4 (AVX-512) */
  kernels: string;
  /** the ISA cap in force (JA_BERT_MAX_ISA or ONEDNN_MAX_CPU_ISA), '' for none */
  cap: string;
  matmulPrimitives: number;
}

interface NativeModule extends Omit<Kernels, 'name' | 'isa' | 'autoDtype' | 'bf16Supported' | 'int8WeightMax'> {
  setNumThreads(n: number): void;
  info(): EngineInfo;
}

/** the package root: the folder holding package.json, two or three levels above this file */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'binding.gyp'))) return dir;
    dir = resolve(dir, '..');
  }
  throw new EngineError('ja-bert: cannot find the package root (package.json + binding.gyp) above ' + fileURLToPath(import.meta.url));
}

/** the package's name and version, from its package.json */
/** how to build the addons: setup in a clone; npm rebuild where ja-bert is an installed dependency (its install script did not run) */
export function buildHint(): string {
  return existsSync(join(packageRoot(), 'scripts', 'setup.sh')) ? 'Run: bash scripts/setup.sh'
    : 'Run: npm rebuild ja-bert (with Debian\'s libdnnl-dev, libmecab-dev, g++ and make installed; where npm holds back install scripts, npm install-scripts approve ja-bert first)';
}

export function packageInfo(): { name: string; version: string } {
  return JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { name: string; version: string };
}

let mod: NativeModule | null = null;

function load(): NativeModule {
  if (mod) return mod;
  const path = join(packageRoot(), 'build', 'Release', 'jabert.node');
  if (!existsSync(path)) {
    throw new EngineError(`ja-bert: the native engine is not built (${path} is missing). ${buildHint()}`);
  }
  const require = createRequire(import.meta.url);
  try {
    mod = require(path) as NativeModule;
  } catch (e) {
    // a bad JA_BERT_MAX_ISA is reported by the addon's init: one line, no stack
    throw new EngineError((e as Error).message);
  }
  const env = process.env.JA_BERT_THREADS;
  if (env !== undefined) {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new EngineError(`ja-bert: JA_BERT_THREADS must be a positive integer, got "${env}"`);
    mod.setNumThreads(n);
  }
  return mod;
}

export function engineInfo(): EngineInfo {
  return load().info();
}

export function setNumThreads(n: number): void {
  load().setNumThreads(n);
}

let kernels: Kernels | null = null;
/** the native kernels, behind the same interface as the TS reference */
export function nativeKernels(): Kernels {
  if (kernels) return kernels;
  const m = load();
  const info = m.info();
  kernels = Object.freeze({ ...m, name: 'native', isa: info.isa, autoDtype: info.bf16Native ? 'bf16' : 'f32', bf16Supported: info.bf16Native, int8WeightMax: info.int8Vnni ? 127 : 63 }) as unknown as Kernels;
  return kernels;
}
