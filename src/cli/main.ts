#!/usr/bin/env node
/** ja-bert command line: a thin layer over the library. */
import { benchDefaults, runBench, runTorchBench } from '../bench.js';
import { engineInfo, nativeKernels, packageInfo } from '../core/native.js';
import { encodeFile } from '../encode.js';
import { JaBertError } from '../core/errors.js';
import { runEngineDemo, runManpageDemo } from '../demo.js';
import { buildCorpus } from '../pretrain/corpus.js';
import { pretrain, type PretrainOptions } from '../pretrain/pretrain.js';
import { writeFileAtomic } from '../io/atomic.js';
import { finetune, type FinetuneOptions, predict } from '../finetune.js';
import { baseline, type BaselineOptions, type PairFeatureKind, type Pooling } from '../baseline/baseline.js';
import { crossValidate } from '../crossval.js';
import type { SplitStrategy } from '../data/split.js';
import { tokenizeFile } from '../tokenize/file.js';
import { classificationReport, confusionMatrixText } from '../eval/metrics.js';
import { modelOrDefault } from '../model/default.js';
import { buildCache, openRanker } from '../cache/index.js';
import { compare, compareMarkdown, DEFAULT_COMPARE_HEADS } from '../compare.js';
import type { CacheStorage } from '../cache/index.js';
import { exportModel } from '../export/export.js';
import type { OnnxTask } from '../export/onnx.js';
import { linkPairs, readManPages } from '../data/manpages.js';
import { parseHubId, resolveModel } from '../io/hub.js';
import { closest, commandHelp, type FlagSpec, parseArgs, UsageError, wantsHelp, withConfig } from './args.js';
import { parseDtype, resolveDtype, type DTypeOption } from '../core/dtype.js';
import { HEAD_TYPES } from '../model/heads/index.js';
import { intOption } from '../core/options.js';
import { loadFeature } from '../core/optional.js';
import { mkdirSync } from 'node:fs';

