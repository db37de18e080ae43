/** `ja-bert baseline` */
import { baseline, type BaselineOptions } from '../baseline/baseline.js';
import { crossValidate } from '../crossval.js';
import { classificationReport, confusionMatrixText } from '../eval/metrics.js';
import { modelOrDefault } from '../model/default.js';
import { nativeKernels } from '../core/native.js';
import { type Command, need, flagOptions } from './command.js';

export const command: Command = {
  name: 'baseline',
  help: `  ja-bert baseline [--model DIR] --output OUT (--texts honbun.json --pairs negaposi.json [--eval-ratio 0.333] | --train F [--eval F] | --livedoor ldcc-20140209.tar.gz)
      [--pooling pooled|cls|mean] [--pair-features concat|full] [--C 1.0] [--dtype auto|f32|bf16|int8] [--max-seq-length 128 --seed 42 --lowercase --overwrite --config run.json]
      --pooling: default pooled (BERT's pooler); cls for XLM-R/RoBERTa, DistilBERT and ELECTRA, whose pooler is their untrained head's first layer.
      [--split random|group --folds K --bootstrap-samples 1000] (as finetune's)
      Frozen encoder vectors + L2 logistic regression; the same report files as finetune, plus logreg.safetensors.`,
  api: 'baseline',
  flags: {
    model: 'string', output: 'string', texts: 'string', pairs: 'string', 'eval-ratio': 'number', train: 'string', eval: 'string', livedoor: 'string',
    'max-seq-length': 'number', pooling: 'string', 'pair-features': 'string', C: 'number', seed: 'number', overwrite: 'boolean', lowercase: 'boolean',
    dtype: 'string', config: 'string', split: 'string', folds: 'number', 'bootstrap-samples': 'number' },
  config: true,
  job: 'baseline',
  run({ flags, log }) {
    const o = { ...flagOptions(flags, { train: 'trainFile', eval: 'evalFile' }), model: modelOrDefault(flags.model as string | undefined), output: need(flags, 'output'),
      kernels: nativeKernels(), log } as BaselineOptions;
    if (o.folds !== undefined) {
      const cv = crossValidate({ method: 'baseline', ...o });
      console.log(`${cv.text}\nfull reports in ${o.output} (each fold's in ${o.output}/fold-k)`);
      return 0;
    }
    const r = baseline(o);
    console.log(`${r.evalText}\n${classificationReport(r.metrics)}\n${confusionMatrixText(r.metrics.confusion)}\n${r.reliabilityText}\nfull reports in ${o.output}`);
    return 0;
  },
};
