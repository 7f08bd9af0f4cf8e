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
}
