/** ja-bert's public library API. */
export { nativeKernels, engineInfo, setNumThreads, type EngineInfo } from './core/native.js';
export { refKernels } from './core/ref.js';
export type { Kernels, DType } from './core/kernels.js';
export { Rng } from './core/random.js';
export { Bert, type Batch, type ForwardResult } from './model/bert.js';
export { makeConfig, configToJson, type BertConfig, ConfigError } from './model/config.js';
export { makeLayout, type Layout, type ParamSpec } from './model/params.js';
export { loadBert, saveBert, findModelFiles, readWeights, type LoadedModel, type ModelFiles } from './io/checkpoint.js';
export { readSafetensors, writeSafetensors } from './io/safetensors.js';
export { readTorchBin } from './io/torchbin.js';
export { readTf1Checkpoint, tfNameToHf } from './io/tf1.js';
export { CheckpointError, type RawTensor } from './io/tensor.js';
export { AdamW, bertLearningRate } from './train/optimizer.js';
export { encodeFile, InputError } from './encode.js';
export { runBench, runTorchBench, benchDefaults, type BenchResult } from './bench.js';
