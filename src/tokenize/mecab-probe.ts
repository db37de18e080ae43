/**
 * Child process of verifyDictionary: opens a MeCab dictionary that passed the
 * format checks and parses a probe text. If the dictionary can still crash
 * libmecab, it crashes this process, not the caller.
 *   node mecab-probe.js DIC_DIR PROBE_TEXT
 */
import { openUnchecked } from './mecab.js';
import { mecabBinding } from './mecab-native.js';

const [dir, text] = process.argv.slice(2);
try {
  const h = openUnchecked(dir!);
  const words = mecabBinding().mecabSurfaces(h, text ?? '').split('\0');
  if (words.join('').replace(/\s/g, '') !== (text ?? '').replace(/\s/g, '')) throw new Error('MeCab returned words that do not spell the probe text');
  mecabBinding().mecabClose(h);
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exit(1);
}
