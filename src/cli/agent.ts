import { type Command, Option } from 'commander';
import { type NatsFlags, natsOptions, pgUrl } from './fleet.js';
import { type CommandContext, UsageError } from './io.js';

/**
 * `memfail watch`, `memfail events`, `memfail report`: the upper layer. The
 * agent's modules (SQLite, prom-client, QMP) load only when one of these runs.
 */
export function registerAgent(program: Command, ctx: CommandContext): void {
  const watch = program
    .command('watch')
    .description('Watch VMs over QMP and durably record every memory failure and lifecycle event')
    .argument('<vm...>', 'NAME=ADDRESS, address unix:PATH, tcp:HOST:PORT or a socket path')
    .option('--db <path>', 'SQLite database (default: platform state dir, see --help)')
    .option('--once', 'exit once every VM has disconnected (or was never reachable)')
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
    .option('--publish <url>', 'also publish every record to NATS JetStream (nats://HOST:PORT)')
    .option(
      '--host <name>',
      'with --publish: the name of this host in the fleet (default: hostname)',
    );
  natsOptions(watch)
    .addHelpText(
      'after',
      `
Examples:
  memfail watch vm1=unix:/run/vm1.qmp vm2=tcp:127.0.0.1:4444 --db /var/lib/memfail/events.db
  memfail watch vm1=/run/vm1.qmp --once --webhook http://alerts.local/hook
  memfail watch vm1=/run/vm1.qmp --on-event "logger -t memfail" --metrics 127.0.0.1:9464

An event is acknowledged once its transaction committed (a reader of --db sees
it); nothing acknowledged is lost if the agent is killed, and a replay never
doubles a row. SIGTERM/SIGINT commit what is pending and exit 0.
--durability normal (the default) is SQLite synchronous=NORMAL in WAL mode:
the log is synced at checkpoints, so a power loss or kernel crash may roll
back the last commits; full syncs every commit (one fsync per batch).
Alerts go through an outbox in the database and are retried with backoff until
delivered, across restarts. --on-event: '...' and "..." quote, \\ escapes; no
shell (use sh -c '...' for pipes).
Default --db: $XDG_STATE_HOME/memfail/events.db (~/.local/state/memfail/events.db)
on Linux, ~/Library/Application Support/memfail/events.db on macOS,
%LOCALAPPDATA%\\memfail\\events.db on Windows.
--publish: every recorded failure and lifecycle event also goes to JetStream
(subjects memfail.<host>.failure and memfail.<host>.lifecycle, stream MEMFAIL
created when absent), marked published only once acked. NATS down: the events
wait in --db and go when it is back (metric memfail_fleet_backlog_events).
URL forms: nats://user:pass@HOST:PORT, tls://HOST:PORT; --nats-creds FILE.`,
    )
    .action(async (vms: string[], opts: WatchFlags) => {
      const { watch } = await import('./agent-watch.js');
      ctx.exitCode = await watch(vms, opts, ctx.io);
    });

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

  program
    .command('report')
    .description('Summarise memory failures per VM and overall, with what became of each VM')
    .option('--db <path>', 'SQLite database (default: as for watch)')
    .option('--pg <url>', 'the fleet database instead (default: $MEMFAIL_PG_URL when no --db)')
    .option('--host <name>', 'with --pg: only this host')
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

export interface WatchFlags extends NatsFlags {
  db?: string;
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
}

/** `--within SECONDS` as milliseconds: a positive, finite number of seconds. */
export function parseWithin(text: string): number {
  const seconds = Number(text);
  if (text.trim() === '' || !Number.isFinite(seconds) || seconds <= 0) {
    throw new UsageError(`--within '${text}' is not a positive number of seconds`);
  }
  return seconds * 1000;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `--since`: ISO 8601, or an age such as 90s, 15m, 2h, 7d. */
export function parseSince(text: string, now: Date = new Date()): Date {
  const age = /^(\d+)(s|m|h|d)$/.exec(text);
  if (age) {
    const unit = { s: 1, m: 60, h: 3600, d: 86400 }[age[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now.getTime() - Number(age[1]) * unit * 1000);
  }
  const date = /^\d{4}-\d{2}-\d{2}/.test(text) ? new Date(text) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    throw new UsageError(
      `--since '${text}': expected ISO 8601 (2026-11-25T10:00:00Z) or an age (15m, 2h, 7d)`,
    );
  }
  return date;
}
