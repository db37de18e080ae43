#!/usr/bin/env node
// Copy a finished pretraining run into models/ja-bert-mini-debian with its model card.
//   node scripts/ship-default-model.mjs PRETRAIN_OUT [CORPUS_DIR] [COMMAND_LINES] [NOTES.md] [EARLIER_STAGE_OUT]
// Reads PRETRAIN_OUT/pretrain_report.json and CORPUS_DIR/corpus.json; writes config.json,
// model.safetensors, spiece.model, tokenizer_config.json and README.md (the card).
// NOTES.md (optional): markdown put into the card under "How the recipe was chosen"
// (the short comparison runs behind the objective, the masking and the shape).
// EARLIER_STAGE_OUT (optional): the run PRETRAIN_OUT continued from (pretrain --model); the card then
// counts both stages (steps, wall time, the evaluation table) and COMMAND_LINES holds both commands, one per line.
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync, renameSync, rmSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const [pt, corpusDir = 'corpus', command = '', notesFile = '', earlier = ''] = process.argv.slice(2);
if (!pt || !existsSync(join(pt, 'pretrain_report.json'))) { console.error('usage: ship-default-model.mjs PRETRAIN_OUT [CORPUS_DIR] [COMMAND]'); process.exit(2); }
const dest = 'models/ja-bert-mini-debian', tmp = `${dest}.tmp`;
const rep = JSON.parse(readFileSync(join(pt, 'pretrain_report.json'), 'utf8'));
const stage1 = earlier ? JSON.parse(readFileSync(join(earlier, 'pretrain_report.json'), 'utf8')) : null;
const stage2Steps = rep.steps, stage2Seconds = rep.seconds;
if (stage1) {
  // one history for both stages: steps and time added, the second stage's evaluations after the first's
  rep.evaluations = [...stage1.evaluations, ...rep.evaluations.map((e) => ({ ...e, step: e.step + stage1.steps }))];
  rep.tokens_per_second = (stage1.tokens_per_second * stage1.seconds + rep.tokens_per_second * rep.seconds) / (stage1.seconds + rep.seconds);
  rep.steps += stage1.steps;
  rep.seconds += stage1.seconds;
}
const corpus = JSON.parse(readFileSync(join(corpusDir, 'corpus.json'), 'utf8'));
const info = JSON.parse(execFileSync('bin/ja-bert', ['info'], { encoding: 'utf8' }));
const cpu = (readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) ?? [])[1] ?? 'unknown CPU';
rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });
for (const f of ['config.json', 'model.safetensors', 'spiece.model']) copyFileSync(existsSync(join(pt, f)) || !earlier ? join(pt, f) : join(earlier, f), join(tmp, f));
copyFileSync(join(pt, 'pretrain_report.json'), join(tmp, 'pretrain_report.json'));
writeFileSync(join(tmp, 'tokenizer_config.json'), JSON.stringify({
  tokenizer_class: 'AlbertTokenizer', do_lower_case: false, remove_space: true, keep_accents: true,
  unk_token: '<unk>', cls_token: '[CLS]', sep_token: '[SEP]', pad_token: '[PAD]', mask_token: '[MASK]', model_max_length: 512,
}, null, 2) + '\n');
const c = rep.config, n = (x) => x.toLocaleString('en-US');
const D = c.hidden_size, I = c.intermediate_size, L = c.num_hidden_layers, V = c.vocab_size;
const encoderParams = L * (4 * D * D + 4 * D + 2 * D * I + I + D + 4 * D) + D * D + D;
const embParams = (V + c.max_position_embeddings + c.type_vocab_size) * D + 2 * D;
const mb = (f) => (statSync(join(tmp, f)).size / 1e6).toFixed(1);
const h = Math.floor(rep.seconds / 3600), m = Math.round((rep.seconds % 3600) / 60);
const pairObj = rep.objective === 'nsp' || rep.objective === 'sop';
const evals = rep.evaluations.map((e) => `| ${n(e.step)} | ${e.eval_loss.toFixed(3)} | ${e.eval_accuracy.toFixed(3)} |${pairObj ? ` ${e.eval_pair_accuracy?.toFixed(3) ?? '—'} |` : ''}`).join('\n');
const notes = notesFile ? readFileSync(notesFile, 'utf8').trim() : '';
const objectiveText = {
  mlm: 'Masked LM only (no sentence-pair objective): sequences packed from consecutive sentences of a document up to 128 tokens',
  nsp: 'Masked LM + next-sentence prediction (BERT): `[CLS] A [SEP] B [SEP]` built from consecutive sentence spans of one document as google-research/bert\'s create_pretraining_data.py does (target lengths mostly 128, 10 % shorter); half the time B is the span that follows A, half the time a span of another document; the pair objective is a 2-way classifier (`cls.seq_relationship`) on the pooled output, so the pooler is pretrained too',
  sop: 'Masked LM + sentence-order prediction (ALBERT): `[CLS] A [SEP] B [SEP]` from consecutive sentence spans of one document; half the time A and B are swapped; the pair objective is a 2-way classifier on the pooled output',
}[rep.objective ?? 'mlm'];
const maskingText = rep.whole_word_masking
  ? 'whole-word masking: the pieces of a word (MeCab with UniDic, aligned to the SentencePiece pieces) are masked together, 15 % of the tokens by whole words, as tohoku BERT v2/v3 do'
  : 'masking 15 % of the tokens, each piece on its own';
