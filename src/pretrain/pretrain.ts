/**
 * Masked-LM pretraining, the way google-research/bert pretrains (and ELECTRA's
 * replaced-token detection, electra.ts, on the same sequences): sequences
 * packed from consecutive sentences of a document up to max_seq_length,
 * dynamic masking of 15 % of the tokens per step (80 % [MASK], 10 % a random
 * token, 10 % unchanged), the MLM head tied to the word embeddings, BERT's
 * AdamW with warmup and decay, checkpoints with resume, held-out MLM loss and
 * accuracy logged as it goes. Continued pretraining starts from --model.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Kernels } from '../core/kernels.js';
import { resolveDtype, trainingDtype, type DTypeOption } from '../core/dtype.js';
import { Rng } from '../core/random.js';
import { DataError } from '../data/processors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { copyTokenizerFiles } from '../io/checkpoint.js';
import { findModelFiles, loadBert, readConfig, saveBert } from '../model/load.js';
import { Bert } from '../model/bert.js';
import { makeConfig } from '../model/config.js';
import { choiceOption, intOption, OptionError, positiveOption, ratioOption } from '../core/options.js';
import { electraStep, type ElectraStats, shareEmbeddings } from './electra.js';
import { beginRun, finishRun, inspectRun } from '../run/rundir.js';
import { loadTokenizer, type Tokenizer } from '../tokenize/index.js';
import { padBatch } from '../tokenize/inputs.js';
import { bertFraming, type Framing, specialCount, vocabularyFraming } from '../tokenize/framing.js';
import { TokenizerError } from '../tokenize/sentencepiece.js';
import { RunLog } from '../eval/runlog.js';
import { checkSameEverywhere, type Comm, mpiLaunch, openDistributed } from '../train/distributed.js';
import { DivergedError, exampleSeed, type Shard, trainingSteps, trainTask, type TrainTask } from '../train/trainer.js';
import { readFileChecked } from '../io/files.js';
import { InputFileError, readTextFile } from '../io/text.js';
import { concatSentences, type Doc, makeChunks, maskWords, pairInstance, type PairObjective, readDocuments, type Sentence, type Special, WordStarts } from './pairs.js';

export type { Special } from './pairs.js';

/** documents (blank-line separated) -> token-id sequences of at most maxLen - 2 tokens, consecutive sentences packed */
export function packSequences(tok: Tokenizer, corpus: string, maxLen: number): number[][] {
  return packDocs(readDocuments(new WordStarts(tok, null), corpus, maxLen), maxLen).map((q) => q.ids);
}

/**
 * BERT's dynamic masking of one sequence (with [CLS]/[SEP] around it): 15 % of
 * the non-special positions (at least one); of those 80 % -> [MASK], 10 % -> a
 * random non-special token, 10 % kept. Returns the input ids and (position, target) pairs.
 */
export function maskSequence(ids: number[], sp: Special, rng: Rng, prob = 0.15): { input: number[]; positions: number[]; targets: number[] } {
  const input = [sp.cls, ...ids, sp.sep];
  return maskWords(input, new Uint8Array(input.length).fill(1), sp, rng, prob);
}

/** one pretraining example: the model input, its word starts and, for the pair objectives, the pair label */
interface Instance { input: number[]; tokenTypes: number[]; starts: ArrayLike<number>; label?: number }

/**
 * Masked LM (+ the sentence-pair objective when instances carry a label): each
 * step builds its instances and masks from the step's seed, so a resumed run
 * repeats them exactly.
 */
function pretrainTask(model: Bert, lengths: number[], make: (i: number, rng: Rng) => Instance, sp: Special): TrainTask {
  return {
    lengths,
    // the masked-LM loss is a mean over the masked tokens, the pair loss over the examples
    parts: 2,
    step(b: number[], seed: number, dLoss: number, shard?: Shard) {
      // each example's pair partner, masks and dropout from (seed, its place in the global batch): a shard draws what the whole batch would
      const rngs = b.map((_, j) => new Rng(exampleSeed(seed, shard ? shard.rows[j]! : j)));
      const inst = b.map((i, j) => make(i, rngs[j]!));
      const r = runBatch(model, inst, sp, (j) => rngs[j]!, true, seed, shard?.rows);
      const [wm, wp] = shard ? shard.share([r.masked, r.pair ? inst.length : 0]) : [1, 1];
      model.pretrainBackward(dLoss * wm!, undefined, dLoss * wp!);
      return { loss: r.mlm.loss * wm! + (r.pair?.loss ?? 0) * wp!, tokens: r.tokens };
    },
  };
}