const HELP = `ja-bert — fine-tune Japanese BERT models in TypeScript on a native oneDNN engine

Usage (ja-bert <command> --help shows one command; ja-bert --version):
  ja-bert encode [--model DIR] --input IN.jsonl --output OUT.jsonl [--all-tokens] [--batch-size N] [--dtype auto|f32|bf16]
      [--tokenizer PATH] [--max-seq-length N] [--lowercase] [--pooling mean|cls|pooled [--normalize]]
      --pooling adds "embedding": a sentence vector (mean of the real tokens, [CLS], or the pooler output); --normalize: unit length.
      DIR: config.json (or bert_config.json) + model.safetensors | pytorch_model.bin | TF1 checkpoint;
      a TF1 checkpoint may be named by its prefix (DIR/model.ckpt-1400000).
      Each input line: {"text": "...", "text_b": "..."?} (tokenized with the model folder's tokenizer)
      or {"input_ids": [...], "token_type_ids": [...]?, "attention_mask": [...]?}
  ja-bert finetune [--model DIR] --output OUT (--texts honbun.json --pairs negaposi.json [--eval-ratio 0.333] | --train F [--eval F]
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
  ja-bert baseline [--model DIR] --output OUT (--texts honbun.json --pairs negaposi.json [--eval-ratio 0.333] | --train F [--eval F] | --livedoor ldcc-20140209.tar.gz)
      [--pooling pooled|cls|mean] [--pair-features concat|full] [--C 1.0] [--dtype auto|f32|bf16]
      --pooling: default pooled (BERT's pooler); cls for XLM-R/RoBERTa, DistilBERT and ELECTRA, whose pooler is their untrained head's first layer.
      [--split random|group --folds K --bootstrap-samples 1000] (as finetune's)
      Frozen encoder vectors + L2 logistic regression; the same report files as finetune, plus logreg.safetensors.
  ja-bert predict [--model OUT] --input IN.jsonl --output P.jsonl [--dtype auto|f32|bf16]
      IN lines {"text": ..., "text_b": ...?}; writes {"guid", "label", "score", "probabilities"} per line (JSONL; as the library
      and the server answer; "prediction" repeats the label for one release; a regressor's score is its output) and
      test_results.tsv beside P.
      A pretrained model without a classifier (the default model) answers with its next-sentence head: is_next / not_next.
  ja-bert tokenize --tokenizer PATH --input IN.txt|IN.jsonl --output OUT.jsonl [--lowercase] [--special]
      PATH: a SentencePiece .model, a WordPiece vocab.txt, or a model folder holding one;
      IN: one text per line (.txt) or one JSON string per line (.jsonl). --mecab-dic DIR overrides MeCab's dictionary.
      Each output line: {"ids": [...], "tokens": [...]}; --special adds [CLS] ... [SEP].
  ja-bert bench train|infer [--layers 12 --hidden 768 --heads 12 --intermediate 3072 --vocab 32768
      --seq 128 --batch 8 --dtype auto|f32|bf16 --steps 10 --warmup 2] [--vs-torch]
  ja-bert pretrain --corpus corpus.txt --output OUT (--tokenizer spm.model [--layers 4 --hidden 256 --heads 4 --intermediate 1024] | --model DIR)
      [--max-seq-length 128 --batch-size 32 --learning-rate 1e-4 --epochs 1 --max-steps N --warmup-proportion 0.1 --seed 42 --save-steps 200 --eval-steps N
       --dtype auto|f32|bf16 --overwrite]
      [--objective mlm|nsp|sop|electra --wwm --report-to none|tensorboard] [--generator-size 0.25 --disc-weight 50 --embedding-size N]
      Masked-LM pretraining (dynamic 15 % masking, 80/10/10); rerun the same command to resume.
      metrics.csv (and with --report-to tensorboard, runs/events.out.tfevents.*) grows as the run goes: a row per step and per evaluation.
      --objective nsp|sop: [CLS] A [SEP] B [SEP] pairs from consecutive sentences with next-sentence (B random half the time)
      or sentence-order (A and B swapped half the time) prediction on the pooled output; --wwm: whole-word masking (MeCab UniDic words).
      --objective electra: ELECTRA's replaced-token detection. A generator (the same depth, --generator-size of the width) fills the
      masked positions by sampling; the discriminator (OUT, ElectraForPreTraining) learns which tokens were replaced; they share the
      embeddings (--embedding-size wide) and train on generator loss + --disc-weight x discriminator loss. OUT/generator: ElectraForMaskedLM.
  ja-bert corpus --output corpus.txt [--report corpus.json]
      Japanese pretraining text from Debian's documentation packages (never man pages or chABSA).
  ja-bert cache build --model M --texts honbun.json|texts.jsonl --cache C [--batch-size 32 --dtype auto|f32|bf16 --save-seconds 30 --cache-dtype f32|bf16|int8 --overwrite]
      encode every text once with a pair-head model and store its B representation (keyed by id, text hash, model hash);
      rerunning re-encodes only new or changed texts. Progress is saved to C.partial every --save-seconds;
      a killed build, rerun, resumes from it. --from-embeddings F.jsonl instead of --texts: the encoder's outputs computed
      elsewhere (the exported onnx/model.onnx), one line {"id", "text", "last_hidden_state": [[...]], "pooler_output": [...]}
      per text; the head's B side is computed from them (docs/EXPORT.md). An existing C that is not a ja-bert cache is refused
      (--overwrite replaces it); C may not be the texts or a file of the model.
      --cache-dtype: how the representations are stored: f32 (default), bf16 (half the size) or int8 (a quarter, one scale
      per row); --dtype is the encoder's compute dtype.
      --index lancedb://PATH: also an approximate-nearest-neighbour index (LanceDB) of the texts' keys, named in the cache,
      for retrieve-then-rerank (dot, additive, bi, cosine, poly heads); written after the cache, with or without --queue.
      PATH is a folder inside the cache's folder: new, empty, or an index ja-bert wrote (marked by .ja-bert-index).
      --index-type ivf_flat|ivf_pq: beyond 4,096 keys, IVF over the keys themselves (default) or product-quantised
      (D/8 bytes a key, candidates re-scored on the stored keys: a much smaller index).
      --queue redis://HOST:PORT [--chunk-size 256 --stall-seconds 600]: the texts to encode go as chunks on a BullMQ queue,
      encoded by \`ja-bert worker\`s (which must read the same model path and cache folder); a crashed worker's chunk is
      retried, and a rerun keeps the chunks done (CACHE.chunks/).
  ja-bert worker --queue redis://HOST:PORT [--concurrency 1 --lock-seconds 30]
      encode cache chunks from the queue until SIGTERM/SIGINT (the chunk in hand is finished first).
  ja-bert rank --model M --cache C (--id TITLE | --text TEXT) [--top 10 --dtype auto|f32|bf16 --chunked --retrieve 200 --nprobes N --json]
      A cache that names an index: the top --retrieve K by the index, reranked by the head (--retrieve 0: every candidate);
      --nprobes: the index partitions a search visits (default 5 % of them, at least 8).
      --chunked: read the candidates from the file 4,096 at a time instead of all into memory (automatic for a cache
      larger than a quarter of RAM).
      score A against every cached B; prints the top K with P(label 1) and the latency.
  ja-bert compare [--model M] --texts F --pairs F --output DIR [--heads ${DEFAULT_COMPARE_HEADS.join(',')}]
      [--max-steps N --epochs 3 --eval-ratio 0.333 --batch-size 32 --learning-rate 5e-5 --dtype auto|f32|bf16 --timing-pairs 100 --split random|group --json]
      trains every head on the same split; DIR/compare.md, compare.json (accuracy with its Wilson interval, macro_f1, train_seconds,
      pair_ms, rank10k_ms, cache_bytes_per_text per head; vs_cross: McNemar's test and the paired-bootstrap accuracy difference
      against the cross-encoder) and compare.svg (accuracy vs ranking time).
  ja-bert export [--model DIR] --output OUT [--format onnx|hf --quantize none|int8 --opset 17 --task text-classification|fill-mask|feature-extraction --lowercase --overwrite]
      onnx (default): transformers.js' layout (config.json, tokenizer.json, tokenizer_config.json, special_tokens_map.json,
      onnx/model.onnx, onnx/model_quantized.onnx with --quantize int8), which onnxruntime and transformers.js load offline;
      hf: config.json + model.safetensors + the tokenizer files. Inputs input_ids, attention_mask, token_type_ids; output logits
      (the classifier, or the default model's next-sentence head), or last_hidden_state + pooler_output for pair-head models,
      whose head goes to pair_head.safetensors + pair_head.json. MeCab tokenizers export vocab.txt + tokenizer_config.json
      (tokenizer.json cannot express MeCab).
  ja-bert demo [--output ja-bert-demo --model DIR --data DIR --epochs 3 --dtype auto|f32|bf16]
      the seed's job on a shipped sample of Japanese man-page link pairs with the default model:
      frozen-vector baseline and fine-tuning, reports side by side (full reports under --output)
  ja-bert demo --engine  a small random-weight BERT learning a synthetic pair task in seconds
  ja-bert serve [--model DIR --cache C --retrieve 200 --host 127.0.0.1 --port 8080 --dtype auto|f32|bf16]
      [--max-batch-size 32 --max-wait-ms 0 --no-batching --body-limit 1048576 --max-inputs 64 --max-text-length 10000 --max-queue 4096]
      HTTP JSON server: POST /v1/classify {"inputs": [{"text": ..., "text_b": ...}]}, POST /v1/encode {"inputs": [...], "pooling": "mean"},
      POST /v1/rank {"text": ... | "id": ..., "top": 10} (with --cache; a cache that names an index: the top --retrieve K by it,
      reranked by the head; --retrieve 0: every candidate), GET /healthz, GET /metrics (Prometheus).
      Text Embeddings Inference's routes too (POST /embed, /predict, /rerank, /similarity, GET /info, /health, TEI's errors and
      headers) and OpenAI's POST /v1/embeddings (float or base64, usage in tokens), so their clients work unchanged.
      Requests arriving together run as one batch (dynamic batching); SIGTERM stops accepting, finishes what is in flight, exits 0.
  ja-bert info          engine facts (oneDNN version, ISA, native bf16, what --dtype auto picks, kernel build, ISA cap, threads)

  ja-bert manpage-pairs --output DIR [--man-dir /usr/share/man/ja --max-pairs N --max-chars 500 --seed 42]
      Link pairs from Debian's manpages-ja in the seed's honbun_data.json / negaposi.json format.
Without --model, encode, finetune and baseline use the embedded default model (models/ja-bert-mini-debian).
--model also takes a Hugging Face Hub id, org/name[@revision]: read from the local Hugging Face cache (HF_HUB_CACHE,
HF_HOME), else downloaded from HF_ENDPOINT into it (HF_TOKEN for gated models; HF_HUB_OFFLINE=1 never connects).
--dtype auto (every command's default): bf16 where the CPU runs it natively (oneDNN avx512_core_bf16 or avx512_core_amx),
f32 elsewhere; an explicit bf16 on a CPU without it is refused (exit 2). Models are stored in f32 and load on any CPU.
Environment: JA_BERT_THREADS sets the thread count (default: all cores). JA_BERT_MAX_ISA=avx2 (or sse41, avx512_core, ...)
caps both oneDNN and ja-bert's own kernels, so any machine runs as a CPU with only that ISA would.`;

