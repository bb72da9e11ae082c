// Being written: see the helper working on ops/conv2d.ts.
export {};
