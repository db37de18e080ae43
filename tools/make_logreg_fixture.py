#!/usr/bin/python3
"""Write test/fixtures/logreg.json: fixed feature sets with scikit-learn's
LogisticRegression (L2, C=1, lbfgs, run to convergence) coefficients, objective
and held-out accuracy (dev-time; needs python3-sklearn).
Re-run: /usr/bin/python3 tools/make_logreg_fixture.py"""
import json
import os

import numpy as np
from sklearn.linear_model import LogisticRegression

rng = np.random.default_rng(3)
cases = []
for classes, n, d, noise in [(2, 500, 24, 1.5), (3, 450, 12, 1.0), (2, 300, 64, 3.0)]:
    centers = rng.normal(size=(classes, d))
    y = rng.integers(0, classes, size=n)
    X = centers[y] + noise * rng.normal(size=(n, d))
    ntr = int(n * 2 / 3)
    clf = LogisticRegression(C=1.0, max_iter=100000, tol=1e-10).fit(X[:ntr], y[:ntr])
    p = clf.predict_proba(X[:ntr])
    logloss = -np.log(p[np.arange(ntr), y[:ntr]]).sum()
    objective = logloss + 0.5 * (clf.coef_ ** 2).sum()
    cases.append({
        "classes": classes, "d": d,
        "X_train": X[:ntr].round(6).tolist(), "y_train": y[:ntr].tolist(),
        "X_test": X[ntr:].round(6).tolist(), "y_test": y[ntr:].tolist(),
        "coef": clf.coef_.tolist(), "intercept": clf.intercept_.tolist(),
        "objective": objective, "test_accuracy": float(clf.score(X[ntr:], y[ntr:])),
    })
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "logreg.json")
with open(out + ".tmp", "w") as f:
    json.dump({"format": "ja-bert-logreg", "version": 1, "cases": cases}, f)
os.replace(out + ".tmp", out)
print(out, [round(c["test_accuracy"], 4) for c in cases])
