/** `ja-bert bench` */
import { bench, type BenchOptions } from '../bench.js';
import { type Command, flagOptions } from './command.js';

export const command: Command = {
  name: 'bench',
  help: `  ja-bert bench train|infer [--layers 12 --hidden 768 --heads 12 --intermediate 3072 --vocab 32768
      --seq 128 --batch 8 --dtype auto|f32|bf16|int8 --steps 10 --warmup 2] [--vs-torch] [--breakdown]
      One JSON line: tokens/s of training steps (forward, loss, backward, AdamW) or inference forwards of a random BERT.
      --vs-torch runs the PyTorch twin in its best mode on this CPU in the same run; --breakdown adds the milliseconds
      per step by kind of operation (gemm, attention_softmax, gelu, layernorm, head_copies, ..., host: outside kernels).`,
  api: 'bench',
  flags: {
    layers: 'number', hidden: 'number', heads: 'number', intermediate: 'number', vocab: 'number', seq: 'number',
    batch: 'number', dtype: 'string', steps: 'number', warmup: 'number', 'vs-torch': 'boolean', breakdown: 'boolean' },
  job: 'bench',
  run({ flags, positional }) {
    console.log(JSON.stringify(bench({ ...flagOptions(flags), mode: (positional[0] ?? 'train') as BenchOptions['mode'] })));
    return 0;
  },
};
