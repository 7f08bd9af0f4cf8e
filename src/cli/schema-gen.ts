/** `memfail schema introspect` and `memfail schema gen`. */
import { generate, staleFiles, writeGenerated } from '../codegen/index.js';
import { introspect } from '../codegen/introspect.js';
import { modelFromSchema } from '../codegen/from-schema.js';
import type { WireModel } from '../codegen/model.js';
import { formatError, loadSchema, QapiError } from '../qapi/index.js';
import type { Io } from './io.js';

export function runSchemaIntrospect(file: string, opts: { mask: boolean }, io: Io): number {
  const model = loadModel(file, io);
  if (!model) return 1;
  io.stdout(`${JSON.stringify(introspect(model, { mask: opts.mask }), null, 2)}\n`);
  return 0;
}

export function runSchemaGen(
  file: string,
  opts: { out: string; runtime?: string; check?: boolean; mask?: boolean },
  io: Io,
): number {
  const model = loadModel(file, io);
  if (!model) return 1;
  const files = generate(model, {
    source: file,
    mask: opts.mask === true,
    ...(opts.runtime === undefined ? {} : { runtimeModule: opts.runtime }),
  });
  if (opts.check) {
    const stale = staleFiles(opts.out, files);
    for (const path of stale) io.stderr(`stale: ${path}\n`);
    return stale.length ? 1 : 0;
  }
  for (const path of writeGenerated(opts.out, files)) io.stdout(`wrote ${path}\n`);
  return 0;
}

function loadModel(file: string, io: Io): WireModel | null {
  try {
    return modelFromSchema(loadSchema(file));
  } catch (err) {
    if (!(err instanceof QapiError)) throw err;
    io.stderr(`${err.info ? formatError(err) : `${file}: ${err.message}`}\n`);
    return null;
  }
}
