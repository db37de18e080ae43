// The baseline's logistic regression against scikit-learn on fixed features
// (test/fixtures/logreg.json, written by tools/make_logreg_fixture.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fitLogReg, predictProba } from '../src/baseline/logreg.js';

interface Case { classes: number; d: number; X_train: number[][]; y_train: number[]; X_test: number[][]; y_test: number[]; coef: number[][]; intercept: number[]; objective: number; test_accuracy: number }
const data = JSON.parse(readFileSync(new URL('../../test/fixtures/logreg.json', import.meta.url).pathname, 'utf8')) as { format: string; cases: Case[] };

test('L2 logistic regression: same objective, weights and held-out accuracy as scikit-learn', () => {
  assert.equal(data.format, 'ja-bert-logreg', 'regenerate with /usr/bin/python3 tools/make_logreg_fixture.py');
  for (const c of data.cases) {
    const N = c.y_train.length;
    const m = fitLogReg(Float64Array.from(c.X_train.flat()), Int32Array.from(c.y_train), N, c.d, c.classes, { C: 1 });
    assert.ok(Math.abs(m.objective * N - c.objective) / c.objective < 1e-5, `objective ${m.objective * N} vs sklearn ${c.objective}`);
    const ref = c.coef.flat();
    let worst = 0;
    ref.forEach((v, i) => { worst = Math.max(worst, Math.abs(m.W[i]! - v)); });
    assert.ok(worst < 1e-3 * Math.max(...ref.map(Math.abs)), `max weight difference ${worst}`);
    const P = predictProba(m, Float64Array.from(c.X_test.flat()), c.y_test.length);
    let correct = 0;
    c.y_test.forEach((t, n) => {
      let best = 0;
      for (let k = 1; k < c.classes; k++) if (P[n * c.classes + k]! > P[n * c.classes + best]!) best = k;
      if (best === t) correct++;
    });
    const acc = correct / c.y_test.length;
    assert.ok(Math.abs(acc - c.test_accuracy) <= 0.005, `accuracy ${acc} vs sklearn ${c.test_accuracy}`);
  }
});
