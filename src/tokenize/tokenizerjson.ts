/**
 * Hugging Face fast-tokenizer files (tokenizer.json) through
 * @huggingface/tokenizers, a dependency-free JavaScript implementation.
 */
import { existsSync } from 'node:fs';
import { readJsonChecked } from '../io/text.js';
import { dirname, join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { type Encoding, TokenizerError } from './sentencepiece.js';

function readJson(path: string): Record<string, unknown> {
  const v = readJsonChecked(path, 'tokenizer file', TokenizerError);
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new TokenizerError(`${path}: expected a JSON object`);
  return v as Record<string, unknown>;
}

export class TokenizerJsonTokenizer {
  private tok: HfTokenizer;
  private ids = new Map<string, number>();

  constructor(readonly path: string) {
    const json = readJson(path);
    const cfgPath = join(dirname(path), 'tokenizer_config.json');
    const cfg = existsSync(cfgPath) ? readJson(cfgPath) : {};
    const model = json.model as { vocab?: unknown } | undefined;
    if (!model || typeof model !== 'object') throw new TokenizerError(`${path}: no "model" section; not a tokenizers file`);
    // token -> id: WordPiece/BPE vocabularies are maps, Unigram ones [piece, score] lists
    if (Array.isArray(model.vocab)) (model.vocab as Array<[string, number]>).forEach(([p], i) => this.ids.set(p, i));
    else if (model.vocab && typeof model.vocab === 'object') for (const [k, v] of Object.entries(model.vocab as Record<string, number>)) this.ids.set(k, v);
    for (const t of (json.added_tokens ?? []) as Array<{ id: number; content: string }>) this.ids.set(t.content, t.id);
    try {
      this.tok = new HfTokenizer(json, cfg);
    } catch (e) {
      throw new TokenizerError(`${path}: cannot build the tokenizer (${(e as Error).message})`);
    }
  }

  get vocabSize(): number {
    return this.ids.size;
  }

  tokenId(token: string): number | undefined {
    return this.ids.get(token);
  }

  encode(text: string): Encoding {
    const e = this.tok.encode(text, { add_special_tokens: false });
    return { ids: e.ids.map(Number), tokens: e.tokens };
  }
}
