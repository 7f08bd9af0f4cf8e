/**
 * Command-argument checks for the simulator's handlers, with the error texts
 * QEMU's QMP input visitor uses, so a client sees the same GenericError
 * whichever of the two it talks to.
 */
import { QmpCommandError } from '../qmp/errors.js';
import type { JsonObject } from '../qmp/message.js';

/** Handlers get no object at all when a command is sent without arguments. */
export type Args = JsonObject | undefined;

export function onlyKnown(args: Args, known: readonly string[]): void {
  for (const key of Object.keys(args ?? {})) {
    if (!known.includes(key)) throw generic(`Parameter '${key}' is unexpected`);
  }
}

export function requireString(args: Args, name: string): string {
  const v = args?.[name];
  if (v === undefined) throw generic(`Parameter '${name}' is missing`);
  if (typeof v !== 'string')
    throw generic(`Invalid parameter type for '${name}', expected: string`);
  return v;
}

export function optionalBool(args: Args, name: string): boolean | undefined {
  const v = args?.[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean')
    throw generic(`Invalid parameter type for '${name}', expected: boolean`);
  return v;
}

export function optionalInt(args: Args, name: string): number | undefined {
  const v = args?.[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw generic(`Invalid parameter type for '${name}', expected: integer`);
  }
  return v;
}

export function requireUint64(args: Args, name: string): bigint {
  const v = args?.[name];
  if (v === undefined) throw generic(`Parameter '${name}' is missing`);
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw generic(`Invalid parameter type for '${name}', expected: integer`);
  }
  if (v < 0 || v > 2 ** 64 - 1) throw generic(`Parameter '${name}' expects uint64`);
  return BigInt(v);
}

export function requireEnum<T extends string>(args: Args, name: string, values: readonly T[]): T {
  const v = args?.[name];
  if (v === undefined) throw generic(`Parameter '${name}' is missing`);
  if (typeof v !== 'string')
    throw generic(`Invalid parameter type for '${name}', expected: string`);
  if (!(values as readonly string[]).includes(v))
    throw generic(`Parameter '${name}' does not accept value '${v}'`);
  return v as T;
}

function generic(desc: string): QmpCommandError {
  return new QmpCommandError('GenericError', desc);
}