function runBatch(model: Bert, inst: Instance[], sp: Special, rng: (j: number) => Rng, train: boolean, seed = 0, rows?: number[]) {
  const masked = inst.map((x, j) => maskWords(x.input, x.starts, sp, rng(j)));
  const batch = padBatch(masked.map((m, j) => ({ inputIds: m.input, tokenTypeIds: inst[j]!.tokenTypes })), sp.pad);
  const positions: number[] = [], targets: number[] = [];
  masked.forEach((m, r) => m.positions.forEach((p, j) => { positions.push(r * batch.S + p); targets.push(m.targets[j]!); }));
  model.forward(batch, { train, seed, rows });
  const mlm = model.mlmLoss(Int32Array.from(positions), Int32Array.from(targets));
  const pair = inst[0]!.label === undefined ? null : model.nspLoss(Int32Array.from(inst, (x) => x.label!));
  return { mlm, pair, masked: positions.length, tokens: batch.B * batch.S };
}

/** held-out MLM loss and accuracy (and the pair objective's), with fixed pairs and masks (each example's from its index); data-parallel,
 *  each rank scores the batches r, r + size, … and the sums are gathered in batch order */
function evaluatePretrain(model: Bert, n: number, make: (i: number, rng: Rng) => Instance, sp: Special, batchSize = 32, comm: Comm | null = null) {
  const nb = Math.ceil(n / batchSize), per = new Float64Array(nb * 6);
  for (let j = 0; j < nb; j++) {
    if (comm && j % comm.size !== comm.rank) continue;
    const s = j * batchSize;
    const rngs = Array.from({ length: Math.min(batchSize, n - s) }, (_, i) => new Rng(exampleSeed(12345, s + i)));
    const inst = rngs.map((rng, i) => make(s + i, rng));
    const r = runBatch(model, inst, sp, (i) => rngs[i]!, false);
    per.set([r.mlm.loss * r.masked, r.mlm.accuracy * r.masked, r.masked, r.pair ? r.pair.loss * inst.length : 0, r.pair ? r.pair.accuracy * inst.length : 0, r.pair ? inst.length : 0], j * 6);
  }
  comm?.allreduceSum(per);
  let loss = 0, acc = 0, m = 0, pl = 0, pa = 0, pn = 0;
  for (let j = 0; j < nb; j++) { loss += per[j * 6]!; acc += per[j * 6 + 1]!; m += per[j * 6 + 2]!; pl += per[j * 6 + 3]!; pa += per[j * 6 + 4]!; pn += per[j * 6 + 5]!; }
  return { loss: loss / Math.max(1, m), accuracy: acc / Math.max(1, m), extra: pn ? { pair_loss: pl / pn, pair_accuracy: pa / pn } : undefined };
}

/** ELECTRA: generator and discriminator trained in the same steps (electra.ts) */
function electraTask(disc: Bert, gen: Bert, lengths: number[], make: (i: number, rng: Rng) => Instance, sp: Special, discWeight: number): TrainTask {
  return {
    lengths,
    step(b: number[], seed: number, dLoss: number) {
      const rng = new Rng(seed);
      const inst = b.map((i) => make(i, rng));
      const r = electraStep(disc, gen, inst, sp, { train: true, seed, rng, discWeight, dLoss });
      return { loss: r.loss, tokens: r.tokens };
    },
  };
}

/** held-out ELECTRA figures with fixed masks and samples: the generator's MLM loss and accuracy, the discriminator's loss, accuracy, precision and recall on replaced tokens */
function evaluateElectra(disc: Bert, gen: Bert, n: number, make: (i: number, rng: Rng) => Instance, sp: Special, discWeight: number, batchSize = 32) {
  const rng = new Rng(12345);
  const t: Omit<ElectraStats, 'loss' | 'mlmAccuracy' | 'tokens'> & { acc: number } = { mlmLoss: 0, acc: 0, masked: 0, rtdLoss: 0, active: 0, tp: 0, fp: 0, fn: 0, tn: 0 };
  for (let s = 0; s < n; s += batchSize) {
    const inst = Array.from({ length: Math.min(batchSize, n - s) }, (_, i) => make(s + i, rng));
    const r = electraStep(disc, gen, inst, sp, { train: false, seed: 0, rng, discWeight });
    t.mlmLoss += r.mlmLoss * r.masked; t.acc += r.mlmAccuracy * r.masked; t.masked += r.masked;
    t.rtdLoss += r.rtdLoss * r.active; t.active += r.active; t.tp += r.tp; t.fp += r.fp; t.fn += r.fn; t.tn += r.tn;
  }
  const m = Math.max(1, t.masked), a = Math.max(1, t.active);
  return { loss: t.mlmLoss / m, accuracy: t.acc / m, extra: {
    rtd_loss: t.rtdLoss / a, rtd_accuracy: (t.tp + t.tn) / a, rtd_precision: t.tp / Math.max(1, t.tp + t.fp), rtd_recall: t.tp / Math.max(1, t.tp + t.fn),
    replaced: (t.tp + t.fn) / a,
  } };
}