const sources = corpus.sources.map((s) => `| ${s.name} | ${s.package || '—'} | ${n(s.documents)} | ${n(s.sentences)} | ${n(s.japaneseChars)} |`).join('\n');
const card = `# ja-bert-mini-debian — the default model of ja-bert

A small Japanese BERT that ja-bert pretrained itself, from scratch, on Japanese text found in
Debian's documentation packages, with ja-bert's own engine on a 2-core CPU. It is the model
\`finetune\`, \`baseline\`, \`encode\`, \`compare\` and \`demo\` use when \`--model\` is omitted.
It exists so that the whole workflow runs offline on a fresh machine; for real work, fine-tune a
large pretrained Japanese BERT (cl-tohoku, yoheikikuta) instead — ja-bert loads those too.

## Shape

| | |
|---|---|
| architecture | BERT (post-LN), ${L} layers, hidden ${D}, ${c.num_attention_heads} heads, intermediate ${I}, GELU (${c.hidden_act}), max positions ${c.max_position_embeddings} |
| parameters | ${n(encoderParams + embParams)} (${n(embParams)} in embeddings) + the masked-LM head (tied decoder)${pairObj ? ' + the 2-way pair head' : ''} |
| vocabulary | ${n(V)} SentencePiece unigram pieces (\`spiece.model\`) |
| files | \`model.safetensors\` ${mb('model.safetensors')} MB (f32, Hugging Face names, MLM head \`cls.predictions.*\`${pairObj ? ' and the pair head \`cls.seq_relationship.*\`' : ''} included), \`config.json\`, \`spiece.model\`, \`tokenizer_config.json\` |

## Corpus

${n(corpus.total.documents)} documents, ${n(corpus.total.sentences)} sentences, ${n(corpus.total.japaneseChars)} Japanese characters
(${n(corpus.total.chars)} characters in all), extracted by \`bash scripts/build-corpus.sh\` (markup stripped,
non-Japanese and duplicate paragraphs dropped, one sentence per line, blank line between documents).
Man pages (\`/usr/share/man\`) and chABSA are excluded by the builder: they are evaluation data.

| source | Debian package | documents | sentences | Japanese characters |
|---|---|---:|---:|---:|
${sources}

The text keeps the licences of its packages (GFDL, GPL, MPL, CC BY-SA and others; see each package's
\`/usr/share/doc/<package>/copyright\`).

## Tokenizer

\`bash scripts/train-tokenizer.sh\`: Debian's \`spm_train\`, unigram, ${n(V)} pieces (chosen by measurement, see
docs/CORPUS.md), \`--character_coverage=0.9995\`, \`[PAD] [CLS] [SEP] [MASK]\` as control symbols,
\`<unk>\` = 0. ja-bert reads \`spiece.model\` directly (ids identical to \`spm_encode\`).

## Pretraining

${command ? command.split('\n').map((l) => `\`${l}\``).join('\n\n') + '\n\n' : ''}${objectiveText}; ${maskingText}, drawn anew each step (80 % [MASK], 10 % random, 10 % kept); the MLM head's
decoder tied to the word embeddings; BERT's AdamW (weight decay 0.01, no bias correction) with linear warmup
over 10 % of the steps and linear decay; global-norm clip 1.0; dropout 0.1; bf16 matmuls with f32 master weights.

