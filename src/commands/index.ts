/** The commands of the `ja-bert` CLI, one table, in the order of `ja-bert --help`. */
import { command as encode } from './encode.js';
import { command as finetune } from './finetune.js';
import { command as baseline } from './baseline.js';
import { command as predict } from './predict.js';
import { command as tokenize } from './tokenize.js';
import { command as bench } from './bench.js';
import { command as pretrain } from './pretrain.js';
import { command as corpus } from './corpus.js';
import { command as cache } from './cache.js';
import { command as worker } from './worker.js';
import { command as rank } from './rank.js';
import { command as compare } from './compare.js';
import { command as exportCommand } from './export.js';
import { command as demo } from './demo.js';
import { command as serve } from './serve.js';
import { command as info } from './info.js';
import { command as manpagePairs } from './manpage-pairs.js';
import type { Command } from './command.js';

export const COMMANDS: readonly Command[] = [encode, finetune, baseline, predict, tokenize, bench, pretrain, corpus, cache, worker, rank, compare, exportCommand, demo, serve, info, manpagePairs];

export const HELP_HEADER = `ja-bert — fine-tune Japanese BERT models in TypeScript on a native oneDNN engine

Usage (ja-bert <command> --help shows one command; ja-bert --version):`;

export const HELP_FOOTER = `Without --model, encode, finetune and baseline use the embedded default model (models/ja-bert-mini-debian).
--model also takes a Hugging Face Hub id, org/name[@revision]: read from the local Hugging Face cache (HF_HUB_CACHE,
HF_HOME), else downloaded from HF_ENDPOINT into it (HF_TOKEN for gated models; HF_HUB_OFFLINE=1 never connects).
--dtype auto (every command's default): bf16 where the CPU runs it natively (oneDNN avx512_core_bf16 or avx512_core_amx),
f32 elsewhere; an explicit bf16 on a CPU without it is refused (exit 2). Models are stored in f32 and load on any CPU.
--dtype int8 (inference: predict, encode, serve, rank, cache build, baseline, compare's timings, bench infer): the dense
layers run in int8 (weights quantised per output channel at load, activations per row as they come; VNNI or AMX-INT8 where
the CPU has them); layer norm, softmax and GELU stay f32. Training refuses it (exit 2). README: "int8 inference".
Environment: JA_BERT_THREADS sets the thread count (default: all cores). JA_BERT_MAX_ISA=avx2 (or sse41, avx512_core, ...)
caps both oneDNN and ja-bert's own kernels, so any machine runs as a CPU with only that ISA would.`;

/** the full help text: the header, every command's block, the notes that hold for all */
export const HELP = [HELP_HEADER, ...COMMANDS.map((c) => c.help), HELP_FOOTER].join('\n');

export { type Command, type CommandContext } from './command.js';
