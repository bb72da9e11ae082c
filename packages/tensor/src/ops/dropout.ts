// Being written: see the helper working on ops/dropout.ts.
export {};
