/** `ja-bert predict` */
import { predict } from '../finetune.js';
import { modelOrDefault } from '../model/default.js';
import { nativeKernels } from '../core/native.js';
import { type Command, need, flagOptions } from './command.js';

export const command: Command = {
  name: 'predict',
  help: `  ja-bert predict [--model OUT] --input IN.jsonl --output P.jsonl [--dtype auto|f32|bf16|int8 --max-seq-length N --lowercase]
      IN lines {"text": ..., "text_b": ...?}; writes {"guid", "label", "score", "probabilities"} per line (JSONL; as the library
      and the server answer; "prediction" repeats the label for one release; a regressor's score is its output) and
      test_results.tsv beside P.
      A pretrained model without a classifier (the default model) answers with its next-sentence head: is_next / not_next.`,
  api: 'predict',
  flags: { model: 'string', input: 'string', output: 'string', 'max-seq-length': 'number', lowercase: 'boolean', dtype: 'string' },
  job: 'predict',
  run({ flags, progress, endProgress, log }) {
    const output = need(flags, 'output');
    const n = predict({ ...flagOptions(flags), model: modelOrDefault(flags.model as string | undefined), input: need(flags, 'input'), output, kernels: nativeKernels(), log: progress });
    endProgress();
    log(`predicted ${n} examples -> ${output}`);
    return 0;
  },
};