/** sentences of each document packed into sequences of at most maxLen - 2 tokens (the single-sequence MLM objective) */
export function packDocs(docs: Doc[], maxLen: number): Sentence[] {
  const out: Sentence[] = [];
  for (const d of docs) {
    let cur: Sentence[] = [], n = 0;
    for (const s of d) {
      const ids = s.ids.slice(0, maxLen - 2);
      if (n + ids.length > maxLen - 2 && cur.length) { out.push(concatSentences(cur)); cur = []; n = 0; }
      cur.push({ ids, starts: s.starts.slice(0, ids.length) }); n += ids.length;
    }
    if (cur.length) out.push(concatSentences(cur));
  }
  return out;
}

export interface PretrainOptions {
  corpus: string;
  output: string;
  kernels: Kernels;
  /** continue from this model; else a new one with the shape below and `tokenizer`'s vocabulary */
  model?: string;
  tokenizer?: string;
  layers?: number; hidden?: number; heads?: number; intermediate?: number;
  maxSeqLength?: number; batchSize?: number; learningRate?: number; epochs?: number; maxSteps?: number;
  warmupProportion?: number; seed?: number; dtype?: DTypeOption; saveSteps?: number; evalSteps?: number; overwrite?: boolean;
  /** mlm: packed single sequences (default); nsp / sop: [CLS] A [SEP] B [SEP] with the pair objective on the pooled output;
   *  electra: replaced-token detection on the packed sequences, with a generator trained beside it (electra.ts) */
  objective?: 'mlm' | PairObjective | 'electra';
  /** ELECTRA: the generator's width as a fraction of the discriminator's hidden size (ELECTRA-small 0.25, base 1/3) */
  generatorSize?: number;
  /** ELECTRA: the discriminator loss's weight (ELECTRA's disc_weight, 50) */
  discWeight?: number;
  /** ELECTRA: the width of the shared embeddings (default: --hidden; ELECTRA-small uses 128 with hidden 256) */
  embeddingSize?: number;
  /** whole-word masking: the pieces of a MeCab (UniDic) word are masked together */
  wwm?: boolean;
  /** tensorboard: also OUT/runs/events.out.tfevents.* as the run goes (metrics.csv is always written) */
  reportTo?: 'none' | 'tensorboard';
  log?: (l: string) => void;
  /** cancels pretraining between steps (AbortedError; rerunning resumes from the checkpoint) */
  signal?: { readonly aborted: boolean };
  /** under mpirun (train/distributed.ts): auto (default) trains data-parallel over the ranks, off trains in each process alone */
  distributed?: 'auto' | 'off';
}

/** evalLoss / evalAccuracy: the masked-LM head's (ELECTRA: the generator's); evalRtdAccuracy: the ELECTRA discriminator's, over real tokens */
export interface PretrainResult { steps: number; evalLoss: number; evalAccuracy: number; evalPairAccuracy: number | null; evalRtdAccuracy: number | null; seconds: number }

/** files a pretraining run writes into its folder */
const PRETRAIN_FILES = /^(generator|config\.json|model\.safetensors|spiece\.model|pretrain_report\.json|metrics\.csv|runs|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|vocab\.txt|.*\.model|.*\.vocab|checkpoint-\d+(\.tmp)?)$/;

