/**
 * Opening a file whose name came from outside (an RPC parameter, a config value) without being held up
 * by it: a FIFO blocks open(2) and read(2) until a writer appears, a character device can stream
 * forever, a directory or a huge file wastes the load. The rule:
 *
 *   1. lstat first: anything but a regular file is refused before open() (opening some devices has
 *      side effects, e.g. a watchdog starts counting);
 *   2. open with O_NONBLOCK | O_NOFOLLOW, so a FIFO swapped in after the lstat still opens at once and
 *      a symlink swapped in is refused (ELOOP);
 *   3. fstat the descriptor: still a regular file, same inode as step 1, at most `maxBytes`;
 *   4. read at most the size fstat reported (a file growing meanwhile does not grow the read).
 *
 * Kamailio reads its own files (config, dispatcher.list, modules from mpath) only at operator request;
 * its loadmodule opens any path the config names. Callers pass a path already resolved with
 * realpath() when the final component must not be a symlink.
 */
import { constants } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';

export type FileProblem = 'missing' | 'not-regular' | 'too-large' | 'unreadable';

/** Why a file was refused; callers turn it into their own SiphonError (and decide what to reveal). */
export class FileRefusal extends Error {
  constructor(
    readonly problem: FileProblem,
    readonly detail: string,
  ) {
    super(detail);
    this.name = 'FileRefusal';
  }
}

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW;

function errnoProblem(e: unknown): FileRefusal {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new FileRefusal('missing', 'no such file');
  if (code === 'ELOOP') return new FileRefusal('not-regular', 'a symbolic link');
  return new FileRefusal('unreadable', `cannot open: ${code ?? String(e)}`);
}

function kindOf(st: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSymbolicLink(): boolean }): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/**
 * Opens a regular file of at most `maxBytes` as above and returns its content (read = true) or only
 * its size. Throws FileRefusal; never blocks on the file's kind.
 */
export async function readRegularFile(path: string, maxBytes: number, read: true): Promise<{ size: number; mode: number; bytes: Buffer }>;
export async function readRegularFile(path: string, maxBytes: number, read: false): Promise<{ size: number; mode: number; bytes: null }>;
export async function readRegularFile(path: string, maxBytes: number, read: boolean): Promise<{ size: number; mode: number; bytes: Buffer | null }> {
  let before;
  try {
    before = await lstat(path);
  } catch (e) {
    throw errnoProblem(e);
  }
  if (!before.isFile()) throw new FileRefusal('not-regular', kindOf(before));
  if (before.size > maxBytes) throw new FileRefusal('too-large', `${before.size} bytes, more than the limit of ${maxBytes}`);
  let fh: FileHandle;
  try {
    fh = await open(path, OPEN_FLAGS);
  } catch (e) {
    throw errnoProblem(e);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.ino !== before.ino || st.dev !== before.dev) throw new FileRefusal('not-regular', 'replaced while being opened');
    if (st.size > maxBytes) throw new FileRefusal('too-large', `${st.size} bytes, more than the limit of ${maxBytes}`);
    if (!read) return { size: st.size, mode: st.mode, bytes: null };
    const bytes = Buffer.allocUnsafe(st.size);
    let off = 0;
    while (off < bytes.length) {
      const { bytesRead } = await fh.read(bytes, off, bytes.length - off, off);
      if (bytesRead === 0) break; // truncated meanwhile: what is there
      off += bytesRead;
    }
    return { size: off, mode: st.mode, bytes: off === bytes.length ? bytes : bytes.subarray(0, off) };
  } finally {
    await fh.close();
  }
}
