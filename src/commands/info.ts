/** `ja-bert info` */
import { engineInfo, nativeKernels } from '../core/native.js';
import { type Command } from './command.js';

export const command: Command = {
  name: 'info',
  help: `  ja-bert info          engine facts (oneDNN version, ISA, native bf16, what --dtype auto picks, kernel build, ISA cap, threads)`,
  api: 'info',
  flags: {},
  run() {
    console.log(JSON.stringify({ ...engineInfo(), autoDtype: nativeKernels().autoDtype }));
    return 0;
  },
};
