import type { Command } from 'commander';
import { type CommandContext, UsageError } from './io.js';

export interface ServeFlags {
  db?: string;
  listen: string;
  token?: string;
  host?: string;
}

/** `memfail serve`: the live web dashboard over an agent's database. */
export function registerServe(program: Command, ctx: CommandContext): void {
  program
    .command('serve')
    .description(
      'Serve a live web dashboard of the recorded memory failures: hosts by health, failures over ' +
        'time, each VM with every failure explained, and the JSON API under the pages',
    )
    .option('--db <path>', 'SQLite database written by memfail watch (default: as for watch)')
    .option('--listen <host:port>', 'address to serve on', '127.0.0.1:8080')
    .option(
      '--token <token>',
      'require this token (needed for any non-loopback address; or set MEMFAIL_TOKEN)',
    )
    .option('--host <name>', "this store's host name on the pages (default: the machine's)")
    .addHelpText(
      'after',
      `
Examples:
  memfail serve --db events.db                      # http://127.0.0.1:8080/
  memfail serve --db events.db --listen 0.0.0.0:8080 --token "$(openssl rand -hex 16)"

The dashboard only reads the database (memfail watch may be writing it). Pages
update live (within a second of a failure being recorded). Loopback addresses
need no token; any other address is refused without --token, which every
request must then carry: open http://HOST:PORT/?token=TOKEN once (a cookie keeps
it) or send "Authorization: Bearer TOKEN". The token travels in clear over
plain HTTP: put a TLS proxy in front of a non-loopback dashboard.
JSON API: GET /api lists the endpoints (docs/web-api.md describes them).`,
    )
    .action(async (opts: ServeFlags) => {
      const { serve } = await import('./serve-run.js');
      ctx.exitCode = await serve(opts, ctx.io);
    });
}

export function tokenOf(opts: ServeFlags): string | undefined {
  const token = opts.token ?? process.env.MEMFAIL_TOKEN;
  if (token !== undefined && token.length < 8) {
    throw new UsageError('--token must be at least 8 characters');
  }
  return token;
}
