// Buffer pool: GPU memory is invisible to the GC, so buffers are recycled by size class and a
// training loop of thousands of steps reaches a steady state instead of growing.
import { gpu, onRelease } from './device.js';

const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

const free = new Map<number, GPUBuffer[]>();
let live = 0;
let liveBytes = 0;
let pooledBytes = 0;

/** Rounds up to the classes 2^k and 1.5*2^k (at least 256 bytes): under 50% waste, good reuse. */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes / 4) * 4);
  const p = 2 ** Math.floor(Math.log2(b));
  if (b === p) return p;
  if (b <= p * 1.5) return Math.ceil(p * 1.5);
  return p * 2;
}

// Creation order of each buffer, for settleFreeLists.
const serial = new WeakMap<GPUBuffer, number>();
let nextSerial = 0;

export function acquireBuffer(bytes: number): GPUBuffer {
  const size = sizeClass(bytes);
  const list = free.get(size);
  let buf = list?.pop();
  if (buf) pooledBytes -= size;
  else {
    buf = gpu().device.createBuffer({ size, usage: STORAGE_USAGE });
    serial.set(buf, nextSerial++);
  }
  live++;
  liveBytes += size;
  return buf;
}

export function releaseBuffer(buf: GPUBuffer): void {
  live--;
  liveBytes -= buf.size;
  pooledBytes += buf.size;
  let list = free.get(buf.size);
  if (!list) free.set(buf.size, (list = []));
  list.push(buf);
}

/**
 * Puts each free list in creation order; dispatch.ts calls it at every flush. Between flushes a free
 * list is last-in-first-out, so a temporary reuses the buffer released last, still in the cache on
 * CPU adapters. Left alone, that order would carry the history of releases over from one training
 * step to the next and permute the buffers, and every step made new bind groups (cached per buffer
 * in dispatch.ts: ~44 per seed-cnn step). Sorted here, a step that allocates the same way every time
 * starts from the same pool and gets the same buffers: no new bind groups after the first steps.
 */
export function settleFreeLists(): void {
  const id = (b: GPUBuffer) => serial.get(b) ?? -1;
  for (const list of free.values()) if (list.length > 1) list.sort((a, b) => id(a) - id(b));
}

export interface MemoryStats {
  /** Buffers held by live tensors. */
  liveBuffers: number;
  liveBytes: number;
  /** Buffers kept for reuse. */
  pooledBuffers: number;
  pooledBytes: number;
}

export function memory(): MemoryStats {
  let pooledBuffers = 0;
  for (const l of free.values()) pooledBuffers += l.length;
  return { liveBuffers: live, liveBytes, pooledBuffers, pooledBytes };
}

/** Destroys the pooled (free) buffers. Callers flush pending GPU work first (see dispatch.trimPool). */
export function destroyPooled(): void {
  for (const l of free.values()) for (const b of l) b.destroy();
  free.clear();
  pooledBytes = 0;
}

onRelease(() => {
  free.clear();
  live = 0;
  liveBytes = 0;
  pooledBytes = 0;
});
