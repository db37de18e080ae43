/** `ja-bert pretrain` */
import { pretrain, type PretrainOptions } from '../pretrain/pretrain.js';
import { nativeKernels } from '../core/native.js';
import { type Command, need, flagOptions } from './command.js';
import { currentComm } from '../train/distributed.js';

export const command: Command = {
  name: 'pretrain',
  help: `  ja-bert pretrain --corpus corpus.txt --output OUT (--tokenizer spm.model [--layers 4 --hidden 256 --heads 4 --intermediate 1024] | --model DIR)
      [--max-seq-length 128 --batch-size 32 --learning-rate 1e-4 --epochs 1 --max-steps N --warmup-proportion 0.1 --seed 42 --save-steps 200 --eval-steps N
       --dtype auto|f32|bf16 --overwrite]
      [--objective mlm|nsp|sop|electra --wwm --report-to none|tensorboard] [--generator-size 0.25 --disc-weight 50 --embedding-size N] [--config run.json]
      Masked-LM pretraining (dynamic 15 % masking, 80/10/10); rerun the same command to resume. --model continues a BERT
      (every objective), a DeBERTa-v2/v3 or ModernBERT (--objective mlm, their masked-LM heads) or an ELECTRA discriminator (--objective electra).
      metrics.csv (and with --report-to tensorboard, runs/events.out.tfevents.*) grows as the run goes: a row per step and per evaluation.
      --objective nsp|sop: [CLS] A [SEP] B [SEP] pairs from consecutive sentences with next-sentence (B random half the time)
      or sentence-order (A and B swapped half the time) prediction on the pooled output; --wwm: whole-word masking (MeCab UniDic words).
      --objective electra: ELECTRA's replaced-token detection. A generator (the same depth, --generator-size of the width) fills the
      masked positions by sampling; the discriminator (OUT, ElectraForPreTraining) learns which tokens were replaced; they share the
      embeddings (--embedding-size wide) and train on generator loss + --disc-weight x discriminator loss. OUT/generator: ElectraForMaskedLM.
      mpirun -np N ja-bert pretrain …: data-parallel over N ranks (mlm, nsp, sop; --batch-size is the global batch); --distributed off
      trains each rank alone. docs/DISTRIBUTED.md.`,
  api: 'pretrain',
  flags: {
    corpus: 'string', output: 'string', model: 'string', tokenizer: 'string', layers: 'number', hidden: 'number', heads: 'number', intermediate: 'number',
    'max-seq-length': 'number', 'batch-size': 'number', 'learning-rate': 'number', epochs: 'number', 'max-steps': 'number',
    'warmup-proportion': 'number', seed: 'number', dtype: 'string', 'save-steps': 'number', 'eval-steps': 'number', overwrite: 'boolean',
    objective: 'string', wwm: 'boolean', 'report-to': 'string', config: 'string', 'generator-size': 'number', 'disc-weight': 'number', 'embedding-size': 'number', distributed: 'string' },
  config: true,
  job: 'pretrain',
  run({ flags, progress, endProgress }) {
    const output = need(flags, 'output');
    const r = pretrain({ ...flagOptions(flags), corpus: need(flags, 'corpus'), output, kernels: nativeKernels(), log: progress } as PretrainOptions);
    // data-parallel: rank 0 reports, the other ranks trained beside it
    if ((currentComm()?.rank ?? 0) !== 0) return 0;
    endProgress();
    console.log(`pretrained ${r.steps} steps in ${r.seconds.toFixed(0)} s: held-out MLM loss ${r.evalLoss.toFixed(4)}, accuracy ${r.evalAccuracy.toFixed(4)}${r.evalPairAccuracy === null ? '' : `, pair accuracy ${r.evalPairAccuracy.toFixed(4)}`}${r.evalRtdAccuracy === null ? '' : `, replaced-token accuracy ${r.evalRtdAccuracy.toFixed(4)}`} -> ${output}`);
    return 0;
  },
};
