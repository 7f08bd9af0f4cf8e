import { type Command, Option } from 'commander';
import { pgUrl } from './fleet-flags.js';
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
    .option('--pg <url>', 'or the fleet database (default: $MEMFAIL_PG_URL unless --db)')
    .option('--policy <file>', 'health policy (JSON, see README "Host health"; default: built-in)')
    .option(
      '--host <name>',
      "the host the database's failures happened on (default: hostname); with --pg: " +
        'the host to judge (default: every host with a failure in the policy window)',
    )
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
  memfail health --pg postgres://memfail@db.local/memfail --host host-a

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
      const url = opts.printPolicy ? undefined : pgUrl(opts);
      if (url !== undefined) {
        const { fleetHealthCommand } = await import('./fleet-health.js');
        ctx.exitCode = await fleetHealthCommand(opts, url, ctx.io);
        return;
      }
      const { health } = await import('./health-run.js');
      ctx.exitCode = await health(opts, ctx.io);
    });
  program
    .command('evacuate')
    .description('Live-migrate every running VM off a host, a few at a time, to healthy hosts')
    .argument('<host>', 'the host to empty, as named in the inventory')
    .requiredOption('--inventory <file>', 'hosts and their VMs (JSON, see README "Evacuation")')
    .option('--db <path>', 'SQLite file for the evacuation journal (default: as for watch)')
    .addOption(
      new Option('--driver <name>', 'how to migrate')
        .choices(['qmp', 'exec', 'libvirt'])
        .default('qmp'),
    )
    .option(
      '--exec <cmd>',
      'with --driver exec: command per VM; {vm} {uuid} {host} {dest} filled in',
    )
    .option('--to <host>', 'destination host (repeatable; default: any healthy host)', collect, [])
    .option('--parallel <n>', 'migrations at once', '2')
    .option(
      '--max-bandwidth <bytes>',
      'qmp and libvirt drivers: bytes per second a migration may use',
    )
    .option('--policy <file>', 'health policy judging destinations (default: built-in)')
    .option('--drain-limit <n>', 'refuse if this many other hosts are draining already')
    .option(
      '--drain-pg <url>',
      'count the drain limit in this fleet database too (agents that share no journal)',
    )
    .option('--dry-run', 'print the plan; move and record nothing')
    .addHelpText(
      'after',
      `
Examples:
  memfail evacuate host-a --inventory hosts.json --dry-run
  memfail evacuate host-a --inventory hosts.json --to host-b --db /var/lib/memfail/events.db
  memfail evacuate host-a --inventory hosts.json --driver exec \\
      --exec "openstack server migrate --live-migration --host {dest} {uuid}"
  memfail evacuate host-a --inventory hosts.json --driver libvirt --to host-b

Drivers: qmp (QEMUs memfail launched: destination QEMU with -incoming, then
migrate), exec (your command per VM), libvirt (peer-to-peer live migration:
memfail asks host-a's libvirtd, at the inventory's "libvirtSocket", to migrate
each domain to the destination's "libvirt" URI with LIVE, PEER2PEER,
PERSIST_DEST and UNDEFINE_SOURCE; "migrateUri" picks the data path).

Destinations: hosts the policy judges healthy (their health is read from the
"db" each host has in the inventory); --to names them, but a host known to be
unhealthy is refused even then. Every step is recorded in the journal
(planned, started, completed, failed and why, skipped); run it again after an
interruption and it settles what was under way and carries on; run it again
after it finished and it finds nothing to do. Exit 0 when the host is empty
(or nothing was to do), 1 when something is left.

Drain limit: --drain-limit counts the hosts draining in the journal (the
memfails sharing its file); with --drain-pg URL it also counts them in the
fleet database, where every agent given the same URL (watch --act --drain-pg)
holds one limit. A host's place there is a lease renewed while it drains and
cleared 5 minutes after its memfail stopped renewing it.`,
    )
    .action(async (host: string, opts: EvacuateFlags) => {
      const { evacuateCommand } = await import('./evacuate-run.js');
      ctx.exitCode = await evacuateCommand(host, opts, ctx.io);
    });
}

export interface EvacuateFlags {
  inventory: string;
  db?: string;
  driver: 'qmp' | 'exec' | 'libvirt';
  exec?: string;
  to: string[];
  parallel: string;
  maxBandwidth?: string;
  policy?: string;
  drainLimit?: string;
  drainPg?: string;
  dryRun?: boolean;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export interface HealthFlags {
  db?: string;
  pg?: string;
  policy?: string;
  host?: string;
  json?: boolean;
  printPolicy?: boolean;
}

/** `watch`'s health flags (wired in agent.ts; acted on in health-watch.ts). */
export function addHealthWatchOptions(watch: Command): Command {
  return watch
    .option(
      '--policy <file>',
      "judge this host's health after each new failure (see memfail health)",
    )
    .option(
      '--host <name>',
      "this host's name: in the fleet (--publish), for health and evacuation (default: hostname)",
    )
    .option('--act', 'evacuate this host when the policy judges it failing (needs --inventory)')
    .option('--inventory <file>', 'with --act: hosts and their VMs (see memfail evacuate)')
    .option('--journal <path>', 'with --act: evacuation journal, shared by hosts (default: --db)')
    .addOption(
      new Option('--driver <name>', 'with --act: how to migrate')
        .choices(['qmp', 'exec', 'libvirt'])
        .default('qmp'),
    )
    .option('--exec <cmd>', 'with --driver exec: command per VM ({vm} {uuid} {host} {dest})')
    .option('--drain-limit <n>', 'with --act: hosts that may drain at once (journal-wide)', '1')
    .option(
      '--drain-pg <url>',
      'with --act: count the drain limit across every agent using this fleet database too',
    )
    .option(
      '--max-bandwidth <bytes>',
      'with --act, qmp and libvirt drivers: bytes per second a migration may use',
    );
}

export interface HealthWatchFlags {
  policy?: string;
  host?: string;
  act?: boolean;
  inventory?: string;
  journal?: string;
  driver: 'qmp' | 'exec' | 'libvirt';
  exec?: string;
  drainLimit: string;
  drainPg?: string;
  maxBandwidth?: string;
}
