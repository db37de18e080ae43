/** The train/eval examples a command's data flags name (shared by finetune, baseline, compare). */
import { type Example, DataError, readPairExamples, readTableExamples } from './processors.js';
import { readLivedoor, splitLivedoor } from './livedoor.js';
import { choiceOption, intOption, OptionError, ratioOption } from '../core/options.js';
import { groupFolds, groupSplit, GROUP_TOLERANCE, randomFolds, randomSplit, SPLIT_STRATEGIES, type SplitIndices, type SplitStrategy } from './split.js';

export interface DataOptions {
  /** ldcc-20140209.tar.gz or its text/ folder: train on 3/5, evaluate on the test 1/5 */
  livedoor?: string;
  texts?: string;
  pairs?: string;
  evalRatio?: number;
  trainFile?: string;
  evalFile?: string;
  /** random (default): pairs split at random; group: every text in one split only (no eval text seen in training) */
  split?: SplitStrategy;
  /** k-fold cross-validation: the number of folds (with `fold`, the one this run evaluates) */
  folds?: number;
  /** 1-based: the fold held out (needs `folds`) */
  fold?: number;
}

/** how a run's examples were split, as split.json records it: 0-based indices into the data file (`file`; `eval` into `eval_file` when given) */
export interface SplitRecord extends SplitIndices {
  strategy: SplitStrategy | 'given' | 'livedoor';
  file: string;
  eval_file?: string;
  seed: number;
  eval_ratio: number | null;
  folds?: number;
  fold?: number;
  /** grouped splits: an eval part may differ from its asked size by this share */
  tolerance?: number;
}

export interface LoadedData { train: Example[]; eval: Example[]; source: string; split: SplitRecord }

/** the files the data flags name, each with its flag (what a run's output may not be, nor hold) */
export function dataInputs(o: DataOptions): Array<{ flag: string; path: string | undefined }> {
  return [{ flag: '--texts', path: o.texts }, { flag: '--pairs', path: o.pairs }, { flag: '--train', path: o.trainFile }, { flag: '--eval', path: o.evalFile }, { flag: '--livedoor', path: o.livedoor }];
}

/** the split flags checked against each other and the data source (nothing read) */
export function splitSettings(o: DataOptions): { strategy: SplitStrategy; folds: number | undefined } {
  const strategy = choiceOption('split', o.split, SPLIT_STRATEGIES, 'random');
  const folds = o.folds === undefined ? undefined : intOption('folds', o.folds, 5, 2);
  if (o.fold !== undefined && (folds === undefined || !Number.isInteger(o.fold) || o.fold < 1 || o.fold > folds)) throw new OptionError(`fold ${o.fold} is not one of --folds ${folds ?? '(not given)'}`);
  if (folds !== undefined && o.evalRatio !== undefined) throw new OptionError('--folds and --eval-ratio were both given: k-fold holds out 1/K of the data in turn; give one');
  if (o.livedoor && (strategy !== 'random' || folds !== undefined)) throw new OptionError('--livedoor has its own split (train 3/5, test 1/5 by document); --split group and --folds apply to --texts/--pairs or --train');
  if (o.evalFile && (strategy !== 'random' || folds !== undefined)) throw new OptionError(`--eval names a held-out file, so the data is already split: --split group and --folds split one file (the overlap of yours is in report.json's leakage)`);
  return { strategy, folds };
}

function byIndex(all: Example[], s: SplitIndices): { train: Example[]; eval: Example[] } {
  return { train: s.train.map((i) => all[i]!), eval: s.eval.map((i) => all[i]!) };
}

/** one data file split by the split flags: at random or grouped, into train/eval or into K folds */
function splitFile(all: Example[], o: DataOptions, dfltRatio: number, seed: number, source: string): LoadedData {
  const { strategy, folds } = splitSettings(o);
  const group = strategy === 'group' ? { tolerance: GROUP_TOLERANCE } : {};
  if (folds !== undefined) {
    if (folds > all.length) throw new DataError(`${source}: --folds ${folds} is more than the ${all.length} examples`);
    const fold = o.fold ?? 1;
    const s = (strategy === 'group' ? groupFolds(all, folds, seed, source) : randomFolds(all.length, folds, seed))[fold - 1]!;
    if (s.train.length === 0) throw new DataError(`${source}: fold ${fold} of ${folds} leaves no training examples`);
    return { ...byIndex(all, s), source, split: { strategy, file: source, seed, eval_ratio: null, folds, fold, ...group, ...s } };
  }
  const ratio = o.evalRatio ?? dfltRatio;
  if (!(ratio > 0 && ratio < 1)) throw new DataError(`--eval-ratio must be between 0 and 1, got ${ratio}`);
  const s = strategy === 'group' ? groupSplit(all, ratio, seed, source) : randomSplit(all.length, ratio, seed);
  if (s.eval.length === 0 || s.train.length === 0) throw new DataError(`${source}: ${all.length} examples split at ${ratio} leave an empty ${s.eval.length === 0 ? 'eval' : 'train'} set`);
  return { ...byIndex(all, s), source, split: { strategy, file: source, seed, eval_ratio: ratio, ...group, ...s } };
}

/** the train/eval examples named by the data flags, and how they were split */
export function loadData(o: DataOptions, seed: number): LoadedData {
  if (o.evalRatio !== undefined) ratioOption('eval-ratio', o.evalRatio, 0);
  // one source of data: two given together would leave one silently unused
  const given = [o.livedoor && '--livedoor', (o.texts || o.pairs) && '--texts/--pairs', (o.trainFile || o.evalFile) && '--train/--eval'].filter(Boolean);
  if (given.length > 1) throw new DataError(`${given.join(' and ')} were both given: give one source of data`);
  if (o.evalFile && !o.trainFile) throw new DataError('--eval needs --train');
  splitSettings(o);
  if (o.livedoor) {
    const all = readLivedoor(o.livedoor);
    const s = splitLivedoor(all, seed);
    const pos = new Map(all.map((e, i) => [e, i]));
    return { train: s.train, eval: s.test, source: o.livedoor,
      split: { strategy: 'livedoor', file: o.livedoor, seed, eval_ratio: null, train: s.train.map((e) => pos.get(e)!), eval: s.test.map((e) => pos.get(e)!), dropped: s.dev.map((e) => pos.get(e)!) } };
  }
  if (o.texts || o.pairs) {
    if (!o.texts || !o.pairs) throw new DataError('--texts and --pairs go together');
    return splitFile(readPairExamples(o.texts, o.pairs), o, 1 / 3, seed, o.pairs);
  }
  if (o.trainFile) {
    const trainSet = readTableExamples(o.trainFile);
    if (o.evalFile) {
      const evalSet = readTableExamples(o.evalFile);
      if (evalSet.length === 0) throw new DataError(`${o.evalFile}: no examples`);
      return { train: trainSet, eval: evalSet, source: o.trainFile,
        split: { strategy: 'given', file: o.trainFile, eval_file: o.evalFile, seed, eval_ratio: null, train: trainSet.map((_, i) => i), eval: evalSet.map((_, i) => i), dropped: [] } };
    }
    return splitFile(trainSet, o, 0.1, seed, o.trainFile);
  }
  throw new DataError('no data: give --texts F --pairs F, --train F [--eval F], or --livedoor PATH');
}
