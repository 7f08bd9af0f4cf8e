import type { Command } from 'commander';
import type { CommandContext } from './io.js';
import type { ServeFlags } from './serve-run.js';

/** `memfail serve`: the live web dashboard over an agent's database. */
export function registerServe(program: Command, ctx: CommandContext): void {
  program
    .command('serve')
    .description(
      'Serve a live web dashboard of the recorded memory failures: hosts by health, failures over ' +
        'time, each VM with every failure explained, and the JSON API under the pages',
    )
    .option('--db <path>', 'SQLite database written by memfail watch (default: as for watch)')
    .option(
      '--pg <url>',
      'or the fleet database memfail collect fills: every host (default: $MEMFAIL_PG_URL unless --db)',
    )
    .option('--listen <host:port>', 'address to serve on', '127.0.0.1:8080')
    .option(
      '--token <token>',
      'require this token (needed for any non-loopback address; or set MEMFAIL_TOKEN)',
    )
    .option('--host <name>', "this store's host name on the pages (default: the machine's)")
    .option(
      '--policy <file>',
      'health policy judging the host (JSON, see README "Host health"; default: built-in)',
    )
    .option(
      '--journal <file>',
      'evacuation journal shown on host pages (default: the --db file; with --pg: none)',
    )
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM; with --tls-key)')
    .option('--tls-key <file>', "the certificate's private key (PEM)")
    .option(
      '--tls-client-ca <file>',
      'with TLS: admit only clients with a certificate this CA signed (no token needed)',
    )
    .addHelpText(
      'after',
      `
Examples:
  memfail serve --db events.db                      # http://127.0.0.1:8080/
  memfail serve --pg postgres://memfail@db.local/memfail --policy /etc/memfail/health.json
  memfail serve --db events.db --listen 0.0.0.0:8080 --token "$(openssl rand -hex 16)" \\
    --tls-cert cert.pem --tls-key key.pem
  memfail serve --db events.db --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem \\
    --tls-client-ca clients-ca.pem

The dashboard only reads the database (memfail watch or memfail collect may
be writing it); with --pg, time ranges are by event time over every host and
each host is judged by the policy. Host pages list the evacuations of the
journal that memfail health --act and memfail evacuate keep (their --db or
--journal; give the same file here). Pages update live (within a second of a
failure being recorded). Loopback addresses need no token; any other
address is refused without --token or --tls-client-ca. A token must come with every request: open
http://HOST:PORT/?token=TOKEN once (a cookie keeps it) or send
"Authorization: Bearer TOKEN"; over plain HTTP it travels in clear, so give
--tls-cert and --tls-key (or put a TLS proxy in front). With --tls-client-ca,
only clients presenting a certificate signed by that CA get an answer.
JSON API: GET /api lists the endpoints (docs/web-api.md describes them).`,
    )
    .action(async (opts: ServeFlags) => {
      const { serve } = await import('./serve-run.js');
      ctx.exitCode = await serve(opts, ctx.io);
    });
}
