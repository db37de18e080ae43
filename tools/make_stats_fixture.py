#!/usr/bin/env python3
"""Fixture for the uncertainty statistics (issue 29), computed by SciPy:
- McNemar's exact p-value: scipy.stats.binomtest(min(b, c), b + c, 0.5).pvalue,
  and binomtest(k, n, p) for p other than 0.5;
- Wilson intervals: binomtest(k, n).proportion_ci(method='wilson');
- bootstrap intervals: scipy.stats.bootstrap(method='percentile', paired) with
  many resamples for macro-F1, MCC and ROC-AUC of seeded predictions, and for
  the accuracy difference of two systems on the same examples (the test checks
  ja-bert's seeded bootstrap lands within Monte-Carlo error of these);
- numpy.percentile's linear rule.
The metrics are written out here in numpy (scikit-learn is not packaged on this
machine): macro-F1 and MCC as scikit-learn defines them, ROC-AUC by
Mann-Whitney with average ranks (scipy.stats.rankdata).
Dev-time only (Debian's python3-scipy, python3-numpy):
  /usr/bin/python3 tools/make_stats_fixture.py > test/fixtures/stats.json
"""
import json

import numpy as np
from scipy import stats


def confusion(t, p, C):
    cm = np.zeros((C, C))
    np.add.at(cm, (t, p), 1)
    return cm


def macro_f1(t, p, C):
    cm = confusion(t, p, C)
    f = []
    for c in range(C):
        tp, pred, sup = cm[c, c], cm[:, c].sum(), cm[c, :].sum()
        pr = tp / pred if pred else 0.0
        rc = tp / sup if sup else 0.0
        f.append(2 * pr * rc / (pr + rc) if pr + rc else 0.0)
    return float(np.mean(f))


def mcc(t, p, C):
    cm = confusion(t, p, C)
    s, c = cm.sum(), np.trace(cm)
    tk, pk = cm.sum(1), cm.sum(0)
    den = np.sqrt((s * s - (pk ** 2).sum()) * (s * s - (tk ** 2).sum()))
    return float((c * s - (tk * pk).sum()) / den) if den else 0.0


def auc(t, score):
    pos = t == 1
    P, N = pos.sum(), (~pos).sum()
    if P == 0 or N == 0:
        return np.nan
    r = stats.rankdata(score)
    return float((r[pos].sum() - P * (P + 1) / 2) / (P * N))


rng = np.random.RandomState(29)
out = {'scipy': __import__('scipy').__version__, 'binom': [], 'wilson': [], 'bootstrap': [], 'paired': [], 'percentile': []}
for k, n, p in [(0, 0, 0.5), (3, 10, 0.5), (7, 10, 0.5), (5, 10, 0.5), (0, 12, 0.5), (40, 100, 0.5), (61, 140, 0.5), (480, 1000, 0.5),
                (1, 2235, 0.5), (1100, 2300, 0.5), (2, 30, 0.3), (17, 40, 0.3), (9, 60, 0.15)]:
    out['binom'].append({'k': k, 'n': n, 'p': p, 'p_value': 1.0 if n == 0 else float(stats.binomtest(k, n, p).pvalue)})
for k, n in [(0, 10), (10, 10), (1, 10), (50, 100), (72, 100), (2129, 2235), (1610, 2235), (3, 7)]:
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method='wilson')
    out['wilson'].append({'k': k, 'n': n, 'low': float(ci.low), 'high': float(ci.high)})
R = 20000
for n, C, acc in [(200, 2, 0.8), (400, 2, 0.65), (300, 3, 0.7)]:
    t = rng.randint(0, C, n)
    p = np.where(rng.uniform(size=n) < acc, t, rng.randint(0, C, n))
    score = np.clip(0.5 + (2 * (t == 1) - 1) * rng.uniform(-0.2, 0.6, n), 0, 1).round(3)  # ties on purpose
    case = {'C': C, 'y_true': t.tolist(), 'y_pred': p.tolist(), 'score': score.tolist() if C == 2 else None}
    for name, f in [('macro_f1', lambda a, b: macro_f1(a, b, C)), ('mcc', lambda a, b: mcc(a, b, C))]:
        res = stats.bootstrap((t, p), f, paired=True, vectorized=False, n_resamples=R, method='percentile', random_state=rng)
        case[name] = [float(res.confidence_interval.low), float(res.confidence_interval.high), float(res.standard_error)]
    if C == 2:
        res = stats.bootstrap((t, score), auc, paired=True, vectorized=False, n_resamples=R, method='percentile', random_state=rng)
        case['roc_auc'] = [float(res.confidence_interval.low), float(res.confidence_interval.high), float(res.standard_error)]
    out['bootstrap'].append(case)
for n, pa, pb in [(300, 0.7, 0.8), (1000, 0.6, 0.62)]:
    a = (rng.uniform(size=n) < pa).astype(int)
    b = np.where(rng.uniform(size=n) < 0.7, a, (rng.uniform(size=n) < pb).astype(int))
    res = stats.bootstrap((a, b), lambda x, y: float(np.mean(y) - np.mean(x)), paired=True, vectorized=False, n_resamples=R, method='percentile', random_state=rng)
    out['paired'].append({'a': a.tolist(), 'b': b.tolist(), 'ci': [float(res.confidence_interval.low), float(res.confidence_interval.high), float(res.standard_error)]})
for n in [1, 2, 5, 1000]:
    v = rng.normal(size=n).round(4)
    out['percentile'].append({'values': v.tolist(), 'q': [0, 2.5, 50, 97.5, 100], 'expected': np.percentile(v, [0, 2.5, 50, 97.5, 100]).tolist()})
print(json.dumps(out))
