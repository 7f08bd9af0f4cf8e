import { type Command, Option } from 'commander';
import { type NatsFlags, natsOptions } from './fleet.js';
import { pgUrl } from './fleet-flags.js';
import { addHealthWatchOptions, type HealthWatchFlags } from './health.js';
import type { CommandContext } from './io.js';

/**
 * `memfail watch`, `memfail events`, `memfail report`: the upper layer. The
 * agent's modules (SQLite, prom-client, QMP) load only when one of these runs.
 */
export function registerAgent(program: Command, ctx: CommandContext): void {
  registerWatch(program, ctx);
  registerEvents(program, ctx);
  registerReport(program, ctx);
  registerAlerts(program, ctx);
}

function registerWatch(program: Command, ctx: CommandContext): void {
  const watchCommand = program
    .command('watch')
    .description(
      'Watch VMs (over QMP, or every domain of libvirtd) and durably record every memory failure and lifecycle event',
    )
    .argument('[vm...]', 'NAME=ADDRESS, address unix:PATH, tcp:HOST:PORT or a socket path')
    .option(
      '--libvirt [uri]',
      `watch every domain of libvirtd, present and future (default URI ${'qemu:///system'})`,
    )
    .option('--libvirt-socket <path>', "libvirtd's unix socket (default: from the URI)")
    .option(
      '--accept <address>',
      'listen at ADDRESS (unix:PATH or tcp:HOST:PORT) for QEMUs that dial in; each is watched until it hangs up',
    )
    .option('--db <path>', 'SQLite database (default: platform state dir, see --help)')
    .option(
      '--once',
      'exit once every NAME=ADDRESS VM has disconnected (or was never reachable); --libvirt and --accept run until stopped',
    )
    .option(
      '--once-wait <seconds>',
      'with --once: how long to keep trying a VM that is not up',
      '30',
    )
    .option(
      '--metrics <host:port>',
      'serve Prometheus metrics at /metrics (host defaults to 127.0.0.1)',
    )
    .option(
      '--on-event <cmd>',
      'run CMD (split into words, no shell) with each failure as JSON on stdin',
    )
    .option('--webhook <url>', 'POST each failure as JSON to URL (repeatable)', collect, [])
    .addOption(
      new Option(
        '--durability <level>',
        'commit sync: normal (survives kill) or full (survives power loss)',
      )
        .choices(['normal', 'full'])
        .default('normal'),
    )
    .option('-q, --quiet', 'no connection news on stderr')
    .option('--publish <url>', 'also publish every record to NATS JetStream (nats://HOST:PORT)');
  natsOptions(watchCommand)
    .addHelpText('after', WATCH_HELP)
    .action(async (vms: string[], opts: WatchFlags) => {
      const { watch } = await import('./agent-watch.js');
      ctx.exitCode = await watch(vms, opts, ctx.io);
    });
  addHealthWatchOptions(watchCommand);
}

