#!/usr/bin/env python3
"""Fixture for the regression metrics (issue 17): Pearson's r and Spearman's rho
as SciPy computes them (scipy.stats.pearsonr / spearmanr, ties at their
average rank), and the MSE, on seeded arrays with and without ties.
Dev-time only (Debian's python3-scipy, python3-numpy):
  /usr/bin/python3 tools/make_regression_fixture.py > test/fixtures/regression-metrics.json
"""
import json

import numpy as np
from scipy import stats

rng = np.random.RandomState(17)
cases = []
for n, ties in [(8, False), (50, False), (50, True), (200, True), (7, True)]:
    x = rng.uniform(0, 5, n)
    y = 0.6 * x + rng.normal(0, 1.2, n)
    if ties:  # STS-style scores: steps of 0.2 on the truth side, rounding on the prediction side
        x = np.round(x * 5) / 5
        y = np.round(y, 1)
    x, y = [float(v) for v in x], [float(v) for v in y]
    cases.append({
        'y_true': x, 'y_pred': y,
        'pearson': float(stats.pearsonr(x, y)[0]),
        'spearmanr': float(stats.spearmanr(x, y)[0]),
        'mse': float(np.mean((np.array(y) - np.array(x)) ** 2)),
    })
print(json.dumps({'scipy': __import__('scipy').__version__, 'cases': cases}, indent=1))
