#!/usr/bin/env python3
"""Held-out test of two ways to combine ensemble members other than the equal probability average.

  A. per-member temperature: each member's log-probabilities divided by its own T (fitted by the NLL of the
     averaged ensemble), then the equal average of the softmaxes;
  B. stacking: multinomial logistic regression on the members' concatenated log-probabilities (L2 1e-2),
     started at the geometric mean.

Both are fitted on a random half of the saved images and scored on the other half, against the equal average
on that same half; repeated over HALVINGS random halvings. A method fitted on the images it is scored on
always looks better; only the held-out gain says whether it is.

    python3 scripts/analysis/combine-cv.py runs/gpu27/eval4/ens4-tencrop-public-probs.json 1,2,3 [HALVINGS=200] [SEED=28]
"""
import json
import sys

import numpy as np
from scipy.optimize import minimize

path, pick = sys.argv[1], sys.argv[2]
halvings = int(sys.argv[3]) if len(sys.argv) > 3 else 200
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 28
d = json.load(open(path))
y = np.array(d['labels'])
n = len(y)
idx = [int(i) for i in pick.split(',')]
# Clipped so that a member's hard zero does not make a log-probability -inf.
logp = [np.log(np.clip(np.array(d['probs'][m]).reshape(n, -1), 1e-12, 1)) for m in idx]
k = logp[0].shape[1]


def right(scores, rows):
    return int((scores.argmax(1) == y[rows]).sum())


def equal_average(rows):
    return sum(np.exp(lp[rows]) for lp in logp) / len(logp)


def tempered_average(rows, temps):
    out = 0
    for lp, t in zip(logp, temps):
        z = lp[rows] / t
        z -= z.max(1, keepdims=True)
        e = np.exp(z)
        out = out + e / e.sum(1, keepdims=True)
    return out / len(logp)


def fit_temperatures(rows):
    def nll(log_t):
        p = tempered_average(rows, np.exp(log_t))
        return -np.mean(np.log(p[np.arange(len(rows)), y[rows]] + 1e-12))
    return np.exp(minimize(nll, np.zeros(len(logp)), method='Nelder-Mead', options={'xatol': 1e-3, 'fatol': 1e-6}).x)


def features(rows):
    return np.concatenate([lp[rows] for lp in logp], 1)


def fit_stacking(rows, l2=1e-2):
    x, t = features(rows), y[rows]
    f = x.shape[1]

    def loss(w):
        W, b = w[: f * k].reshape(f, k), w[f * k:]
        z = x @ W + b
        z -= z.max(1, keepdims=True)
        lp = z - np.log(np.exp(z).sum(1, keepdims=True))
        g = np.exp(lp)
        g[np.arange(len(rows)), t] -= 1
        g /= len(rows)
        return -lp[np.arange(len(rows)), t].mean() + l2 * (W ** 2).sum(), np.concatenate([(x.T @ g + 2 * l2 * W).ravel(), g.sum(0)])

    w0 = np.concatenate([np.concatenate([np.eye(k) / len(logp)] * len(logp)).ravel(), np.zeros(k)])
    w = minimize(loss, w0, jac=True, method='L-BFGS-B', options={'maxiter': 500}).x
    return lambda r: features(r) @ w[: f * k].reshape(f, k) + w[f * k:]


everything = np.arange(n)
print(f'{path}: members {idx} of {len(d["probs"])}, {d["split"]}, tta {d["tta"]}, {n} images')
print(f'equal average: {right(equal_average(everything), everything)} right')
temps = fit_temperatures(everything)
print(f'temperatures fitted on all: {np.round(temps, 3)}, {right(tempered_average(everything, temps), everything)} right (in sample)')
rng = np.random.default_rng(seed)
gains = {'A temperature': [], 'B stacking': []}
for _ in range(halvings):
    perm = rng.permutation(n)
    fit, held = perm[: n // 2], perm[n // 2:]
    base = right(equal_average(held), held)
    gains['A temperature'].append(right(tempered_average(held, fit_temperatures(fit)), held) - base)
    gains['B stacking'].append(right(fit_stacking(fit)(held), held) - base)
for name, g in gains.items():
    g = np.array(g)
    print(f'{name}: held-out images gained per half over {halvings} halvings: mean {g.mean():+.2f}, sd {g.std():.2f}, '
          f'> 0 in {100 * (g > 0).mean():.0f}%')
