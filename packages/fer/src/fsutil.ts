// Files that readers must never see half-written (caches, plots): write a temp file in the same
// folder, fsync, rename over the target.
import * as fs from 'node:fs';
import * as path from 'node:path';

export function writeFileAtomic(file: string, ...chunks: Array<Uint8Array | string>): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.tmp`;
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'w');
    for (const c of chunks) fs.writeFileSync(fd, c);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== null) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
