// Being written: see the helper working on ops/loss.ts.
export {};