function packageVersion(): string {
  const pkg = packageInfo();
  return `${pkg.name} ${pkg.version}`;
}

/** progress lines (throttled by core/progress.ts): rewritten in place on a terminal, one per line otherwise */
const progress = (l: string) => process.stderr.write((process.stderr.isTTY ? '\r\x1b[K' : '') + l + (process.stderr.isTTY ? '' : '\n'));

function need(flags: Record<string, unknown>, name: string): string {
  const v = flags[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

/** --name true|false */
function boolFlag(name: string, v: unknown): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === 'true' || v === 'false') return v === 'true';
  throw new UsageError(`--${name} must be true or false, got "${String(v)}"`);
}

/** --dtype auto|f32|bf16, checked against this CPU before anything runs */
function dtypeOf(v: unknown): DTypeOption {
  const d = parseDtype(v);
  resolveDtype(d, nativeKernels());
  return d;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === '--version' || cmd === '-v') { console.log(packageVersion()); return 0; }
  if (cmd === 'help' || cmd === '--help' || cmd === '-h') {
    // help, help --help, help CMD
    const topic = rest.find((a) => !a.startsWith('-'));
    console.log(topic === undefined ? HELP : commandHelp(HELP, topic) ?? unknownCommand(topic));
    return 0;
  }
  if (cmd !== undefined && !COMMANDS.includes(cmd)) unknownCommand(cmd);
  if (cmd !== undefined && wantsHelp(rest)) { console.log(commandHelp(HELP, cmd)); return 0; }
  if (cmd !== undefined && rest.includes('--version')) { console.log(packageVersion()); return 0; }
  // --model org/name[@revision]: from the Hugging Face cache, or downloaded into it (io/hub.ts), before the command runs
  for (let i = 0; i < rest.length; i++) {
    const eq = rest[i]!.startsWith('--model=') ? rest[i]!.slice('--model='.length) : null;
    const value = eq ?? (rest[i] === '--model' ? rest[i + 1] : undefined);
    if (value === undefined || !parseHubId(value)) continue;
    const dir = await resolveModel(value, { log: progress });
    if (eq !== null) rest[i] = `--model=${dir}`; else rest[i + 1] = dir;
  }
  switch (cmd) {
    case undefined: case 'help': case '--help': case '-h':
      console.log(HELP);
      return 0;
    case 'tokenize': {
      const { flags } = parseArgs(rest, { tokenizer: 'string', input: 'string', output: 'string', lowercase: 'boolean', special: 'boolean', 'mecab-dic': 'string' });
      const output = need(flags, 'output');
      const n = tokenizeFile({ tokenizer: need(flags, 'tokenizer'), input: need(flags, 'input'), output, lowercase: flags.lowercase === true ? true : undefined, special: flags.special === true, mecabDic: flags['mecab-dic'] as string | undefined });
      console.error(`tokenized ${n} texts -> ${output}`);
      return 0;
    }
    case 'finetune': {
      const spec: FlagSpec = {
        model: 'string', output: 'string', texts: 'string', pairs: 'string', 'eval-ratio': 'number', train: 'string', eval: 'string', livedoor: 'string',
        'max-seq-length': 'number', 'batch-size': 'number', 'learning-rate': 'number', epochs: 'number', 'max-steps': 'number',
        'warmup-proportion': 'number', seed: 'number', dtype: 'string', overwrite: 'boolean', lowercase: 'boolean', 'save-steps': 'number',
        'gradient-accumulation-steps': 'number', 'eval-steps': 'number', 'early-stopping-patience': 'number',
        head: 'string', 'head-dim': 'number', 'poly-codes': 'number', 'random-init': 'boolean',
        'metric-for-best-model': 'string', 'greater-is-better': 'string', 'weight-decay': 'number', 'max-grad-norm': 'number',
        'label-smoothing': 'number', 'class-weights': 'string', 'problem-type': 'string', 'report-to': 'string', loss: 'string', 'loss-scale': 'number', config: 'string',
        split: 'string', folds: 'number', 'bootstrap-samples': 'number', 'baseline-run': 'string' };
      const flags = withConfig(parseArgs(rest, spec).flags, spec);
      const num = (k: string) => flags[k] as number | undefined;
      const o: FinetuneOptions = {
        model: modelOrDefault(flags.model as string | undefined), output: need(flags, 'output'), kernels: nativeKernels(),
        livedoor: flags.livedoor as string | undefined, texts: flags.texts as string | undefined, pairs: flags.pairs as string | undefined, evalRatio: num('eval-ratio'),
        trainFile: flags.train as string | undefined, evalFile: flags.eval as string | undefined,
        maxSeqLength: num('max-seq-length'), batchSize: num('batch-size'), learningRate: num('learning-rate'), epochs: num('epochs'),
        maxSteps: num('max-steps'), warmupProportion: num('warmup-proportion'), seed: num('seed'), dtype: dtypeOf(flags.dtype),
        overwrite: flags.overwrite === true, lowercase: flags.lowercase === true ? true : undefined, saveSteps: num('save-steps'),
        gradientAccumulation: num('gradient-accumulation-steps'), evalSteps: num('eval-steps'), earlyStoppingPatience: num('early-stopping-patience'),
        head: flags.head as string | undefined, headDim: num('head-dim'), polyCodes: num('poly-codes'), randomInit: flags['random-init'] === true,
        metricForBestModel: flags['metric-for-best-model'] as string | undefined, greaterIsBetter: boolFlag('greater-is-better', flags['greater-is-better']),
        weightDecay: num('weight-decay'), maxGradNorm: num('max-grad-norm'), labelSmoothing: num('label-smoothing'),
        reportTo: flags['report-to'] as 'none' | 'tensorboard' | undefined,
        loss: flags.loss as 'cross-entropy' | 'contrastive' | 'cosent' | undefined, lossScale: num('loss-scale'),
        problemType: flags['problem-type'] as 'regression' | 'single_label_classification' | 'multi_label_classification' | undefined,
        classWeights: flags['class-weights'] === undefined ? undefined : flags['class-weights'] === 'balanced' ? 'balanced' : String(flags['class-weights']).split(',').map((w) => (w.trim() === '' ? NaN : Number(w))),
        split: flags.split as SplitStrategy | undefined, folds: num('folds'), bootstrapSamples: num('bootstrap-samples'), baselineRun: flags['baseline-run'] as string | undefined,
        log: progress,
      };
      if (o.folds !== undefined) {
        if (o.baselineRun !== undefined) throw new UsageError('--baseline-run compares one run with another; with --folds, compare the folds\' runs (OUT/fold-k)');
        const cv = crossValidate({ method: 'finetune', ...o });
        if (process.stderr.isTTY) process.stderr.write('\n');
        console.log(`${cv.text}\nfull reports in ${o.output} (each fold's in ${o.output}/fold-k)`);
        return 0;
      }
      const r = finetune(o);
      if (process.stderr.isTTY) process.stderr.write('\n');
      console.log(r.metrics ? `${r.evalText}\n${classificationReport(r.metrics)}\n${confusionMatrixText(r.metrics.confusion)}\n${r.reliabilityText}\nfull reports in ${flags.output as string}`
        : `${r.evalText}\n${r.reliabilityText}\nfull reports in ${flags.output as string}`);
      return 0;
    }
    case 'baseline': {
      const spec: FlagSpec = {
        model: 'string', output: 'string', texts: 'string', pairs: 'string', 'eval-ratio': 'number', train: 'string', eval: 'string', livedoor: 'string',
        'max-seq-length': 'number', pooling: 'string', 'pair-features': 'string', C: 'number', seed: 'number', overwrite: 'boolean', lowercase: 'boolean',
        dtype: 'string', config: 'string', split: 'string', folds: 'number', 'bootstrap-samples': 'number' };
      const flags = withConfig(parseArgs(rest, spec).flags, spec);
      const o: BaselineOptions = {
        model: modelOrDefault(flags.model as string | undefined), output: need(flags, 'output'), kernels: nativeKernels(),
        livedoor: flags.livedoor as string | undefined, texts: flags.texts as string | undefined, pairs: flags.pairs as string | undefined, evalRatio: flags['eval-ratio'] as number | undefined,
        trainFile: flags.train as string | undefined, evalFile: flags.eval as string | undefined,
        maxSeqLength: flags['max-seq-length'] as number | undefined, pooling: flags.pooling as Pooling | undefined, pairFeatures: flags['pair-features'] as PairFeatureKind | undefined,
        C: flags.C as number | undefined, seed: flags.seed as number | undefined, overwrite: flags.overwrite === true,
        lowercase: flags.lowercase === true ? true : undefined, dtype: dtypeOf(flags.dtype), log: (l) => console.error(l),
        split: flags.split as SplitStrategy | undefined, folds: flags.folds as number | undefined, bootstrapSamples: flags['bootstrap-samples'] as number | undefined,
      };
      if (o.folds !== undefined) {
        const cv = crossValidate({ method: 'baseline', ...o });
        console.log(`${cv.text}\nfull reports in ${o.output} (each fold's in ${o.output}/fold-k)`);
        return 0;
      }
      const r = baseline(o);
      console.log(`${r.evalText}\n${classificationReport(r.metrics)}\n${confusionMatrixText(r.metrics.confusion)}\n${r.reliabilityText}\nfull reports in ${flags.output as string}`);
      return 0;
    }
    case 'predict': {
      const { flags } = parseArgs(rest, { model: 'string', input: 'string', output: 'string', 'max-seq-length': 'number', lowercase: 'boolean', dtype: 'string' });
      const n = predict({ model: modelOrDefault(flags.model as string | undefined), input: need(flags, 'input'), output: need(flags, 'output'), kernels: nativeKernels(), dtype: dtypeOf(flags.dtype),
        maxSeqLength: flags['max-seq-length'] as number | undefined, lowercase: flags.lowercase === true ? true : undefined, log: progress });
      if (process.stderr.isTTY) process.stderr.write('\n');
      console.error(`predicted ${n} examples -> ${flags.output as string}`);
      return 0;
    }
    case 'pretrain': {
      const spec: FlagSpec = {
        corpus: 'string', output: 'string', model: 'string', tokenizer: 'string', layers: 'number', hidden: 'number', heads: 'number', intermediate: 'number',
        'max-seq-length': 'number', 'batch-size': 'number', 'learning-rate': 'number', epochs: 'number', 'max-steps': 'number',
        'warmup-proportion': 'number', seed: 'number', dtype: 'string', 'save-steps': 'number', 'eval-steps': 'number', overwrite: 'boolean',
        objective: 'string', wwm: 'boolean', 'report-to': 'string', config: 'string', 'generator-size': 'number', 'disc-weight': 'number', 'embedding-size': 'number' };
      const flags = withConfig(parseArgs(rest, spec).flags, spec);
      const num = (k: string) => flags[k] as number | undefined;
      const r = pretrain({
        generatorSize: num('generator-size'), discWeight: num('disc-weight'), embeddingSize: num('embedding-size'),
        corpus: need(flags, 'corpus'), output: need(flags, 'output'), kernels: nativeKernels(), model: flags.model as string | undefined,
        tokenizer: flags.tokenizer as string | undefined, layers: num('layers'), hidden: num('hidden'), heads: num('heads'), intermediate: num('intermediate'),
        maxSeqLength: num('max-seq-length'), batchSize: num('batch-size'), learningRate: num('learning-rate'), epochs: num('epochs'), maxSteps: num('max-steps'),
        warmupProportion: num('warmup-proportion'), seed: num('seed'), dtype: dtypeOf(flags.dtype), saveSteps: num('save-steps'),
        evalSteps: num('eval-steps'), overwrite: flags.overwrite === true, objective: flags.objective as PretrainOptions['objective'], wwm: flags.wwm === true,
        reportTo: flags['report-to'] as 'none' | 'tensorboard' | undefined,
        log: progress,
      });
      if (process.stderr.isTTY) process.stderr.write('\n');
      console.log(`pretrained ${r.steps} steps in ${r.seconds.toFixed(0)} s: held-out MLM loss ${r.evalLoss.toFixed(4)}, accuracy ${r.evalAccuracy.toFixed(4)}${r.evalPairAccuracy === null ? '' : `, pair accuracy ${r.evalPairAccuracy.toFixed(4)}`}${r.evalRtdAccuracy === null ? '' : `, replaced-token accuracy ${r.evalRtdAccuracy.toFixed(4)}`} -> ${flags.output as string}`);
      return 0;
    }
    case 'export': {
      const { flags } = parseArgs(rest, { model: 'string', output: 'string', format: 'string', quantize: 'string', opset: 'number', task: 'string', lowercase: 'boolean', overwrite: 'boolean' });
      const r = exportModel({ model: modelOrDefault(flags.model as string | undefined), output: need(flags, 'output'), kernels: nativeKernels(), format: flags.format as 'onnx' | 'hf' | undefined,
        quantize: flags.quantize as 'none' | 'int8' | undefined, opset: flags.opset as number | undefined, task: flags.task as OnnxTask | undefined,
        lowercase: flags.lowercase === true ? true : undefined, overwrite: flags.overwrite === true, version: packageVersion(), log: (l) => console.error(l) });
      const mb = (n: number | null) => (n === null ? '' : ` (${(n / 1e6).toFixed(1)} MB)`);
      console.log(`exported ${r.task}${r.labels.length ? ` [${r.labels.join(', ')}]` : ''} -> ${r.output}\n${r.files.map((f) => `  ${f}${f === 'onnx/model.onnx' ? mb(r.onnxBytes) : f === 'onnx/model_quantized.onnx' ? mb(r.quantizedBytes) : ''}`).join('\n')}`);
      return 0;
    }
    case 'corpus': {
      const { flags } = parseArgs(rest, { output: 'string', report: 'string' });
      const output = need(flags, 'output');
      const r = buildCorpus({ output, log: (l) => console.error(l) });
      const report = JSON.stringify({ ...r, built: new Date().toISOString() }, null, 1) + '\n';
      if (flags.report) writeFileAtomic(flags.report as string, (w) => w(report));
      console.error(`corpus: ${r.total.documents} documents, ${r.total.sentences} sentences, ${r.total.japaneseChars} Japanese characters -> ${output}`);
      return 0;
    }
    case 'manpage-pairs': {
      const { flags } = parseArgs(rest, { 'man-dir': 'string', output: 'string', 'max-pairs': 'number', 'max-chars': 'number', seed: 'number' });
      const out = need(flags, 'output');
      const maxChars = intOption('max-chars', flags['max-chars'] as number | undefined, 500), seed = intOption('seed', flags.seed as number | undefined, 42, 0, 2 ** 32 - 1);
      const maxPairs = flags['max-pairs'] === undefined ? undefined : intOption('max-pairs', flags['max-pairs'] as number, 1);
      const pages = readManPages((flags['man-dir'] as string | undefined) ?? '/usr/share/man/ja', maxChars);
      const set = linkPairs(pages, seed, maxPairs);
      mkdirSync(out, { recursive: true });
      writeFileAtomic(`${out}/honbun_data.json`, (w) => w(JSON.stringify(set.texts, null, 1) + '\n'));
      writeFileAtomic(`${out}/negaposi.json`, (w) => w('[\n' + set.pairs.map((p) => JSON.stringify(p)).join(',\n') + '\n]\n'));
      console.log(`${pages.length} pages read; ${Object.keys(set.texts).length} texts, ${set.pairs.length} pairs (${set.pairs.filter((p) => p[2] === 1).length} linked) -> ${out}`);
      return 0;
    }
    case 'cache': {
      const { flags, positional } = parseArgs(rest, { model: 'string', texts: 'string', 'from-embeddings': 'string', cache: 'string', 'batch-size': 'number', dtype: 'string', 'save-seconds': 'number', 'cache-dtype': 'string',
        queue: 'string', 'chunk-size': 'number', 'stall-seconds': 'number', index: 'string', 'index-type': 'string', overwrite: 'boolean' });
      if (positional[0] !== 'build') throw new UsageError('usage: ja-bert cache build --model M (--texts F | --from-embeddings F.jsonl) --cache C');
      const r = await buildCache({ model: need(flags, 'model'), texts: flags['from-embeddings'] !== undefined ? flags.texts as string | undefined : need(flags, 'texts'),
        fromEmbeddings: flags['from-embeddings'] as string | undefined, cache: need(flags, 'cache'), kernels: nativeKernels(), index: flags.index as string | undefined,
        indexType: flags['index-type'] as 'ivf_flat' | 'ivf_pq' | undefined, queue: flags.queue as string | undefined, chunkSize: flags['chunk-size'] as number | undefined,
        stallSeconds: flags['stall-seconds'] as number | undefined, batchSize: flags['batch-size'] as number | undefined, dtype: dtypeOf(flags.dtype), log: progress,
        partialEverySeconds: flags['save-seconds'] as number | undefined, cacheDtype: flags['cache-dtype'] as CacheStorage | undefined, overwrite: flags.overwrite === true });
      if (process.stderr.isTTY) process.stderr.write('\n');
      console.log(`cache: ${r.entries} texts (${r.encoded} encoded${r.queued ? " by the queue's workers" : ''}, ${r.reused} reused), ${r.bytes} bytes, ${r.seconds.toFixed(1)} s -> ${flags.cache as string}`);
      const ix = r.index;
      if (ix) console.log(`index: ${ix.keys} keys for ${ix.rows} texts${ix.type ? ` (${ix.type === 'ivf_pq' ? 'IVF-PQ' : 'IVF-flat'})` : ' (searched exhaustively)'}, ${ix.seconds.toFixed(1)} s -> lancedb://${ix.path}`);
      return 0;
    }
    case 'rank': {
      const { flags } = parseArgs(rest, { model: 'string', cache: 'string', id: 'string', text: 'string', top: 'number', dtype: 'string', chunked: 'boolean', retrieve: 'number', nprobes: 'number', json: 'boolean' });
      // a cache that names an index is ranked by retrieve-then-rerank (--retrieve 0: every candidate)
      const rk = await openRanker({ model: need(flags, 'model'), cache: need(flags, 'cache'), kernels: nativeKernels(), dtype: dtypeOf(flags.dtype), chunked: flags.chunked === true,
        retrieve: flags.retrieve as number | undefined, nprobes: flags.nprobes as number | undefined });
      try {
        const r = await rk.rank({ id: flags.id as string | undefined, text: flags.text as string | undefined, top: (flags.top as number | undefined) ?? 10 });
        // --json: one JSON object (results best first, with the counts and timings) instead of the table
        if (flags.json === true) console.log(JSON.stringify({ results: r.results, candidates: r.candidates, ...(r.retrieved !== undefined ? { retrieved: r.retrieved } : {}), encode_ms: r.encodeMs, score_ms: r.scoreMs }));
        else r.results.forEach((x, i) => console.log(`${String(i + 1).padStart(3)}  ${x.score.toFixed(6)}  ${x.id}`));
        console.error(rk.kind === 'retrieve' ? `retrieved ${r.retrieved} of ${r.candidates} cached candidates by the LanceDB index in ${r.retrieveMs!.toFixed(1)} ms, reranked by the head in ${r.scoreMs.toFixed(1)} ms (encoding A ${r.encodeMs.toFixed(1)} ms)`
          : `ranked ${r.candidates} cached candidates: encoding A ${r.encodeMs.toFixed(1)} ms, scoring ${r.scoreMs.toFixed(1)} ms (cache laid out for scoring in ${r.loadMs.toFixed(0)} ms)`);
      } finally { rk.close(); }
      return 0;
    }
    case 'compare': {
      const spec: FlagSpec = { model: 'string', texts: 'string', pairs: 'string', output: 'string', heads: 'string', 'max-steps': 'number', epochs: 'number',
        'eval-ratio': 'number', 'batch-size': 'number', 'learning-rate': 'number', 'max-seq-length': 'number', seed: 'number', dtype: 'string', 'timing-pairs': 'number', config: 'string', split: 'string', json: 'boolean' };
      const flags = withConfig(parseArgs(rest, spec).flags, spec);
      const output = need(flags, 'output');
      mkdirSync(output, { recursive: true });
      const num = (k: string) => flags[k] as number | undefined;
      const rows = compare({ model: modelOrDefault(flags.model as string | undefined), texts: need(flags, 'texts'), pairs: need(flags, 'pairs'), output, kernels: nativeKernels(),
        heads: flags.heads ? (flags.heads as string).split(',').map((h) => h.trim()).filter(Boolean) : undefined,
        maxSteps: num('max-steps'), epochs: num('epochs'), evalRatio: num('eval-ratio'), batchSize: num('batch-size'), learningRate: num('learning-rate'),
        maxSeqLength: num('max-seq-length'), seed: num('seed'), dtype: dtypeOf(flags.dtype), timingPairs: num('timing-pairs'), split: flags.split as SplitStrategy | undefined, log: progress });
      if (process.stderr.isTTY) process.stderr.write('\n');
      if (flags.json === true) { console.log(JSON.stringify(rows)); return 0; } // the rows of compare.json
      console.log(compareMarkdown(rows, { model: (flags.model as string | undefined) ?? 'default', pairs: flags.pairs as string, maxSteps: num('max-steps'), epochs: num('epochs'), dtype: resolveDtype(dtypeOf(flags.dtype), nativeKernels()) }));
      console.log(`-> ${output}/compare.md, compare.json, compare.svg`);
      return 0;
    }
    case 'demo': {
      const { flags } = parseArgs(rest, { engine: 'boolean', model: 'string', data: 'string', output: 'string', epochs: 'number', dtype: 'string' });
      if (flags.engine) { runEngineDemo(); return 0; }
      runManpageDemo({ model: flags.model as string | undefined, data: flags.data as string | undefined, output: flags.output as string | undefined, epochs: flags.epochs as number | undefined, dtype: dtypeOf(flags.dtype) });
      return 0;
    }
    case 'serve': {
      const { flags } = parseArgs(rest, { model: 'string', cache: 'string', retrieve: 'number', host: 'string', port: 'number', dtype: 'string', 'max-batch-size': 'number',
        'max-wait-ms': 'number', 'no-batching': 'boolean', 'body-limit': 'number', 'max-inputs': 'number', 'max-text-length': 'number', 'max-queue': 'number' });
      const num = (k: string) => flags[k] as number | undefined;
      // loaded only here: fastify, prom-client and the engine thread are for the server alone
      const { startServer } = await import('../serve/server.js');
      const { closeEngine } = await import('../api/engine.js');
      const server = await startServer({ model: flags.model as string | undefined, cache: flags.cache as string | undefined, retrieve: num('retrieve'), host: flags.host as string | undefined,
        port: num('port'), dtype: dtypeOf(flags.dtype), batching: flags['no-batching'] !== true, maxBatchSize: num('max-batch-size'), maxWaitMs: num('max-wait-ms'),
        bodyLimit: num('body-limit'), maxInputs: num('max-inputs'), maxTextLength: num('max-text-length'), maxQueue: num('max-queue'), log: (l) => console.error(l) });
      console.error(`ja-bert serve: listening on ${server.url} (model ${(flags.model as string | undefined) ?? 'default'}${flags.cache ? `, cache ${flags.cache as string}${server.retrieve ? `, retrieving ${server.retrieve} by its index` : ''}` : ''}, batching ${flags['no-batching'] ? 'off' : 'on'})`);
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          console.error(`ja-bert serve: ${sig}: finishing requests in flight`);
          server.close().then(async () => { await closeEngine(); resolve(); }, (e: unknown) => { console.error(`ja-bert serve: ${(e as Error).message}`); resolve(); });
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      console.error('ja-bert serve: stopped');
      return 0;
    }
    case 'worker': {
      const { flags } = parseArgs(rest, { queue: 'string', concurrency: 'number', 'lock-seconds': 'number' });
      const { runWorker } = await loadFeature('queue', () => import('../cache/queue.js'));
      const ac = new AbortController();
      process.once('SIGTERM', () => { console.error('ja-bert worker: SIGTERM: finishing the chunk in hand'); ac.abort(); });
      process.once('SIGINT', () => { console.error('ja-bert worker: SIGINT: finishing the chunk in hand'); ac.abort(); });
      const r = await runWorker({ queue: need(flags, 'queue'), kernels: nativeKernels(), concurrency: flags.concurrency as number | undefined,
        lockSeconds: flags['lock-seconds'] as number | undefined, log: (l) => console.error(l), signal: ac.signal });
      console.error(`ja-bert worker: stopped after ${r.jobs} chunks`);
      return 0;
    }
    case 'info':
      console.log(JSON.stringify({ ...engineInfo(), autoDtype: nativeKernels().autoDtype }));
      return 0;
    case 'encode': {
      const { flags } = parseArgs(rest, { model: 'string', input: 'string', output: 'string', 'all-tokens': 'boolean', 'batch-size': 'number', dtype: 'string',
        tokenizer: 'string', 'max-seq-length': 'number', lowercase: 'boolean', pooling: 'string', normalize: 'boolean' });
      const output = need(flags, 'output');
      const r = encodeFile({
        model: modelOrDefault(flags.model as string | undefined), input: need(flags, 'input'), output, kernels: nativeKernels(),
        allTokens: flags['all-tokens'] === true, batchSize: (flags['batch-size'] as number | undefined) ?? 16, dtype: dtypeOf(flags.dtype),
        tokenizer: flags.tokenizer as string | undefined, maxSeqLength: flags['max-seq-length'] as number | undefined,
        lowercase: flags.lowercase === true ? true : undefined, pooling: flags.pooling as Pooling | undefined, normalize: flags.normalize === true, log: progress,
      });
      if (process.stderr.isTTY) process.stderr.write('\n');
      console.error(`encoded ${r.lines} lines -> ${output}`);
      return 0;
    }
    case 'bench': {
      const { flags, positional } = parseArgs(rest, {
        layers: 'number', hidden: 'number', heads: 'number', intermediate: 'number', vocab: 'number', seq: 'number',
        batch: 'number', dtype: 'string', steps: 'number', warmup: 'number', 'vs-torch': 'boolean',
      });
      const mode = positional[0] ?? 'train';
      if (mode !== 'train' && mode !== 'infer') throw new UsageError(`bench mode must be train or infer, got "${mode}"`);
      for (const k of ['layers', 'hidden', 'heads', 'intermediate', 'vocab', 'seq', 'batch', 'steps']) if (flags[k] !== undefined) intOption(k, flags[k] as number, 1);
      if (flags.warmup !== undefined) intOption('warmup', flags.warmup as number, 0, 0);
      const o = benchDefaults({ ...(flags as Record<string, number>), mode, dtype: dtypeOf(flags.dtype) });
      const ours = runBench(o);
      const line: Record<string, unknown> = { ...ours };
      if (flags['vs-torch']) {
        const torch = runTorchBench(o, ours.threads);
        line.torch_dtype = torch.dtype;
        line.torch_tokens_per_s = torch.tokens_per_s;
        line.torch_peak_rss_mb = torch.peak_rss_mb;
        line.speedup_vs_torch = ours.tokens_per_s / torch.tokens_per_s;
      }
      console.log(JSON.stringify(line));
      return 0;
    }
    default:
      return unknownCommand(cmd);
  }
}

/** the commands, as the help text lists them ("  ja-bert <cmd>" lines) */
const COMMANDS: readonly string[] = [...new Set([...HELP.matchAll(/^ {2}ja-bert ([a-z][a-z-]*)/gm)].map((m) => m[1]!))];

function unknownCommand(cmd: string): never {
  const near = closest(cmd, COMMANDS);
  throw new UsageError(`unknown command "${cmd}"${near ? ` (did you mean "${near}"?)` : ''} (try: ja-bert help)`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    // ja-bert's own errors are one line; anything else is a bug and shows its stack
    if (e instanceof JaBertError) {
      console.error(`ja-bert: ${e.message}`);
      process.exit(e.exitCode);
    }
    console.error(`ja-bert: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    process.exit(1);
  },
);
