/**
 * ja-bert's public library API.
 *
 * The async API (Classifier, Encoder, PairScorer, finetune, pretrain, ...)
 * runs every native computation in one engine thread: the caller's event loop
 * stays free. The synchronous building blocks below it (the engine, Bert,
 * checkpoint readers, tokenizers) run on the caller's thread; do not run them
 * while async calls are in flight, since the native engine serves one thread at a time.
 */
export {
  Classifier, Encoder, PairScorer, finetune, pretrain, baseline, crossValidate, compare, buildCache, predict, encodeFile, tokenize, buildCorpus, exportModel,
  manpagePairs, bench, info, closeEngine, DEFAULT_MODEL, type ApiOptions, type ModelOptions, type JobControl, type Classification, type ClassifyInput, type Pooling, type RankResult,
} from './api/index.js';
export { JOBS, type JobName, type JobOptions, type JobResult } from './jobs.js';
export { runManpageDemo, runEngineDemo, type ManpageDemoOptions, type ManpageDemoResult } from './demo.js';
import type { ServeOptions, Server } from './serve/server.js';
import { loadFeature } from './core/optional.js';
import { nativeKernels as kernelsForWorker } from './core/native.js';

/** `ja-bert serve`: the HTTP server (fastify, prom-client and the engine thread are loaded on the first call) */
export async function startServer(o: ServeOptions = {}): Promise<Server> {
  const { startServer: start } = await import('./serve/server.js');
  return start(o);
}
export type { ServeOptions, Server };

/** `ja-bert worker`: encode cache chunks from a BullMQ queue (redis://HOST:PORT) until `signal` aborts; bullmq is loaded on the first call */
export async function runWorker(o: { queue: string; concurrency?: number; lockSeconds?: number; log?: (line: string) => void; signal?: AbortSignal }): Promise<{ jobs: number }> {
  const { runWorker: run } = await loadFeature('queue', () => import('./cache/queue.js'));
  return run({ ...o, kernels: kernelsForWorker() });
}
export { JaBertError } from './core/errors.js';
export { EngineThreadError } from './api/engine.js';
export { AbortedError } from './train/trainer.js';
export type { FinetuneOptions, FinetuneResult, PredictOptions } from './finetune.js';
export type { PretrainOptions, PretrainResult } from './pretrain/pretrain.js';
export type { BaselineOptions, BaselineResult } from './baseline/baseline.js';
export type { CompareOptions, CompareRow } from './compare.js';
export type { CrossValidateOptions, CrossValidateResult, FoldRow } from './crossval.js';
export type { Reliability, Significance, LeakageReport, SubsetMetrics } from './eval/reliability.js';
export type { SplitRecord } from './data/load.js';
export type { SplitStrategy } from './data/split.js';
// the statistics behind "is the result real?" (SciPy's definitions)
export { wilson, binomTestTwoSided, mcnemar, metricIntervals, accuracyDifferenceInterval } from './eval/stats.js';
export { leakage } from './data/leakage.js';
export type { BuildResult, CacheBuildResult, CacheBuildOptions } from './cache/index.js';
export type { Metrics, RegressionMetrics, MultiLabelMetrics } from './eval/metrics.js';
// the errors each area throws (all JaBertError)
export { UsageError } from './commands/args.js';
export { DTypeError } from './core/dtype.js';
export { OptionError } from './core/options.js';
export { DataError } from './data/processors.js';
export { OutputPathError } from './io/atomic.js';
export { InputFileError } from './io/text.js';
export { CacheError } from './cache/index.js';
export { CorpusError } from './pretrain/corpus.js';
export { RunDirError } from './run/rundir.js';
export { MecabError } from './tokenize/mecab.js';
export { EngineError } from './core/native.js';

// synchronous building blocks
export { nativeKernels, engineInfo, setNumThreads, type EngineInfo } from './core/native.js';
export { refKernels } from './core/ref.js';
export type { Kernels, DType } from './core/kernels.js';
export { Rng } from './core/random.js';
export { notice, setNoticeHandler } from './core/notices.js';
export { Bert, type Batch, type ForwardResult } from './model/bert.js';
export { makeConfig, configToJson, type BertConfig, ConfigError } from './model/config.js';
export { makeLayout, type Layout, type ParamSpec } from './model/params.js';
export { loadBert, saveBert, findModelFiles, readWeights, type LoadedModel, type ModelFiles } from './model/load.js';
export { readSafetensors, writeSafetensors } from './io/safetensors.js';
export { readTorchBin } from './io/torchbin.js';
export { readTf1Checkpoint, tfNameToHf } from './io/tf1.js';
export { CheckpointError, type RawTensor } from './io/tensor.js';
export { HubError, resolveModel, parseHubId, hubCacheDir, cachedSnapshot, type HubOptions } from './io/hub.js';
export { AdamW, bertLearningRate } from './train/optimizer.js';
export { loadTokenizer, SentencePieceTokenizer, WordPieceTokenizer, TokenizerJsonTokenizer, TokenizerError, type Tokenizer, type Encoding, type TokenizerOptions } from './tokenize/index.js';
export { InputBuilder, padBatch, truncateSeqPair, type Features } from './tokenize/inputs.js';
export { TextClassifier, TextEncoder, NSP_LABELS } from './infer/models.js';
export { Ranker, openRanker, type OpenRanker, type RankQuery } from './cache/index.js';
export { runBench, runTorchBench, benchDefaults, type BenchResult } from './bench.js';