export function pretrain(o: PretrainOptions): PretrainResult {
  // 1. check and read everything; nothing is written until the run begins
  const objective = choiceOption('objective', o.objective, ['mlm', 'nsp', 'sop', 'electra'] as const, 'mlm');
  const electra = objective === 'electra';
  const reportTo = choiceOption('report-to', o.reportTo, ['none', 'tensorboard'] as const, 'none');
  const wwm = o.wwm ?? false;
  const maxLen = intOption('max-seq-length', o.maxSeqLength, 128, 8, 4096), seed = intOption('seed', o.seed, 42, 0, 2 ** 32 - 1);
  const batchSize = intOption('batch-size', o.batchSize, 32), learningRate = positiveOption('learning-rate', o.learningRate, 1e-4);
  const epochs = positiveOption('epochs', o.epochs, 1), maxSteps = o.maxSteps === undefined ? undefined : intOption('max-steps', o.maxSteps, 0);
  const warmupProportion = ratioOption('warmup-proportion', o.warmupProportion, 0.1, true);
  const saveSteps = intOption('save-steps', o.saveSteps, 200, 0), evalSteps = intOption('eval-steps', o.evalSteps, 0, 0);
  const hidden = intOption('hidden', o.hidden, 256, 1, 8192), layers = intOption('layers', o.layers, 4, 1, 128), heads = intOption('heads', o.heads, 4, 1, 512);
  const intermediate = intOption('intermediate', o.intermediate, 4 * hidden, 1, 65536);
  if (hidden % heads !== 0) throw new OptionError(`--hidden ${hidden} must be a multiple of --heads ${heads}`);
  const generatorSize = ratioOption('generator-size', o.generatorSize, 0.25, true), discWeight = positiveOption('disc-weight', o.discWeight, 50);
  const embeddingSize = intOption('embedding-size', o.embeddingSize, hidden, 1, 8192);
  if (!electra && (o.generatorSize !== undefined || o.discWeight !== undefined || o.embeddingSize !== undefined)) throw new OptionError('--generator-size, --disc-weight and --embedding-size are for --objective electra');
  const dtype = trainingDtype(resolveDtype(o.dtype, o.kernels), 'pretrain');
  const tokPath = o.tokenizer ?? o.model;
  if (!tokPath) throw new DataError('pretrain needs --tokenizer (a SentencePiece model) or --model (continued pretraining)');
  const tok = loadTokenizer(tokPath);
  const id = (t: string) => { const v = tok.tokenId(t); if (v === undefined) throw new DataError(`${tokPath}: the vocabulary has no ${t} piece`); return v; };
  // one sequence is framed as the model's tokenizer frames it (its tokenizer files, else [CLS] a [SEP]); the sentence-pair objectives are
  // create_pretraining_data's [CLS] a [SEP] b [SEP]
  const pairObjective = objective === 'nsp' || objective === 'sop';
  let framing: Framing;
  if (pairObjective) framing = bertFraming(['[CLS]', id('[CLS]')], ['[SEP]', id('[SEP]')], 'create_pretraining_data');
  else try { framing = tok.framing ?? vocabularyFraming(tok); } catch (e) { throw e instanceof TokenizerError ? new DataError(`${tokPath}: ${e.message}`) : e; }
  if (specialCount(framing, false) > 2) throw new DataError(`${tokPath}: the framing from ${framing.source} adds ${specialCount(framing, false)} special tokens to one text; pretraining packs sequences for at most 2`);
  const ends = framing.single.flatMap((p) => ('special' in p ? p.ids : []));
  const maskToken = tok.specialTokens?.mask_token ?? (tok.tokenId('[MASK]') !== undefined ? '[MASK]' : tok.tokenId('<mask>') !== undefined ? '<mask>' : '[MASK]');
  const padToken = tok.specialTokens?.pad_token;
  const sp: Special = { cls: ends[0] ?? -1, sep: ends[ends.length - 1] ?? -1, mask: id(maskToken), pad: (padToken !== undefined ? tok.tokenId(padToken) : undefined) ?? tok.tokenId('[PAD]') ?? tok.tokenId('<pad>') ?? 0, vocab: tok.vocabSize, special: new Set<number>(),
    frame: new Set([...framing.single, ...framing.pair].flatMap((p) => ('special' in p ? p.ids : []))) };
  for (const t of ['[CLS]', '[SEP]', '[MASK]', '[PAD]', '<pad>', '<unk>', '<s>', '</s>', '[UNK]', ...Object.values(tok.specialTokens ?? {})]) { const v = tok.tokenId(t); if (v !== undefined) sp.special.add(v); }
  for (const v of sp.frame!) sp.special.add(v);
  // what identifies a run: the same folder resumes only the same run
  const identity = JSON.stringify({ corpus: o.corpus, tokenizer: tokPath, model: o.model ?? null, maxLen, seed, objective, wwm,
    shape: o.model ? null : { hidden, layers, heads, intermediate }, ...(electra ? { electra: { generator_size: generatorSize, disc_weight: discWeight, embedding_size: embeddingSize } } : {}), batch_size: batchSize, learning_rate: learningRate, epochs, max_steps: maxSteps ?? null, warmup_proportion: warmupProportion, dtype });
  // data-parallel under mpirun: rank 0 owns the output folder (inspects, locks, writes); the others train beside it and write nothing
  const distributed = choiceOption('distributed', o.distributed, ['auto', 'off'] as const, 'auto');
  if (distributed === 'auto' && (mpiLaunch()?.size ?? 1) > 1 && electra) throw new OptionError('--objective electra runs in one process (its generator samples over the whole batch): run it without mpirun, or with --distributed off');
  const comm = openDistributed(distributed), lead = !comm || comm.rank === 0;
  if (!lead) o = { ...o, log: undefined };
  const plan = lead ? inspectRun(o.output, identity, { overwrite: o.overwrite, finished: 'pretrain_report.json', ownFiles: PRETRAIN_FILES, inputs: [{ flag: '--corpus', path: o.corpus }, { flag: '--tokenizer', path: o.tokenizer }], model: o.model }) : null;
  const resumeFrom = plan?.resumeFrom ?? null;
  const words = new WordStarts(tok, wwm ? undefined : null);
  // the strict reader every input goes through: UTF-8 only, no NUL, a regular file or pipe of bounded size
  let corpusText: string;
  try { corpusText = readTextFile(o.corpus); } catch (e) { if (e instanceof InputFileError) throw new DataError(e.message); throw e; }
  const docs = readDocuments(words, corpusText, maxLen);
  if (wwm && words.unaligned) o.log?.(`whole-word masking: ${words.unaligned} sentences could not be aligned with MeCab's words (masked per piece)`);
  // every 50th document is held out (never a pair partner either)
  const trainDocs = docs.filter((_, i) => i % 50 !== 49), heldDocs = docs.filter((_, i) => i % 50 === 49);
  let lengths: number[], make: (i: number, rng: Rng) => Instance, heldN: number, heldMake: (i: number, rng: Rng) => Instance;
  const single = (seqs: Sentence[]) => (i: number): Instance => {
    const q = seqs[i]!;
    const input: number[] = [], starts: number[] = [];
    for (const p of framing.single) {
      if ('special' in p) for (const v of p.ids) { input.push(v); starts.push(1); }
      else { input.push(...q.ids); starts.push(...Array.from(q.starts)); }
    }
    return { input, tokenTypes: input.map(() => 0), starts: Uint8Array.from(starts) };
  };
  if (objective === 'mlm' || electra) {
    const tr = packDocs(trainDocs, maxLen), he = packDocs(heldDocs, maxLen).slice(0, 500);
    lengths = tr.map((q) => q.ids.length + specialCount(framing, false)); make = single(tr); heldN = he.length; heldMake = single(he);
  } else {
    const tr = makeChunks(trainDocs, maxLen, seed), he = makeChunks(heldDocs, maxLen, seed + 1).slice(0, 500);
    lengths = tr.map((c) => Math.min(maxLen, 3 + trainDocs[c.doc]!.slice(c.first, c.end).reduce((a, q) => a + q.ids.length, 0)));
    make = (i, rng) => pairInstance(trainDocs, tr[i]!, objective, maxLen, rng, sp);
    heldN = he.length; heldMake = (i, rng) => pairInstance(heldDocs, he[i]!, objective, maxLen, rng, sp);
  }
  if (lengths.length === 0) throw new DataError(`${o.corpus}: no text to pretrain on`);
  // held-out figures are what a pretraining run reports: a corpus too small to hold any out is refused, not reported as NaN
  if (heldN === 0) throw new DataError(`${o.corpus}: too small to hold anything out: ${docs.length} document(s); every 50th document (paragraphs separated by blank lines) is held out, so pretraining needs at least 50${objective !== 'mlm' ? ' with two or more sentences each' : ''}`);
  if (trainingSteps(lengths.length, { batchSize, epochs, maxSteps }) < 1) throw new OptionError(`no training steps: ${lengths.length} sequences with --batch-size ${batchSize} and --epochs ${epochs} make less than one step`);
  const nsp = pairObjective;
  const heads0 = { mlmHead: !electra, nspHead: nsp, rtdHead: electra };
  let model: Bert, gen: Bert | null = null;
  if (resumeFrom) model = loadBert(resumeFrom, { kernels: o.kernels, dtype, ...heads0 }).model;
  else if (o.model) {
    const { model_type: type = 'bert' } = readConfig(findModelFiles(o.model));
    // BERT (every objective but electra), DeBERTa-v2/v3 and ModernBERT (masked LM: they have no sentence-pair head), ELECTRA (its own objective)
    const continues = electra ? type === 'electra' : type === 'bert' || ((type === 'deberta-v2' || type === 'modernbert') && objective === 'mlm');
    if (!continues) throw new OptionError(`--model ${o.model} is ${type}: ja-bert continues ${electra ? 'ELECTRA pretraining from an ELECTRA discriminator' : 'masked-LM pretraining of BERT (every objective), DeBERTa-v2 and ModernBERT (--objective mlm)'} (${type === 'electra' ? 'use --objective electra' : `not ${objective}`})`);
    model = loadBert(o.model, { kernels: o.kernels, dtype, seed, ...heads0 }).model;
  } else {
    const cfg = makeConfig({ vocab_size: tok.vocabSize, hidden_size: hidden, num_hidden_layers: layers, num_attention_heads: heads,
      intermediate_size: intermediate, max_position_embeddings: Math.max(512, maxLen), ...(electra ? { model_type: 'electra', embedding_size: embeddingSize } : {}) }, 'pretrain');
    model = new Bert(cfg, { kernels: o.kernels, dtype, seed, ...heads0 });
  }
  if (electra) {
    // the generator: the discriminator's depth, generatorSize of its width, one attention head per 64 dimensions (ELECTRA's
    // get_generator_config), the same embeddings (shared); from the checkpoint or --model's generator/ folder when there is one
    const genDir = [resumeFrom, o.model].filter((d): d is string => !!d).map((d) => join(d, 'generator')).find((d) => existsSync(join(d, 'config.json')));
    if (genDir) gen = loadBert(genDir, { kernels: o.kernels, dtype, mlmHead: true }).model;
    else {
      if (resumeFrom) throw new DataError(`${resumeFrom}: the checkpoint has no generator/ folder`);
      const c = model.cfg, gh = Math.max(1, Math.round(c.hidden_size * generatorSize)), gHeads = Math.max(1, Math.floor(gh / 64));
      if (gh % gHeads !== 0) throw new OptionError(`--generator-size ${generatorSize}: the generator's width ${gh} is not a multiple of its ${gHeads} heads`);
      gen = new Bert(makeConfig({ model_type: 'electra', vocab_size: c.vocab_size, hidden_size: gh, embedding_size: c.embedding_size ?? c.hidden_size,
        num_hidden_layers: c.num_hidden_layers, num_attention_heads: gHeads, intermediate_size: 4 * gh, max_position_embeddings: c.max_position_embeddings,
        type_vocab_size: c.type_vocab_size, layer_norm_eps: c.layer_norm_eps, hidden_act: 'gelu' }, 'generator'), { kernels: o.kernels, dtype, seed: seed + 1, mlmHead: true });
    }
  }
  // data-parallel: every rank holds the same corpus, options and (starting fresh) weights, or the run is refused before anything is written
  if (comm) {
    const resuming = comm.bcastJson(resumeFrom !== null);
    checkSameEverywhere(comm, [identity, corpusText, Int32Array.from(lengths), ...(resuming ? [] : [model.params])]);
  }
  // 2. the run begins: lock, run.json; a kill from here on leaves a folder the same command resumes
  const release = plan ? beginRun(plan, identity) : () => {};
  try {
    model.cfg.pad_token_id = sp.pad; // config.json says which id pads (HF masks by it; its default 0 is often another token)
    if (gen) gen.cfg.pad_token_id = sp.pad;
    o.log?.(`pretraining (${objective}${wwm ? ', whole-word masking' : ''}${gen ? `, generator hidden ${gen.cfg.hidden_size}` : ''}) on ${lengths.length} ${nsp ? 'chunks' : 'sequences'} (${heldN} held out), vocabulary ${tok.vocabSize}`);
    const task = gen ? electraTask(model, gen, lengths, make, sp, discWeight) : pretrainTask(model, lengths, make, sp);
    const evalHeld = (): { loss: number; accuracy: number; extra?: Record<string, number> } => gen ? evaluateElectra(model, gen, heldN, heldMake, sp, discWeight) : evaluatePretrain(model, heldN, heldMake, sp, 32, comm);
    const t0 = Date.now();
    const runLog = new RunLog(o.output, reportTo === 'tensorboard');
    const r = trainTask(model, o.kernels, task, {
      batchSize, learningRate, epochs, maxSteps, warmupProportion, seed, log: o.log,
      checkpoint: saveSteps ? { dir: o.output, every: saveSteps } : undefined, resumeFrom: resumeFrom ?? undefined, signal: o.signal,
      evaluation: heldN ? { every: evalSteps, run: evalHeld } : undefined, record: runLog, jointly: gen ? [{ dir: 'generator', model: gen }] : undefined, comm, identity,
    });
    const ev = evalHeld();
    // rank 0 alone writes the outputs
    if (!lead) return { steps: r.globalStep, evalLoss: ev.loss, evalAccuracy: ev.accuracy, evalPairAccuracy: ev.extra?.pair_accuracy ?? null, evalRtdAccuracy: null, seconds: r.seconds };
    if (!Number.isFinite(ev.loss) || !Number.isFinite(ev.accuracy)) throw new DivergedError(`pretraining diverged: the held-out MLM loss is ${ev.loss}; nothing was written as finished: lower --learning-rate`);
    runLog.eval({ step: r.globalStep, eval_loss: ev.loss, eval_accuracy: ev.accuracy, ...Object.fromEntries(Object.entries(ev.extra ?? {}).map(([k, v]) => [`eval_${k}`, v])) }, 'final');
    if (gen) {
      // ElectraForPreTraining and, in generator/, ElectraForMaskedLM with the shared embeddings; the classification head's
      // dense layer (ja-bert's pooler for ELECTRA) is left out: pretraining never trains it, and fine-tuning initialises it
      const F = model.family, untrained = (n: string) => n === F.pooler.w || n === F.pooler.b;
      saveBert(model, o.output, { architectures: ['ElectraForPreTraining'] }, untrained);
      shareEmbeddings(model, gen);
      saveBert(gen, join(o.output, 'generator'), { architectures: ['ElectraForMaskedLM'] }, untrained);
    } else saveBert(model, o.output);
    const tokFile = tokPath.endsWith('.model') ? tokPath : null;
    if (tokFile) writeFileAtomic(join(o.output, 'spiece.model'), (w) => w(readFileChecked(tokFile, 'SentencePiece model')));
    // continued pretraining: the output is a complete model folder, tokenizer included
    else copyTokenizerFiles(statSync(tokPath).isDirectory() ? tokPath : dirname(tokPath), o.output);
    const seconds = (Date.now() - t0) / 1000;
    // the report last: its presence means the run finished
    writeFileAtomic(join(o.output, 'pretrain_report.json'), (w) => w(JSON.stringify({
      objective, whole_word_masking: wwm, steps: r.globalStep, eval_mlm_loss: ev.loss, eval_mlm_accuracy: ev.accuracy,
      eval_pair_loss: ev.extra?.pair_loss ?? null, eval_pair_accuracy: ev.extra?.pair_accuracy ?? null,
      ...(gen ? { generator: gen.cfg, disc_weight: discWeight, ...Object.fromEntries(Object.entries(ev.extra ?? {}).map(([k, v]) => [`eval_${k}`, v])) } : {}), seconds: r.seconds, tokens_per_second: r.tokensPerSecond,
      ...(r.distributed ? { distributed: { ranks: r.distributed.ranks, allreduce_bytes_per_step: r.distributed.allreduceBytesPerStep, allreduce_seconds_per_step: r.distributed.allreduceSecondsPerStep } } : {}),
      train_sequences: lengths.length, heldout_sequences: heldN, evaluations: r.evals, learning_curve: r.curve, config: model.cfg,
    }, null, 1) + '\n'));
    finishRun(o.output);
    return { steps: r.globalStep, evalLoss: ev.loss, evalAccuracy: ev.accuracy, evalPairAccuracy: ev.extra?.pair_accuracy ?? null, evalRtdAccuracy: ev.extra?.rtd_accuracy ?? null, seconds };
  } finally {
    release();
  }
}
