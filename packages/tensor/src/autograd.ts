// Reverse-mode autograd, micrograd-style: each op output holds a node with its inputs and a
// backward closure; backward() walks a topological order once.
import type { Tensor } from './tensor.js';
import { ones, keep, fmtShape } from './tensor.js';
import { add, copy } from './ops/elementwise.js';

export interface GradNode {
  op: string;
  inputs: ReadonlyArray<Tensor>;
  /** Gradient of the loss w.r.t. each input (null where none flows), given the output's gradient. */
  backward: (grad: Tensor) => ReadonlyArray<Tensor | null>;
  /** Tensors the op made only for its backward (masks, argmax, saved statistics): freed after it. */
  saved?: ReadonlyArray<Tensor>;
}

let disabled = 0;

export function isGradEnabled(): boolean {
  return disabled === 0;
}

/** Runs fn without recording the tape (inference, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  disabled++;
  try {
    return fn();
  } finally {
    disabled--;
  }
}

export function needsGrad(inputs: ReadonlyArray<Tensor | null | undefined>): boolean {
  return disabled === 0 && inputs.some((t) => t?.requiresGrad);
}

/**
 * Attaches a node to an op's output when any input needs a gradient; otherwise frees `saved` at once.
 * `inputs` may hold nulls (absent optional inputs such as a bias).
 */
export function record<T extends Tensor>(
  out: T,
  op: string,
  inputs: ReadonlyArray<Tensor | null | undefined>,
  backward: GradNode['backward'],
  saved: ReadonlyArray<Tensor> = [],
): T {
  if (needsGrad(inputs)) {
    out.requiresGrad = true;
    out.node = { op, inputs: inputs.map((t) => t ?? null) as Tensor[], backward, saved };
  } else {
    for (const s of saved) s.dispose();
  }
  return out;
}

export function runBackward(loss: Tensor): void {
  if (loss.isDisposed) throw new Error(`backward(): tensor ${loss.describe()} was disposed`);
  if (loss.size !== 1)
    throw new Error(`backward() needs a scalar loss (one element), got shape ${fmtShape(loss.shape)}; reduce it with sum() or mean() first`);
  if (!loss.requiresGrad)
    throw new Error(`backward(): ${loss.describe()} does not require grad (no input had requiresGrad, or it was computed under noGrad)`);
  const order = topoOrder(loss);
  const freed = order.find((t) => t.graphReleased);
  if (freed)
    throw new Error(
      `backward(): the graph through ${freed.describe()} was already freed by an earlier backward(); recompute the forward pass (as PyTorch, gradients flow through a graph once)`,
    );
  const grads = new Map<Tensor, Tensor>();
  noGrad(() => {
    grads.set(loss, ones(loss.shape));
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i]!;
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      if (!t.node) {
        // A leaf: accumulate into .grad, which outlives any tidy() scope.
        if (t.grad) {
          const sum = keep(add(t.grad, g));
          t.grad.dispose();
          g.dispose();
          t.grad = sum;
        } else {
          t.grad = keep(g);
        }
        continue;
      }
      const node = t.node;
      const inputGrads = node.backward(g);
      const seen = new Set<Tensor>([g]);
      node.inputs.forEach((input, k) => {
        let gi = inputGrads[k];
        if (!input || !gi || !input.requiresGrad) {
          if (gi && !seen.has(gi)) gi.dispose();
          return;
        }
        if (gi.size !== input.size)
          throw new Error(`internal: ${node.op} backward gave grad ${fmtShape(gi.shape)} for input ${fmtShape(input.shape)}`);
        // A closure may pass its incoming gradient through (add, reshape): copy so each owner frees its own.
        if (seen.has(gi)) gi = copy(gi);
        seen.add(gi);
        const prev = grads.get(input);
        if (prev) {
          grads.set(input, add(prev, gi));
          prev.dispose();
          gi.dispose();
        } else grads.set(input, gi);
      });
      g.dispose();
    }
  });
  // Release the graph: saved intermediates go now, not when a scope ends.
  for (const t of order) {
    if (t.node) {
      for (const s of t.node.saved ?? []) s.dispose();
      t.node = null;
      t.graphReleased = true;
    }
  }
  for (const g of grads.values()) g.dispose();
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: Array<[Tensor, number]> = [[root, 0]];
  visited.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [t, k] = top;
    const inputs = t.node?.inputs ?? [];
    if (k < inputs.length) {
      top[1]++;
      const next = inputs[k];
      if (next && next.requiresGrad && !visited.has(next)) {
        if (next.isDisposed) throw new Error(`backward(): ${next.describe()}, an input of ${t.node!.op}, was disposed before backward`);
        visited.add(next);
        stack.push([next, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order;
}