const WATCH_HELP = `
Examples:
  memfail watch vm1=unix:/run/vm1.qmp vm2=tcp:127.0.0.1:4444 --db /var/lib/memfail/events.db
  memfail watch vm1=/run/vm1.qmp --once --webhook http://alerts.local/hook
  memfail watch vm1=/run/vm1.qmp --on-event "logger -t memfail" --metrics 127.0.0.1:9464
  memfail watch --libvirt                       # every libvirt domain on this host (as root)
  memfail watch --libvirt qemu:///system vm9=/run/vm9.qmp

--accept: start each QEMU with a client-mode monitor that dials the agent,
  -chardev socket,id=mf,path=/run/memfail/qmp.sock,reconnect=5 -mon chardev=mf,mode=control
and run memfail watch --accept unix:/run/memfail/qmp.sock. Each VM is named
from query-name (QEMU's -name), else query-uuid, else the peer.

--libvirt speaks libvirt's RPC protocol over the daemon's local socket
(/var/run/libvirt/libvirt-sock for qemu:///system): no change to any VM. It
needs auth type none there, which root gets; for another user, see README.
Each failure is recorded under the domain's name (its UUID is in the
domain's CONNECTED record) with QEMU's own timestamp and message; when
libvirtd restarts the watch reconnects and records the gap.

An event is acknowledged once its transaction committed (a reader of --db sees
it); nothing acknowledged is lost if the agent is killed, and a replay never
doubles a row. SIGTERM/SIGINT commit what is pending and exit 0.
--durability normal (the default) is SQLite synchronous=NORMAL in WAL mode:
the log is synced at checkpoints, so a power loss or kernel crash may roll
back the last commits; full syncs every commit (one fsync per batch).
Alerts go through an outbox in the database, one queue per sink, retried with
backoff across restarts; a 4xx answer or 30 failed attempts make a dead letter
(\`memfail alerts list|retry\`). --on-event: '...' and "..." quote, \\ escapes;
no shell (use sh -c '...' for pipes); the program gets only PATH, HOME, LANG,
LC_ALL, TZ, MEMFAIL_ALERT_ID, MEMFAIL_EVENT_ID and MEMFAIL_VM in its
environment, and SIGTERM after 10 s, SIGKILL 2 s later.
Gaps: when a VM's connection is lost and regained, or the previous watch on
this database was killed, the window in which events may have been missed is
recorded (shown by events and report; QMP does not replay events).
Default --db: $XDG_STATE_HOME/memfail/events.db (~/.local/state/memfail/events.db)
on Linux, ~/Library/Application Support/memfail/events.db on macOS,
%LOCALAPPDATA%\\memfail\\events.db on Windows.
--publish: every recorded failure and lifecycle event also goes to JetStream
(subjects memfail.<host>.failure and memfail.<host>.lifecycle, stream MEMFAIL
created when absent), marked published only once acked. NATS down: the events
wait in --db and go when it is back (metric memfail_fleet_backlog_events).
URL forms: nats://user:pass@HOST:PORT, tls://HOST:PORT; --nats-creds FILE.`;

function registerEvents(program: Command, ctx: CommandContext): void {
  program
    .command('events')
    .description('List recorded memory failures')
    .option('--db <path>', 'SQLite database (default: as for watch)')
    .option('--pg <url>', 'the fleet database instead (default: $MEMFAIL_PG_URL when no --db)')
    .option('--host <name>', 'with --pg: only this host')
    .option('--vm <name>', 'only this VM')
    .option('--since <time>', 'only failures at or after TIME (ISO 8601, or 30s, 15m, 2h, 7d ago)')
    .option('--all', 'also list events too malformed to read (recipient etc. null)')
    .addOption(new Option('--json', 'print a JSON array of records').conflicts('count'))
    .option('--count', 'print only how many')
    .addHelpText(
      'after',
      `
Examples:
  memfail events --db events.db --vm vm1 --since 2h
  memfail events --db events.db --json | jq '.[] | select(.actionRequired)'

JSON records: {id, vm, recipient, action, actionRequired, recursive, timestamp
(QEMU's, ISO 8601 with microseconds), receivedAt, dialect, valid, error}.
An event that failed validation is stored flagged (valid: false, error says
why); it is listed when its canonical fields could still be read.`,
    )
    .action(async (opts: EventsFlags) => {
      const pg = pgUrl(opts);
      if (pg !== undefined) {
        const { fleetEventsCommand } = await import('./fleet-read.js');
        ctx.exitCode = await fleetEventsCommand(opts, pg, ctx.io);
        return;
      }
      const { events } = await import('./agent-read.js');
      ctx.exitCode = await events(opts, ctx.io);
    });
}

