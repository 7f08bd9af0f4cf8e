import type { Command } from 'commander';
import type { CommandContext } from './io.js';

/** `memfail schema ...`: check, introspect and generate from QAPI schema files. */
export function registerSchema(program: Command, ctx: CommandContext): void {
  const schema = program
    .command('schema')
    .description('Work with QAPI schema files (check, introspect, gen)');
  schema
    .command('check')
    .description('Check QAPI schema files exactly as QEMU 7.2 does; each FILE is its own schema')
    .argument('<FILE...>', 'schema files to check')
    .option('--json', 'print results as JSON on stdout')
    .addHelpText(
      'after',
      '\nErrors go to stderr as FILE:LINE[:COL]: message. Exit 0 when all files are valid, 1 otherwise.\n' +
        'Example:\n  memfail schema check schema/memory-failure-qemu.json\n  memfail schema check --json a.json b.json',
    )
    .action(async (files: string[], opts: { json?: boolean }) => {
      const { runSchemaCheck } = await import('./schema-check.js');
      ctx.exitCode = runSchemaCheck(files, { json: opts.json === true }, ctx.io);
    });
  schema
    .command('introspect')
    .description(
      "Print FILE's schema as QEMU's query-qmp-schema returns it (SchemaInfo list, JSON)",
    )
    .argument('<FILE>', 'schema file')
    .option('--mask', 'number type names as QEMU does by default')
    .addHelpText(
      'after',
      '\nExample:\n  memfail schema introspect schema/qemu.json | jq \'.[] | select(.name == "MEMORY_FAILURE")\'',
    )
    .action(async (file: string, opts: { mask?: boolean }) => {
      const { runSchemaIntrospect } = await import('./schema-gen.js');
      ctx.exitCode = runSchemaIntrospect(file, { mask: opts.mask === true }, ctx.io);
    });
  schema
    .command('gen')
    .description(
      'Generate TypeScript (types, validators, introspection, runtime) from FILE into DIR',
    )
    .argument('<FILE>', 'schema file')
    .requiredOption('-o, --out <DIR>', 'output directory (created if missing)')
    .option(
      '--runtime <MODULE>',
      'import validator helpers from MODULE instead of writing DIR/runtime.ts',
    )
    .option(
      '--check',
      'write nothing; exit 1 listing files that differ from what would be generated',
    )
    .option('--mask', 'mask type names in introspection.ts as QEMU does')
    .addHelpText('after', '\nExample:\n  memfail schema gen schema/qemu.json -o src/generated/qemu')
    .action(
      async (
        file: string,
        opts: { out: string; runtime?: string; check?: boolean; mask?: boolean },
      ) => {
        const { runSchemaGen } = await import('./schema-gen.js');
        ctx.exitCode = runSchemaGen(file, opts, ctx.io);
      },
    );
}
