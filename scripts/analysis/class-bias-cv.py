#!/usr/bin/env python3
"""Would per-class logit offsets on the ensemble's averaged probabilities help? Held-out estimate.

Reads `fer:eval --save-probs` output (one PublicTest file with several members' probabilities),
averages the first K members' softmax outputs, and fits 7 additive offsets on log-probabilities on a
random half of PublicTest, scoring the other half; 20 random halves. Two fits: coordinate search for
accuracy, and gradient descent on the cross-entropy (prior correction). Prints the images gained on
each held-out half (negative = lost).

    python3 scripts/analysis/class-bias-cv.py runs/ens4/public-tencrop-4.json 3
"""
import json
import sys

import numpy as np

path, k = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0
d = json.load(open(path))
y = np.array(d['labels'])
members = [np.array(p).reshape(-1, 7) for p in d['probs']]
members = members[:k] if k else members
print('members:', d['checkpoints'][: len(members)], 'tta:', d['tta'])
logp = np.log(np.mean(members, axis=0) + 1e-12)


def fit_accuracy(lp, yy):
    b = np.zeros(7)
    for _ in range(4):
        for c in range(7):
            best = (-1, 0.0)
            for g in np.linspace(-0.6, 0.6, 25):
                t = b.copy()
                t[c] = g
                acc = ((lp + t).argmax(1) == yy).sum()
                if acc > best[0] or (acc == best[0] and abs(g) < abs(best[1])):
                    best = (acc, g)
            b[c] = best[1]
    return b


def fit_nll(lp, yy, steps=500, lr=0.5):
    b = np.zeros(7)
    onehot = np.eye(7)[yy]
    for _ in range(steps):
        z = lp + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        b -= lr * (p - onehot).mean(0)
    return b


rng = np.random.default_rng(0)
for name, fit in (('accuracy', fit_accuracy), ('cross-entropy', fit_nll)):
    gains = []
    for _ in range(20):
        idx = rng.permutation(len(y))
        a, h = idx[: len(y) // 2], idx[len(y) // 2 :]
        b = fit(logp[a], y[a])
        gains.append(int(((logp[h] + b).argmax(1) == y[h]).sum() - (logp[h].argmax(1) == y[h]).sum()))
    print(f'{name:>13} fit: held-out gains {gains}, mean {np.mean(gains):+.1f} of {len(y) - len(y) // 2}')
print('no offsets, whole PublicTest:', int((logp.argmax(1) == y).sum()), 'of', len(y))
