/** `memfail schema introspect` and `memfail schema gen`. */
import { generateInto, staleGenerated } from '../codegen/index.js';
import { introspectEach } from '../codegen/introspect.js';
import { type FromSchemaOptions, modelFromSchema } from '../codegen/from-schema.js';
import type { WireModel } from '../codegen/model.js';
import { chunked, writeJsonArray } from '../codegen/output.js';
import { formatError, loadSchema, QapiError } from '../qapi/index.js';
import type { Io } from './io.js';

export function runSchemaIntrospect(file: string, opts: { mask: boolean }, io: Io): number {
  // Introspection shows no documentation: the model leaves it out.
  const model = loadModel(file, io, { docs: false });
  if (!model) return 1;
  // Written entry by entry: the whole text is several times the schema's size.
  const out = chunked((chunk) => io.stdout(chunk));
  writeJsonArray(introspectEach(model, { mask: opts.mask }), out);
  out.write('\n');
  out.end();
  return 0;
}

export function runSchemaGen(
  file: string,
  opts: { out: string; runtime?: string; check?: boolean; mask?: boolean },
  io: Io,
): number {
  const model = loadModel(file, io);
  if (!model) return 1;
  const options = {
    source: file,
    mask: opts.mask === true,
    ...(opts.runtime === undefined ? {} : { runtimeModule: opts.runtime }),
  };
  if (opts.check) {
    const stale = staleGenerated(opts.out, model, options);
    for (const path of stale) io.stderr(`stale: ${path}\n`);
    return stale.length ? 1 : 0;
  }
  for (const path of generateInto(opts.out, model, options)) io.stdout(`wrote ${path}\n`);
  return 0;
}

function loadModel(file: string, io: Io, options: FromSchemaOptions = {}): WireModel | null {
  try {
    const schema = loadSchema(file);
    if (options.docs === false) schema.dropDocs();
    return modelFromSchema(schema, options);
  } catch (err) {
    if (!(err instanceof QapiError)) throw err;
    io.stderr(`${err.info ? formatError(err) : `${file}: ${err.message}`}\n`);
    return null;
  }
}
