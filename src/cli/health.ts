import type { Command } from 'commander';
import type { CommandContext } from './io.js';

/**
 * `memfail health` and `memfail evacuate`: host verdicts and acting on them.
 * Their modules load only when one of these runs.
 */
export function registerHealth(program: Command, ctx: CommandContext): void {
  program
    .command('health')
    .description("Judge this host's health from its recent memory failures (healthy … failing)")
    .option('--db <path>', 'SQLite database (default: as for watch)')
    .option('--policy <file>', 'health policy (JSON, see README "Host health"; default: built-in)')
    .option('--host <name>', "the host the database's failures happened on (default: hostname)")
    .option('--json', 'print the verdict as JSON')
    .option(
      '--print-policy',
      'print the policy in force (the built-in one without --policy) and exit',
    )
    .addHelpText(
      'after',
      `
Examples:
  memfail health --db /var/lib/memfail/events.db
  memfail health --db events.db --policy /etc/memfail/health.json --json

States: healthy (no rule matches), suspect, degraded, failing; each matching
rule is listed with its reason, e.g. "3 action-required failures on 2 VMs in
24 h". The built-in policy (memfail health --print-policy):
  failing   a hypervisor-fatal failure within 7 d, or 3 action-required
            failures on 2 VMs within 24 h
  degraded  2 action-required failures, or a recursive one, within 24 h
  suspect   any memory failure within 7 d
A policy file with a mistake is refused whole, with FILE:LINE:COL.`,
    )
    .action(async (opts: HealthFlags) => {
      const { health } = await import('./health-run.js');
      ctx.exitCode = await health(opts, ctx.io);
    });
}

export interface HealthFlags {
  db?: string;
  policy?: string;
  host?: string;
  json?: boolean;
  printPolicy?: boolean;
}
