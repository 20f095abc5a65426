import { type FileHandle, lstat, open, readdir, realpath } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { ByteSource } from './pickle.js';

/** A file of a model, relative to the model's root (a single-file model's root is its parent folder). */
export interface ModelFile {
  rel: string;
  abs: string;
  size: number;
}

export interface FileListing {
  files: ModelFile[];
  /** Symlinks whose target lies outside the model's folder; never followed. */
  escapingLinks: { rel: string; target: string }[];
}

const MAX_FILES = 10_000;

/** Lists a model's files without following links out of its folder. */
export async function listModelFiles(path: string): Promise<FileListing> {
  const info = await lstat(path);
  const escapingLinks: FileListing['escapingLinks'] = [];
  if (!info.isDirectory()) {
    if (info.isSymbolicLink()) {
      const target = await realpath(path);
      const st = await lstat(target);
      return { files: [{ rel: path.split(sep).pop()!, abs: target, size: st.size }], escapingLinks };
    }
    return { files: [{ rel: path.split(sep).pop()!, abs: path, size: info.size }], escapingLinks };
  }
  const root = await realpath(path);
  const files: ModelFile[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (files.length >= MAX_FILES) return;
      const abs = join(dir, e.name);
      const rel = relative(path, abs);
      if (e.isSymbolicLink()) {
        const target = await realpath(abs).catch(() => '');
        if (!target || (target !== root && !target.startsWith(root + sep))) {
          escapingLinks.push({ rel, target: target || '(dangling)' });
          continue;
        }
        const st = await lstat(target);
        if (st.isFile()) files.push({ rel, abs: target, size: st.size });
        continue;
      }
      if (e.isDirectory()) await walk(abs);
      else if (e.isFile()) files.push({ rel, abs, size: (await lstat(abs)).size });
    }
  };
  await walk(path);
  files.sort((a, b) => a.rel.localeCompare(b.rel));
  return { files, escapingLinks };
}

/** Random access to a file, for the pickle walker. */
export async function fileSource(path: string): Promise<ByteSource & { close(): Promise<void> }> {
  const fh: FileHandle = await open(path, 'r');
  const { size } = await fh.stat();
  return {
    size,
    async read(offset, length) {
      const n = Math.max(0, Math.min(length, size - offset));
      const buf = Buffer.allocUnsafe(n);
      const { bytesRead } = await fh.read(buf, 0, n, offset);
      return buf.subarray(0, bytesRead);
    },
    close: () => fh.close(),
  };
}

/** The first `n` bytes of a file (fewer when it is shorter). */
export async function readHead(path: string, n: number, offset = 0): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
