/** `ja-bert finetune` */
import { crossValidate } from '../crossval.js';
import { classificationReport, confusionMatrixText } from '../eval/metrics.js';
import { finetune, type FinetuneOptions } from '../finetune.js';
import { HEAD_TYPES } from '../model/heads/index.js';
import { modelOrDefault } from '../model/default.js';
import { UsageError } from './args.js';
import { nativeKernels } from '../core/native.js';
import { type Command, need, boolFlag, flagOptions } from './command.js';
import { currentComm } from '../train/distributed.js';

export const command: Command = {
  name: 'finetune',
  help: `  ja-bert finetune [--model DIR] --output OUT (--texts honbun.json --pairs negaposi.json [--eval-ratio 0.333] | --train F [--eval F]
      | --livedoor ldcc-20140209.tar.gz)
      [--max-seq-length 128 --batch-size 32 --learning-rate 5e-5 --epochs 3 --max-steps N --warmup-proportion 0.1
       --seed 42 --dtype auto|f32|bf16 --save-steps 100 --gradient-accumulation-steps 1 --eval-steps N (0: each epoch)
       --early-stopping-patience N --metric-for-best-model loss|accuracy|macro_f1|mcc|roc_auc|pearson|spearmanr|micro_f1|subset_accuracy --greater-is-better true|false
       --weight-decay 0.01 --max-grad-norm 1.0 --label-smoothing 0 --class-weights balanced|w0,w1,... --problem-type single_label_classification|regression|multi_label_classification
       --report-to none|tensorboard --overwrite --lowercase --random-init --head ${['cross', ...HEAD_TYPES].join('|')} --head-dim K --poly-codes M
       --loss cross-entropy|contrastive|cosent --loss-scale 20 --split random|group --folds K --bootstrap-samples 1000 --baseline-run DIR]
      --split group: every text (by title in honbun_data.json, else by normalised text) in one split only, so no eval text is
      seen in training; the pair graph's components are kept whole where they fit, else cut by assigning their texts at
      random (so the labels' shares hold) and the crossing pairs dropped (counted); the eval pairs are within 10 % of
      --eval-ratio × the pairs kept or the split is refused. split.json in OUT records
      every split (train, eval, dropped: 0-based indices into the data file).
      Every pair run reports its leakage (eval pairs whose texts were trained on, duplicates, contradicting labels) with the
      accuracy on each subset, and 95 % intervals (Wilson for accuracy; a seeded bootstrap of --bootstrap-samples for
      macro-F1, MCC, ROC-AUC) in report.json, report.html and the printed block.
      --folds K: k-fold cross-validation (grouped with --split group): OUT/fold-1..K, then mean ± std per metric in
      OUT/report.json and OUT/cv_results.txt.
      --baseline-run DIR: a finished run (baseline, or another finetune) on the same eval pairs: McNemar's exact test and the
      paired-bootstrap interval of the accuracy difference (report.json's mcnemar).
      --random-init: the model's config and tokenizer with fresh random weights (training from scratch).
      Decimal labels (STS scores such as 3.8; JSONL "label" or "score") train a regressor: one output, MSE, eval Pearson/Spearman;
      a list of labels per JSONL line ("labels": [...]) trains multi-label classification (sigmoid per label, micro/macro F1).
      --config run.json: the same options from a JSON object ({"learning_rate": 3e-5, ...}; flags given too win),
      also for baseline, pretrain and compare.
      --head other than cross: A and B are encoded separately (max-seq-length/2 tokens each) so B can be cached (cache build, rank).
      --head bi --loss contrastive: sentence-transformers' MultipleNegativesRankingLoss on the positive pairs (every other B of
      the batch a negative); --loss cosent: CoSENT on every pair (0/1 labels or scores). Both train the cosine similarity
      (the model's head is cosine) and then fit its classifier to the training pairs, so rank orders by cosine.
      Rerunning the same command on the same OUT resumes from its last checkpoint (after a crash or kill).
      Writes into OUT: the fine-tuned model (config.json, model.safetensors, the tokenizer files), eval_results.txt
      (run_classifier's block, written last: the run finished), eval_results.json, report.json, report.html,
      classification_report.txt, confusion_matrix.txt, eval_predictions.jsonl, split.json, confusion_matrix.png,
      learning_curve.png, and metrics.csv, which grows as the run goes (a row per step, per evaluation, and the final
      evaluation as kind "final"); --report-to tensorboard also appends runs/events.out.tfevents.* as it goes (tensorboard
      --logdir OUT/runs follows it live). run.json names the run; checkpoint-N and best-model exist while it runs.
      mpirun -np N ja-bert finetune …: data-parallel over N ranks (--batch-size is the global batch, split between them; the
      same weights as one process up to summation order); --distributed off trains each rank alone. docs/DISTRIBUTED.md.`,
  api: 'finetune',
  flags: {
    model: 'string', output: 'string', texts: 'string', pairs: 'string', 'eval-ratio': 'number', train: 'string', eval: 'string', livedoor: 'string',
    'max-seq-length': 'number', 'batch-size': 'number', 'learning-rate': 'number', epochs: 'number', 'max-steps': 'number',
    'warmup-proportion': 'number', seed: 'number', dtype: 'string', overwrite: 'boolean', lowercase: 'boolean', 'save-steps': 'number',
    'gradient-accumulation-steps': 'number', 'eval-steps': 'number', 'early-stopping-patience': 'number',
    head: 'string', 'head-dim': 'number', 'poly-codes': 'number', 'random-init': 'boolean',
    'metric-for-best-model': 'string', 'greater-is-better': 'string', 'weight-decay': 'number', 'max-grad-norm': 'number',
    'label-smoothing': 'number', 'class-weights': 'string', 'problem-type': 'string', 'report-to': 'string', loss: 'string', 'loss-scale': 'number', config: 'string',
    split: 'string', folds: 'number', 'bootstrap-samples': 'number', 'baseline-run': 'string', distributed: 'string' },
  config: true,
  job: 'finetune',
  run({ flags, progress, endProgress }) {
    const cw = flags['class-weights'];
    const o = {
      ...flagOptions(flags, { train: 'trainFile', eval: 'evalFile', 'gradient-accumulation-steps': 'gradientAccumulation' }),
      model: modelOrDefault(flags.model as string | undefined), output: need(flags, 'output'), kernels: nativeKernels(), log: progress,
      greaterIsBetter: boolFlag('greater-is-better', flags['greater-is-better']),
      classWeights: cw === undefined ? undefined : cw === 'balanced' ? 'balanced' : String(cw).split(',').map((w) => (w.trim() === '' ? NaN : Number(w))),
    } as FinetuneOptions;
    if (o.folds !== undefined) {
      if (o.baselineRun !== undefined) throw new UsageError('--baseline-run compares one run with another; with --folds, compare the folds\' runs (OUT/fold-k)');
      const cv = crossValidate({ method: 'finetune', ...o });
      endProgress();
      console.log(`${cv.text}\nfull reports in ${o.output} (each fold's in ${o.output}/fold-k)`);
      return 0;
    }
    const r = finetune(o);
    // data-parallel: rank 0 reports, the other ranks trained beside it
    if ((currentComm()?.rank ?? 0) !== 0) return 0;
    endProgress();
    console.log(r.metrics ? `${r.evalText}\n${classificationReport(r.metrics)}\n${confusionMatrixText(r.metrics.confusion)}\n${r.reliabilityText}\nfull reports in ${o.output}`
      : `${r.evalText}\n${r.reliabilityText}\nfull reports in ${o.output}`);
    return 0;
  },
};