function registerReport(program: Command, ctx: CommandContext): void {
  program
    .command('report')
    .description('Summarise memory failures per VM and overall, with what became of each VM')
    .option('--db <path>', 'SQLite database (default: as for watch)')
    .option('--pg <url>', 'the fleet database instead (default: $MEMFAIL_PG_URL when no --db)')
    .option(
      '--host <name>',
      'with --pg: only this host; with --health: the host judged (default: hostname)',
    )
    .option('--json', 'print the report as JSON')
    .option(
      '--within <seconds>',
      'how long after a failure a lifecycle event still counts as its outcome',
      '60',
    )
    .addHelpText(
      'after',
      `
Example:
  memfail report --db events.db
  memfail report --db events.db --within 300 --json

Outcomes are read from the lifecycle events after each failure (within
--within seconds, 60 by default, and before the next failure): guest-handled,
guest-reset, guest-panicked, vm-shut-down, vm-died (connection closed without
SHUTDOWN), or *-ignored.`,
    )
    .option(
      '--health',
      "add this host's health verdict (see memfail health; with --pg: every host's, or --host's)",
    )
    .option('--policy <file>', 'with --health: the health policy (implies --health)')
    .action(async (opts: ReportFlags) => {
      const pg = pgUrl(opts);
      if (pg !== undefined) {
        const { fleetReportCommand } = await import('./fleet-read.js');
        ctx.exitCode = await fleetReportCommand(opts, pg, ctx.io);
        return;
      }
      const { report } = await import('./agent-read.js');
      ctx.exitCode = await report(opts, ctx.io);
    });
}

/** `memfail alerts list|retry`: the outbox's undelivered alerts. */
function registerAlerts(program: Command, ctx: CommandContext): void {
  const alerts = program
    .command('alerts')
    .description(
      'The alert outbox: alerts not yet delivered, and those given up on (dead letters)',
    );
  alerts
    .command('list')
    .description(
      'List undelivered alerts: owed (being retried) and dead letters, with the last error',
    )
    .option('--db <path>', 'SQLite database (default: as for watch)')
    .option('--sink <id>', 'only this sink (as listed: webhook:URL or command:[...])')
    .option('--json', 'print a JSON array')
    .addHelpText(
      'after',
      `
An alert becomes a dead letter when its webhook answers 4xx (other than 408
and 429: the request itself is refused) or after 30 failed attempts (about
half an hour). Dead letters stay in the database; \`memfail alerts retry\`
makes them owed again, and a running \`memfail watch\` with their sinks sends
them within 5 seconds.`,
    )
    .action(async (opts: AlertsFlags) => {
      const { listAlerts } = await import('./agent-alerts.js');
      ctx.exitCode = listAlerts(opts, ctx.io);
    });
  alerts
    .command('retry')
    .description(
      'Make dead-letter alerts owed again (the next watch with their sink delivers them)',
    )
    .option('--db <path>', 'SQLite database (default: as for watch)')
    .option('--sink <id>', 'only this sink')
    .action(async (opts: AlertsFlags) => {
      const { retryAlerts } = await import('./agent-alerts.js');
      ctx.exitCode = retryAlerts(opts, ctx.io);
    });
}

export interface AlertsFlags {
  db?: string;
  sink?: string;
  json?: boolean;
}

export interface WatchFlags extends HealthWatchFlags, NatsFlags {
  db?: string;
  /** --libvirt alone is true (the default URI). */
  libvirt?: string | true;
  libvirtSocket?: string;
  accept?: string;
  once?: boolean;
  onceWait: string;
  metrics?: string;
  onEvent?: string;
  webhook: string[];
  durability: 'normal' | 'full';
  quiet?: boolean;
  publish?: string;
  host?: string;
}

export interface EventsFlags {
  db?: string;
  pg?: string;
  host?: string;
  vm?: string;
  since?: string;
  all?: boolean;
  json?: boolean;
  count?: boolean;
}

export interface ReportFlags {
  db?: string;
  pg?: string;
  host?: string;
  json?: boolean;
  within: string;
  health?: boolean;
  policy?: string;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