| | |
|---|---|
| steps | ${n(rep.steps)} × batch 32 × 128 tokens (${n(rep.train_sequences)} training sequences, ≈ ${(rep.steps * 32 / rep.train_sequences).toFixed(0)} epochs) |
| wall time | ${h} h ${m} min (${n(Math.round(rep.tokens_per_second))} tokens/s)${stage1 ? `, two stages: ${n(stage1.steps)} steps, then ${n(stage2Steps)} more continued from them (\`--model\`, a fresh warmup and decay) in ${Math.round(stage2Seconds / 60)} min` : ', one run'} |
| hardware | ${cpu}, ${info.threads} threads, oneDNN ${info.onednn} (${info.isa}), Node ${process.versions.node} |
| objective | ${rep.objective ?? 'mlm'}${rep.whole_word_masking ? ', whole-word masking' : ''} |
| held-out MLM loss | ${rep.eval_mlm_loss.toFixed(4)} (${n(rep.heldout_sequences)} held-out ${pairObj ? 'pairs from every 50th document' : 'sequences, every 50th document'}, fixed masks${pairObj ? ' and pairs' : ''}) |
| **held-out MLM accuracy** | **${rep.eval_mlm_accuracy.toFixed(4)}** |
${pairObj ? `| held-out ${rep.objective.toUpperCase()} loss | ${rep.eval_pair_loss.toFixed(4)} |\n| **held-out ${rep.objective.toUpperCase()} accuracy** | **${rep.eval_pair_accuracy.toFixed(4)}** |\n` : ''}
${notes ? `## How the recipe was chosen\n\n${notes}\n\n` : ''}| step | held-out MLM loss | held-out MLM accuracy |${pairObj ? ` held-out ${rep.objective.toUpperCase()} accuracy |` : ''}
|---:|---:|---:|${pairObj ? '---:|' : ''}
${evals}

## Re-running

\`\`\`sh
bash scripts/build-corpus.sh && bash scripts/train-tokenizer.sh
${command || 'bin/ja-bert pretrain --corpus corpus/corpus.txt --tokenizer corpus/spiece.model --output PT ...'}
${stage1 ? 'node scripts/ship-default-model.mjs PT2 corpus "$(cat COMMANDS)" NOTES.md PT   # COMMANDS: the two lines above' : 'node scripts/ship-default-model.mjs PT corpus'}
\`\`\`

Package versions change the corpus slightly; the numbers above are from Debian 12 on ${new Date().toISOString().slice(0, 10)}.
Fine-tuning results with this model are in docs/RESULTS.md.
`;
writeFileSync(join(tmp, 'README.md'), card);
rmSync(dest, { recursive: true, force: true });
renameSync(tmp, dest);
console.log(`${dest}: shipped (held-out MLM accuracy ${rep.eval_mlm_accuracy.toFixed(4)} after ${rep.steps} steps)`);
