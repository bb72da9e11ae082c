// Being written: see the helper working on ops/batchnorm.ts.
export {};
