#!/usr/bin/env python3
"""Ensembles of members whose probabilities `fer:eval --save-probs` saved (same split, same TTA).

Each argument is FILE or FILE:i,j (members i, j of a file holding several, 0-based), optionally followed by
*W: those members' weight (default 1), e.g. four snapshots of one network at *0.25 count as one member.
Prints each member's accuracy and the weighted average's: images right and accuracy, as
`fer:eval --checkpoint A,B,... --weights ...` would.

    python3 scripts/analysis/combine-probs.py runs/ens4/public-tencrop-4.json:0,1 runs/ens25/public-tencrop-e50.json
"""
import json
import sys

import numpy as np

labels = None
members = []
for arg in sys.argv[1:]:
    arg, _, weight = arg.partition('*')
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
        members.append((f"{d['checkpoints'][i]} ({d['tta']})", p, float(weight or 1)))
for name, p, _ in members:
    right = int((p.argmax(1) == labels).sum())
    print(f'{name}: {right} of {len(labels)}, {100 * right / len(labels):.2f}%')
avg = sum(w * p for _, p, w in members) / sum(w for _, _, w in members)
right = int((avg.argmax(1) == labels).sum())
kind = 'equal-weight' if len({w for _, _, w in members}) == 1 else 'weighted'
print(f'{kind} average of {len(members)}: {right} of {len(labels)}, {100 * right / len(labels):.2f}%')
