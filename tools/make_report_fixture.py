#!/usr/bin/python3
"""Write test/fixtures/reports.json: scikit-learn's classification_report and
numpy's print of confusion_matrix for fixed label/prediction sets (dev-time;
needs Debian's python3-sklearn). Re-run: /usr/bin/python3 tools/make_report_fixture.py"""
import json
import os
import random

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix

cases = []
rng = random.Random(5)
specs = [
    (["0", "1"], 2235, 0.95),            # the seed's shape
    (["negative", "positive"], 843, 0.7),
    (["a", "bb", "a-very-long-label-name"], 301, 0.5),
    (["x", "y"], 8, 0.5),                # tiny: exact binary ties such as 0.125 and 0.375
    ([str(i) for i in range(9)], 1473, 0.9),  # livedoor's nine categories
    (["0", "1", "2"], 40, 0.0),          # a class never predicted: zero division
]
for labels, n, acc in specs:
    y_true = [rng.randrange(len(labels)) for _ in range(n)]
    y_pred = [t if rng.random() < acc else rng.randrange(len(labels)) for t in y_true]
    if acc == 0.0:
        y_pred = [0 if p == 2 else p for p in y_pred]
    cases.append({
        "labels": labels, "y_true": y_true, "y_pred": y_pred,
        "report": classification_report(y_true, y_pred, labels=list(range(len(labels))), target_names=labels, zero_division=0),
        "confusion": str(confusion_matrix(y_true, y_pred, labels=list(range(len(labels))))) + "\n",
    })
for x in [0.9525939, 0.40050572, 0.39979258, 1.0, 0.5, 1e-05, 2.5e-07, 123.456, 0.1, 3.0e-4]:
    cases.append({"float32": x, "str": str(np.float32(x))})
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "reports.json")
with open(out + ".tmp", "w") as f:
    json.dump({"format": "ja-bert-reports", "version": 1, "cases": cases}, f, ensure_ascii=False, indent=1)
os.replace(out + ".tmp", out)
print(out, len(cases))
