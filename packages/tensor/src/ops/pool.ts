// Being written: see the helper working on ops/pool.ts.
export {};
