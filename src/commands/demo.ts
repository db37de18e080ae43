/** `ja-bert demo` */
import { runEngineDemo, runManpageDemo } from '../demo.js';
import { type Command, flagOptions } from './command.js';

export const command: Command = {
  name: 'demo',
  help: `  ja-bert demo [--output ja-bert-demo --model DIR --data DIR --epochs 3 --dtype auto|f32|bf16]
      the seed's job on a shipped sample of Japanese man-page link pairs with the default model:
      frozen-vector baseline and fine-tuning, reports side by side (full reports under --output)
  ja-bert demo --engine  a small random-weight BERT learning a synthetic pair task in seconds`,
  api: 'runManpageDemo',
  flags: { engine: 'boolean', model: 'string', data: 'string', output: 'string', epochs: 'number', dtype: 'string' },
  run({ flags }) {
    const { engine, ...o } = flagOptions(flags);
    if (engine === true) runEngineDemo();
    else runManpageDemo(o);
    return 0;
  },
};
