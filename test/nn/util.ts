import { createHash } from 'node:crypto';
import type { Tensor } from '@fer/tensor';

/** SHA-256 of a tensor's raw bytes: bit-exact comparison without element-wise deep equality (slow on 1M values). */
export async function digest(t: Tensor): Promise<string> {
  const a = await t.toArray();
  return createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
}
