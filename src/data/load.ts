/** The train/eval examples a command's data flags name (shared by finetune, baseline, compare). */
import { type Example, DataError, readPairExamples, readTableExamples, splitExamples } from './processors.js';
import { readLivedoor, splitLivedoor } from './livedoor.js';
import { ratioOption } from '../core/options.js';

export interface DataOptions {
  /** ldcc-20140209.tar.gz or its text/ folder: train on 3/5, evaluate on the test 1/5 */
  livedoor?: string;
  texts?: string;
  pairs?: string;
  evalRatio?: number;
  trainFile?: string;
  evalFile?: string;
}

/** the files the data flags name, each with its flag (what a run's output may not be, nor hold) */
export function dataInputs(o: DataOptions): Array<{ flag: string; path: string | undefined }> {
  return [{ flag: '--texts', path: o.texts }, { flag: '--pairs', path: o.pairs }, { flag: '--train', path: o.trainFile }, { flag: '--eval', path: o.evalFile }, { flag: '--livedoor', path: o.livedoor }];
}

/** the train/eval examples named by the data flags */
export function loadData(o: DataOptions, seed: number): { train: Example[]; eval: Example[]; source: string } {
  if (o.evalRatio !== undefined) ratioOption('eval-ratio', o.evalRatio, 0);
  // one source of data: two given together would leave one silently unused
  const given = [o.livedoor && '--livedoor', (o.texts || o.pairs) && '--texts/--pairs', (o.trainFile || o.evalFile) && '--train/--eval'].filter(Boolean);
  if (given.length > 1) throw new DataError(`${given.join(' and ')} were both given: give one source of data`);
  if (o.evalFile && !o.trainFile) throw new DataError('--eval needs --train');
  if (o.livedoor) {
    const s = splitLivedoor(readLivedoor(o.livedoor), seed);
    return { train: s.train, eval: s.test, source: o.livedoor };
  }
  if (o.texts || o.pairs) {
    if (!o.texts || !o.pairs) throw new DataError('--texts and --pairs go together');
    const all = readPairExamples(o.texts, o.pairs);
    return { ...splitExamples(all, o.evalRatio ?? 1 / 3, seed, o.pairs), source: o.pairs };
  }
  if (o.trainFile) {
    const trainSet = readTableExamples(o.trainFile);
    if (o.evalFile) {
      const evalSet = readTableExamples(o.evalFile);
      if (evalSet.length === 0) throw new DataError(`${o.evalFile}: no examples`);
      return { train: trainSet, eval: evalSet, source: o.trainFile };
    }
    return { ...splitExamples(trainSet, o.evalRatio ?? 0.1, seed, o.trainFile), source: o.trainFile };
  }
  throw new DataError('no data: give --texts F --pairs F, --train F [--eval F], or --livedoor PATH');
}

