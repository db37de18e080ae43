// Report text byte-identical to scikit-learn / numpy / run_classifier
// (references in test/fixtures/reports.json, written by tools/make_report_fixture.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { classificationReport, computeMetrics, confusionMatrixText, evalResultsText, float32Repr, formatFixed } from '../src/eval/metrics.js';

const FIX = new URL('../../test/fixtures/reports.json', import.meta.url).pathname;
interface Case { labels?: string[]; y_true?: number[]; y_pred?: number[]; report?: string; confusion?: string; float32?: number; str?: string }
const data = JSON.parse(readFileSync(FIX, 'utf8')) as { format: string; version: number; cases: Case[] };

test('reference file is the expected format', () => {
  assert.equal(data.format, 'ja-bert-reports', 'regenerate with /usr/bin/python3 tools/make_report_fixture.py');
  assert.equal(data.version, 1);
});

test('classification_report and confusion_matrix text are byte-identical to scikit-learn', () => {
  let n = 0;
  for (const c of data.cases) {
    if (!c.labels) continue;
    const m = computeMetrics(c.labels, c.y_true!, c.y_pred!);
    assert.equal(classificationReport(m), c.report, `labels ${c.labels.join(',')}`);
    assert.equal(confusionMatrixText(m.confusion), c.confusion);
    n++;
  }
  assert.equal(n, 6);
});

test('float32 values print as numpy does (run_classifier writes str(np.float32))', () => {
  for (const c of data.cases) if (c.float32 !== undefined) assert.equal(float32Repr(c.float32), c.str, String(c.float32));
});

test('fixed-point rounding follows Python: exact binary ties go to even', () => {
  assert.equal(formatFixed(0.125, 2), '0.12');
  assert.equal(formatFixed(0.375, 2), '0.38');
  assert.equal(formatFixed(0.625, 2), '0.62');
  assert.equal(formatFixed(1, 2), '1.00');
  assert.equal(formatFixed(0.005, 2), '0.01'); // 0.005 is slightly above the tie in binary
  assert.equal(formatFixed(2.675, 2), '2.67'); // and 2.675 slightly below
});

test("eval_results.txt is the seed's block", () => {
  assert.equal(evalResultsText({ eval_accuracy: 0.9525939, eval_loss: 0.40050572, global_step: 1047, loss: 0.39979258 }),
    '***** Eval results *****\neval_accuracy = 0.9525939\neval_loss = 0.40050572\nglobal_step = 1047\nloss = 0.39979258\n');
});

test('JSON errors are located by line', async () => {
  const { jsonErrorOffset, jsonErrorWhere } = await import('../src/data/jsonpos.js');
  assert.equal(jsonErrorOffset('{"a": [1, 2, {"b": null}], "c": "x\\u00e9"}'), -1);
  assert.equal(jsonErrorWhere('{\n"a(1)": "x",\n"b(1)": \n}'), 4);
  assert.equal(jsonErrorWhere('[\n["a", "b", 1],\n["a", "b" 1]\n]'), 3);
  assert.equal(jsonErrorWhere('{"a": 1}\n\nx'), 3);
  assert.equal(jsonErrorWhere('{"a": tru}'), 1);
  for (const bad of ['', '{', '[1,]', '{"a":}', '"unterminated', '01', '{"a" 1}']) assert.notEqual(jsonErrorOffset(bad), -1, bad);
});

test('the PNGs carry their text: class names, titles, axis names and legends change the picture', async () => {
  const { confusionPng, curvesPng } = await import('../src/eval/png.js');
  const { computeMetrics: cm } = await import('../src/eval/metrics.js');
  const a = cm(['ネガティブ', 'ポジティブ'], [0, 1, 1, 0], [0, 1, 0, 0]), b = cm(['negative', 'positive'], [0, 1, 1, 0], [0, 1, 0, 0]);
  const pa = confusionPng(a), pb = confusionPng(b);
  assert.deepEqual([...pa.subarray(1, 4)], [0x50, 0x4e, 0x47]);
  assert.ok(!pa.equals(pb), 'the class names are drawn');
  assert.ok(pa.equals(confusionPng(cm(['ネガティブ', 'ポジティブ'], [0, 1, 1, 0], [0, 1, 0, 0]))), 'deterministic');
  const curve = Array.from({ length: 20 }, (_, i) => ({ step: i + 1, loss: 1 / (i + 1) }));
  const evals = [{ step: 10, eval_loss: 0.5, eval_accuracy: 0.6 }, { step: 20, eval_loss: 0.4, eval_accuracy: 0.7 }];
  const two = curvesPng(curve, evals), one = curvesPng(curve, []);
  assert.equal(two.readUInt32BE(20), 520, 'loss and accuracy charts, 260 px each');
  assert.equal(one.readUInt32BE(20), 260, 'no evaluations: the loss chart alone');
});

test('CRC-32C and TensorFlow\'s masked CRC: the published check value; events decode back', async () => {
  const { crc32c, maskedCrc, eventsFile, EventType } = await import('../src/eval/tfevents.js');
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283, 'the CRC-32C check value (RFC 3720)');
  assert.equal(maskedCrc(Buffer.from('123456789')), ((((0xe3069283 >>> 15) | (0xe3069283 << 17)) >>> 0) + 0xa282ead8) >>> 0);
  const f = eventsFile([{ step: 7, tag: 'train/loss', value: 0.25 }, { step: 8, tag: 'x', value: NaN }], 1000);
  const len = Number(f.readBigUInt64LE(0));
  const second = f.subarray(16 + len);
  const e = EventType.toObject(EventType.decode(second.subarray(12, 12 + Number(second.readBigUInt64LE(0)))), { longs: Number }) as { step: number; wallTime: number; summary: { value: Array<{ tag: string; simpleValue: number }> } };
  assert.deepEqual([e.step, e.wallTime, e.summary.value[0]!.tag, e.summary.value[0]!.simpleValue], [7, 1000, 'train/loss', 0.25]);
  assert.equal(second.length, 16 + Number(second.readBigUInt64LE(0)), 'a non-finite value is left out');
});
