// Being written: see the helper working on ops/matmul.ts.
export {};
