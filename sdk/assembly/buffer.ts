/**
 * The two reusable scratch buffers through which strings cross the ABI (docs/abi/v1.md, "Strings").
 *
 * - The output buffer receives host results. Imports follow the snprintf rule: they return the full
 *   length n and write min(n, cap) bytes, so a caller that sees n > cap grows the buffer to n and
 *   calls again. The buffer only grows, so a plugin that reads long values pays the retry once.
 * - The input buffer holds the UTF-8 encoding of the string arguments of the next host call.
 *
 * Both live in unmanaged memory (heap.alloc): the GC never moves or frees them, the host never
 * allocates in guest memory, and a hook that only reads numbers allocates nothing.
 */

const INITIAL_OUT_CAP: i32 = 1024;
const INITIAL_IN_CAP: i32 = 1024;

/** Start of the output scratch buffer; valid until the next growOut(). */
export let outPtr: usize = heap.alloc(<usize>INITIAL_OUT_CAP);
/** Capacity of the output scratch buffer in bytes. */
export let outCap: i32 = INITIAL_OUT_CAP;

let inPtr: usize = heap.alloc(<usize>INITIAL_IN_CAP);
let inCap: i32 = INITIAL_IN_CAP;

/** Makes the output buffer at least `needed` bytes long (the snprintf retry rule). */
export function growOut(needed: i32): void {
  if (needed <= outCap) return;
  // round up to a multiple of 256 so a slowly growing value does not realloc on every call
  const cap = (needed + 255) & ~255;
  outPtr = heap.realloc(outPtr, <usize>cap);
  outCap = cap;
}

function ensureIn(needed: i32): void {
  if (needed <= inCap) return;
  const cap = (needed + 255) & ~255;
  inPtr = heap.realloc(inPtr, <usize>cap);
  inCap = cap;
}

/** Pointer to the UTF-8 bytes of the first argument after encodeArgs(). */
export let argPtrA: usize = 0;
/** Byte length of the first argument after encodeArgs(). */
export let argLenA: i32 = 0;
/** Pointer to the UTF-8 bytes of the second argument after encodeArgs(). */
export let argPtrB: usize = 0;
/** Byte length of the second argument after encodeArgs(). */
export let argLenB: i32 = 0;

/** Encodes one string argument into the input buffer (argPtrA/argLenA). No allocation. */
export function encodeArg(a: string): void {
  // a UTF-16 code unit never takes more than 3 UTF-8 bytes
  ensureIn(a.length * 3);
  argPtrA = inPtr;
  argLenA = <i32>String.UTF8.encodeUnsafe(changetype<usize>(a), a.length, inPtr);
}

/** Encodes two string arguments back to back (argPtrA/argLenA, argPtrB/argLenB). No allocation. */
export function encodeArgs(a: string, b: string): void {
  ensureIn((a.length + b.length) * 3);
  argPtrA = inPtr;
  argLenA = <i32>String.UTF8.encodeUnsafe(changetype<usize>(a), a.length, inPtr);
  argPtrB = inPtr + <usize>argLenA;
  argLenB = <i32>String.UTF8.encodeUnsafe(changetype<usize>(b), b.length, argPtrB);
}

/** Pointer to the UTF-8 bytes of the third argument after encodeArgs3(). */
export let argPtrC: usize = 0;
/** Byte length of the third argument after encodeArgs3(). */
export let argLenC: i32 = 0;

/** Encodes three string arguments back to back (A, B, C). No allocation. */
export function encodeArgs3(a: string, b: string, c: string): void {
  ensureIn((a.length + b.length + c.length) * 3);
  argPtrA = inPtr;
  argLenA = <i32>String.UTF8.encodeUnsafe(changetype<usize>(a), a.length, inPtr);
  argPtrB = inPtr + <usize>argLenA;
  argLenB = <i32>String.UTF8.encodeUnsafe(changetype<usize>(b), b.length, argPtrB);
  argPtrC = argPtrB + <usize>argLenB;
  argLenC = <i32>String.UTF8.encodeUnsafe(changetype<usize>(c), c.length, argPtrC);
}

/** Decodes `len` bytes of the output buffer into a new string. */
export function decodeOut(len: i32): string {
  return len <= 0 ? "" : String.UTF8.decodeUnsafe(outPtr, <usize>len);
}
