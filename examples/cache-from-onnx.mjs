// Encode texts with a pair-head model exported by `ja-bert export` -- outside ja-bert, with
// transformers.js' tokenizer and onnxruntime-node -- and write what `ja-bert cache build
// --from-embeddings` reads: one JSONL line per text with the encoder's outputs.
//
//   npm install onnxruntime-node @huggingface/transformers
//   bin/ja-bert export --model MY-DOT-MODEL --output exported
//   node examples/cache-from-onnx.mjs exported honbun_data.json embeddings.jsonl
//   bin/ja-bert cache build --model MY-DOT-MODEL --from-embeddings embeddings.jsonl --cache b.jabc
//   bin/ja-bert rank --model MY-DOT-MODEL --cache b.jabc --id 'close(2)'
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { AutoTokenizer, env } from '@huggingface/transformers';

const [dirArg, textsFile, outFile] = process.argv.slice(2);
if (!dirArg || !textsFile || !outFile) { console.error('usage: node examples/cache-from-onnx.mjs EXPORTED_DIR texts.json out.jsonl'); process.exit(2); }
env.allowRemoteModels = false; // local files only
// an absolute path: transformers.js reads a bare name (exported) as a model under env.localModelPath (/models/)
const dir = resolve(dirArg);
const spec = JSON.parse(readFileSync(join(dir, 'pair_head.json'), 'utf8'));
const tokenizer = await AutoTokenizer.from_pretrained(dir);
const session = await ort.InferenceSession.create(join(dir, 'onnx/model.onnx'));
// honbun_data.json ({id: text}) or JSONL lines {"id", "text"}
const texts = textsFile.endsWith('.jsonl')
  ? readFileSync(textsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
  : Object.entries(JSON.parse(readFileSync(textsFile, 'utf8'))).map(([id, text]) => ({ id, text }));
const lines = [];
for (const { id, text } of texts) {
  // each text alone, [CLS] text [SEP], the text cut so that the whole fits the head's side length (as ja-bert
  // encodes B; transformers.js' own truncation would cut the final [SEP] instead)
  let ids = tokenizer.encode(text);
  if (ids.length > spec.side_length) ids = [...ids.slice(0, spec.side_length - 1), ids[ids.length - 1]];
  const t = (v) => new ort.Tensor('int64', BigInt64Array.from(ids, v), [1, ids.length]);
  const feeds = { input_ids: t((i) => BigInt(i)), attention_mask: t(() => 1n), token_type_ids: t(() => 0n) };
  const out = await session.run(feeds);
  const [, S, D] = out.last_hidden_state.dims;
  const h = out.last_hidden_state.data;
  lines.push(JSON.stringify({ id, text, last_hidden_state: Array.from({ length: S }, (_, t) => Array.from(h.subarray(t * D, (t + 1) * D))), pooler_output: Array.from(out.pooler_output.data) }));
}
writeFileSync(outFile, lines.join('\n') + '\n');
console.error(`${lines.length} texts -> ${outFile}`);
