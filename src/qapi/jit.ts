/**
 * Run a one-shot, synchronous job without V8's optimizing compiler.
 *
 * Parsing and checking a schema is short and branchy: in a fresh process
 * V8 spends more CPU compiling the hot functions with TurboFan (and
 * de-optimizing them when a rare path shows up) than the job itself takes,
 * and the optimized code arrives when the work is nearly done. On QEMU's
 * 22k-line schema this halves the time (bench/qapi-frontend.mjs). As `fn`
 * is synchronous, no other JavaScript of this isolate runs meanwhile; the
 * flag is restored afterwards, and nested calls keep it off until the
 * outermost returns. A process started with --no-opt is left alone.
 */
import { setFlagsFromString } from 'node:v8';

const startedWithoutOpt = process.execArgv.includes('--no-opt');
let depth = 0;

export function withBaselineJit<T>(fn: () => T): T {
  if (startedWithoutOpt) return fn();
  if (depth++ === 0) setFlagsFromString('--no-opt');
  try {
    return fn();
  } finally {
    if (--depth === 0) setFlagsFromString('--opt');
  }
}
