import type { Command } from 'commander';
import type { CommandContext } from './io.js';

/** `memfail schema ...`: check, introspect and generate from QAPI schema files. */
export function registerSchema(program: Command, _ctx: CommandContext): void {
  program.command('schema').description('Work with QAPI schema files (check, introspect, gen)');
}
