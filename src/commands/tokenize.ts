/** `ja-bert tokenize` */
import { tokenizeFile } from '../tokenize/file.js';
import { type Command, need, flagOptions } from './command.js';

export const command: Command = {
  name: 'tokenize',
  help: `  ja-bert tokenize --tokenizer PATH --input IN.txt|IN.jsonl --output OUT.jsonl [--lowercase] [--special]
      PATH: a SentencePiece .model, a WordPiece vocab.txt, or a model folder holding one;
      IN: one text per line (.txt) or one JSON string per line (.jsonl). --mecab-dic DIR overrides MeCab's dictionary.
      Each output line: {"ids": [...], "tokens": [...]}; --special frames each text with the model's special tokens
      ([CLS] ... [SEP], or as its tokenizer.json / tokenizer_config.json say, e.g. <s> ... </s>).`,
  api: 'tokenize',
  flags: { tokenizer: 'string', input: 'string', output: 'string', lowercase: 'boolean', special: 'boolean', 'mecab-dic': 'string' },
  job: 'tokenizeFile',
  run({ flags, log }) {
    const output = need(flags, 'output');
    const n = tokenizeFile({ ...flagOptions(flags), tokenizer: need(flags, 'tokenizer'), input: need(flags, 'input'), output });
    log(`tokenized ${n} texts -> ${output}`);
    return 0;
  },
};
