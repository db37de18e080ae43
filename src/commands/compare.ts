/** `ja-bert compare` */
import { mkdirSync } from 'node:fs';
import { compare, compareMarkdown, DEFAULT_COMPARE_HEADS, type CompareOptions } from '../compare.js';
import { modelOrDefault } from '../model/default.js';
import { nativeKernels } from '../core/native.js';
import { type Command, dtypeOf, need, flagOptions } from './command.js';

export const command: Command = {
  name: 'compare',
  help: `  ja-bert compare [--model M] --texts F --pairs F --output DIR [--heads ${DEFAULT_COMPARE_HEADS.join(',')}]
      [--max-steps N --epochs 3 --eval-ratio 0.333 --batch-size 32 --learning-rate 5e-5 --dtype auto|f32|bf16|int8 --timing-pairs 100 --split random|group --max-seq-length 128 --seed 42 --json --config run.json]
      trains every head on the same split; DIR/compare.md, compare.json (accuracy with its Wilson interval, macro_f1, train_seconds,
      pair_ms, rank10k_ms, cache_bytes_per_text per head; vs_cross: McNemar's test and the paired-bootstrap accuracy difference
      against the cross-encoder) and compare.svg (accuracy vs ranking time).`,
  api: 'compare',
  flags: { model: 'string', texts: 'string', pairs: 'string', output: 'string', heads: 'string', 'max-steps': 'number', epochs: 'number',
    'eval-ratio': 'number', 'batch-size': 'number', 'learning-rate': 'number', 'max-seq-length': 'number', seed: 'number', dtype: 'string', 'timing-pairs': 'number',
    config: 'string', split: 'string', json: 'boolean' },
  config: true,
  job: 'compare',
  run({ flags, progress, endProgress }) {
    const output = need(flags, 'output');
    mkdirSync(output, { recursive: true });
    const { json, ...rest } = flagOptions(flags);
    const o = { ...rest, dtype: dtypeOf(flags.dtype), model: modelOrDefault(flags.model as string | undefined), texts: need(flags, 'texts'), pairs: need(flags, 'pairs'), output, kernels: nativeKernels(), log: progress,
      heads: typeof flags.heads === 'string' ? flags.heads.split(',').map((h) => h.trim()).filter(Boolean) : undefined } as CompareOptions;
    const rows = compare(o);
    endProgress();
    if (json === true) { console.log(JSON.stringify(rows)); return 0; } // the rows of compare.json
    console.log(compareMarkdown(rows, { model: (flags.model as string | undefined) ?? 'default', pairs: o.pairs, maxSteps: o.maxSteps, epochs: o.epochs, dtype: o.dtype }));
    console.log(`-> ${output}/compare.md, compare.json, compare.svg`);
    return 0;
  },
};
