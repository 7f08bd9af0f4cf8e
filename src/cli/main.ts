import { Command, CommanderError } from 'commander';
import { type CommandContext, type Io, processIo, UsageError } from './io.js';
import { registerAgent } from './agent.js';
import { registerSchema } from './schema.js';
import { registerSim } from './sim.js';
import { registerInject } from './inject.js';
import { registerDemo } from './demo.js';
import { registerServe } from './serve.js';
import { registerHealth } from './health.js';
import { registerFleet } from './fleet.js';

/**
 * The `memfail` command line. Each group of commands lives in its own file and
 * registers itself here; heavy modules are imported lazily inside actions so
 * that `memfail schema check` starts fast.
 */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  const ctx: CommandContext = { io, exitCode: 0 };
  const program = new Command('memfail')
    .description(
      "Tooling for QEMU's MEMORY_FAILURE event: check QAPI schemas, speak QMP, simulate\n" +
        'hardware memory failures, and watch VMs to record, explain and report every one.',
    )
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });
  registerSchema(program, ctx);
  registerAgent(program, ctx);
  registerSim(program, ctx);
  registerInject(program, ctx);
  registerDemo(program, ctx);
  registerServe(program, ctx);
  registerHealth(program, ctx);
  registerFleet(program, ctx);
  for (const cmd of program.commands) inherit(cmd, io);
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not failures; usage errors were already printed.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof UsageError) {
      io.stderr(`memfail: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  return ctx.exitCode;
}

/** Subcommands (at any depth) report through the same io and never call process.exit. */
function inherit(cmd: Command, io: Io): void {
  cmd
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });
  for (const sub of cmd.commands) inherit(sub, io);
}

const VERSION = '0.1.0';
