// Being written: see the helper working on ops/optim.ts.
export {};
