#!/usr/bin/env python3
"""Equal-weight ensembles of members whose probabilities `fer:eval --save-probs` saved (same split, same TTA).

Each argument is FILE or FILE:i,j (members i, j of a file holding several, 0-based). Prints each member's
accuracy and the equal-weight average's: images right and accuracy, as `fer:eval --checkpoint A,B,...` would.

    python3 scripts/analysis/combine-probs.py runs/ens4/public-tencrop-4.json:0,1 runs/ens25/public-tencrop-e50.json
"""
import json
import sys

import numpy as np

labels = None
members = []
for arg in sys.argv[1:]:
    path, _, pick = arg.partition(':')
    d = json.load(open(path))
    y = np.array(d['labels'])
    if labels is None:
        labels = y
    elif not np.array_equal(labels, y):
        sys.exit(f'{path}: labels differ from the first file (another split?)')
    idx = [int(i) for i in pick.split(',')] if pick else range(len(d['probs']))
    for i in idx:
        p = np.array(d['probs'][i]).reshape(len(y), -1)
        members.append((f"{d['checkpoints'][i]} ({d['tta']})", p))
for name, p in members:
    right = int((p.argmax(1) == labels).sum())
    print(f'{name}: {right} of {len(labels)}, {100 * right / len(labels):.2f}%')
avg = np.mean([p for _, p in members], axis=0)
right = int((avg.argmax(1) == labels).sum())
print(f'equal-weight average of {len(members)}: {right} of {len(labels)}, {100 * right / len(labels):.2f}%')
