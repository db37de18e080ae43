/** `ja-bert encode` */
import { encodeFile } from '../encode.js';
import type { Pooling } from '../infer/embed.js';
import { modelOrDefault } from '../model/default.js';
import { nativeKernels } from '../core/native.js';
import { type Command, need, flagOptions } from './command.js';

export const command: Command = {
  name: 'encode',
  help: `  ja-bert encode [--model DIR] --input IN.jsonl --output OUT.jsonl [--all-tokens] [--batch-size N] [--dtype auto|f32|bf16|int8]
      [--tokenizer PATH] [--max-seq-length N] [--lowercase] [--pooling mean|cls|pooled [--normalize]]
      --pooling adds "embedding": a sentence vector (mean of the real tokens, [CLS], or the pooler output); --normalize: unit length.
      DIR: config.json (or bert_config.json) + model.safetensors | pytorch_model.bin | TF1 checkpoint;
      a TF1 checkpoint may be named by its prefix (DIR/model.ckpt-1400000).
      Each input line: {"text": "...", "text_b": "..."?} (tokenized with the model folder's tokenizer)
      or {"input_ids": [...], "token_type_ids": [...]?, "attention_mask": [...]?}`,
  api: 'encodeFile',
  flags: { model: 'string', input: 'string', output: 'string', 'all-tokens': 'boolean', 'batch-size': 'number', dtype: 'string',
    tokenizer: 'string', 'max-seq-length': 'number', lowercase: 'boolean', pooling: 'string', normalize: 'boolean' },
  job: 'encodeFile',
  run({ flags, progress, endProgress, log }) {
    const output = need(flags, 'output');
    const r = encodeFile({ ...flagOptions(flags), model: modelOrDefault(flags.model as string | undefined), input: need(flags, 'input'), output,
      pooling: flags.pooling as Pooling | undefined, kernels: nativeKernels(), log: progress });
    endProgress();
    log(`encoded ${r.lines} lines -> ${output}`);
    return 0;
  },
};
