/**
 * `memfail serve`: the dashboard over node:http. Pages are one static app
 * (bundled at build time into assets/, see scripts/bundle-web.mjs) that reads
 * the JSON API (api.ts); /api/stream tells open pages when something new was
 * recorded (Server-Sent Events from a 250 ms look at the store's largest ids).
 *
 * Security: read-only; a strict Content-Security-Policy (scripts and styles
 * from this origin only, nothing inline); without a token, only loopback
 * addresses and Host headers naming loopback (no DNS rebinding); with a
 * token, every request carries it (Authorization: Bearer, or the cookie set
 * by opening any page with ?token=); or HTTPS admitting only clients with a
 * certificate from --tls-client-ca. Bad requests get a 4xx with a message.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type ApiContext, answer, pageExists } from './api.js';
import { RequestError } from './errors.js';
import type { EvacuationsSource } from './evacuations.js';
import { type HealthOf, provisionalHealth } from './health.js';
import type { DataSource, Marks } from './source.js';

export interface ServeOptions {
  readonly source: DataSource;
  readonly host: string;
  readonly port: number;
  /** Required to listen on anything but loopback, unless TLS checks client certificates. */
  readonly token?: string;
  /** Serve HTTPS; with `clientCa`, only clients holding a certificate it signed get an answer. */
  readonly tls?: TlsFiles;
  /** The host health verdict (default: provisionalHealth; src/health plugs in here). */
  readonly health?: HealthOf;
  /** Evacuations on the host pages (default: none); journalEvacuations() reads a journal. */
  readonly evacuations?: EvacuationsSource;
  /** How often the live stream looks for new records (default 250 ms). */
  readonly pollMs?: number;
  /** Told about each API request and how long it took (server-side timing). */
  readonly onTiming?: (path: string, ms: number) => void;
}

export interface TlsFiles {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa?: Buffer;
}

export interface Dashboard {
  /** http://HOST:PORT/ as bound (the real port when 0 was asked for). */
  readonly url: string;
  close(): Promise<void>;
}

export class ListenError extends Error {
  override name = 'ListenError';
}

const MAX_URL = 2048;
const MAX_STREAMS = 64;
const COOKIE = 'memfail_token';

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** The bundled front-end: built next to this module (dist/src/web/assets). */
const ASSETS: Record<string, string> = {
  '/assets/app.js': 'text/javascript; charset=utf-8',
  '/assets/app.css': 'text/css; charset=utf-8',
};

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

export async function startDashboard(options: ServeOptions): Promise<Dashboard> {
  const clientCerts = options.tls?.clientCa !== undefined;
  if (!isLoopback(options.host) && !options.token && !clientCerts) {
    throw new ListenError(
      `refusing to serve on ${options.host} without --token: the dashboard shows every VM's failures; ` +
        'use --listen 127.0.0.1:PORT, or give --token (with TLS: --tls-cert/--tls-key), ' +
        'or --tls-client-ca to admit only clients with a certificate',
    );
  }
  const files = loadAssets();
  const ctx: ApiContext = {
    source: options.source,
    health: options.health ?? provisionalHealth,
    evacuations: options.evacuations,
  };
  const live = new LiveMarks(options.source, options.pollMs ?? 250);
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => fail(res, err));
  };
  const tls = options.tls;
  const server: Server =
    tls === undefined
      ? createServer({ maxHeaderSize: 8192 }, listener)
      : createTlsServer(
          {
            maxHeaderSize: 8192,
            cert: tls.cert,
            key: tls.key,
            ...(tls.clientCa === undefined
              ? {}
              : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }),
          },
          listener,
        );
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const rawUrl = req.url ?? '/';
    if (rawUrl.length > MAX_URL)
      throw new RequestError(414, `the URL is over ${MAX_URL} characters`);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      throw new RequestError(405, 'this dashboard is read-only: only GET and HEAD');
    }
    const url = new URL(rawUrl, 'http://dashboard.invalid');
    checkAccess(req, url, options.token, clientCerts);
    if (
      options.token !== undefined &&
      url.searchParams.has('token') &&
      !url.pathname.startsWith('/api')
    ) {
      // The token was right (checkAccess): keep it in a cookie and drop it from the address bar.
      url.searchParams.delete('token');
      res.writeHead(303, {
        ...SECURITY_HEADERS,
        'set-cookie': `${COOKIE}=${encodeURIComponent(options.token)}; HttpOnly; SameSite=Strict; Path=/${tls ? '; Secure' : ''}`,
        location: url.pathname + url.search,
      });
      res.end();
      return;
    }
    const path = url.pathname;
    const asset = ASSETS[path] === undefined ? undefined : files.get(path);
    if (asset !== undefined) {
      send(res, 200, ASSETS[path]!, asset, 'public, max-age=300');
      return;
    }
    if (path === '/api/stream') {
      await live.subscribe(req, res);
      return;
    }
    if (path === '/api' || path === '/api/') {
      sendJson(res, 200, apiIndex());
      return;
    }
    if (path.startsWith('/api/')) {
      const start = performance.now();
      const body = await answer(ctx, path, url.searchParams);
      const ms = performance.now() - start;
      options.onTiming?.(path, ms);
      sendJson(res, 200, body, { 'server-timing': `db;dur=${ms.toFixed(2)}` });
      return;
    }
    const status = (await pageExists(ctx, path)) ? 200 : 404;
    send(res, status, 'text/html; charset=utf-8', files.get('/index.html')!, 'no-store');
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Node's parser refused the request (headers too large, malformed): answer, never crash.
    if (!socket.writable) return;
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    socket.end(`HTTP/1.1 ${status} Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `${tls ? 'https' : 'http'}://${host}:${addr.port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        live.stop();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function checkAccess(
  req: IncomingMessage,
  url: URL,
  token: string | undefined,
  clientCerts: boolean,
): void {
  // With client certificates, TLS already refused anyone without one.
  if (token === undefined && clientCerts) return;
  if (token === undefined) {
    // Loopback only: a page elsewhere must not reach us through a DNS name pointing at 127.0.0.1.
    const hostHeader = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
    if (!isLoopback(hostHeader)) {
      throw new RequestError(
        400,
        'the Host header must name this machine (localhost, 127.0.0.1, ::1)',
      );
    }
    return;
  }
  const given =
    bearer(req.headers.authorization) ??
    url.searchParams.get('token') ??
    cookie(req.headers.cookie);
  if (given === undefined || given === null) {
    throw new RequestError(
      401,
      'a token is needed: open the page with ?token=TOKEN or send Authorization: Bearer TOKEN',
    );
  }
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw new RequestError(401, 'wrong token');
}

function bearer(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^Bearer (\S+)$/.exec(header);
  return m?.[1];
}

function cookie(header: string | undefined): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === COOKIE) {
      try {
        return decodeURIComponent(value.join('='));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

function loadAssets(): Map<string, Buffer> {
  const dir = new URL('./assets/', import.meta.url);
  const files = new Map<string, Buffer>();
  for (const name of ['index.html', 'app.js', 'app.css']) {
    try {
      files.set(
        `${name === 'index.html' ? '/' : '/assets/'}${name}`,
        readFileSync(new URL(name, dir)),
      );
    } catch {
      throw new ListenError(
        `the dashboard's front-end is missing (${fileURLToPath(new URL(name, dir))}): run npm run build`,
      );
    }
  }
  return files;
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: Buffer | string,
  cache: string,
) {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': cache });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  extra: Record<string, string> = {},
) {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...extra,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(res.req.method === 'HEAD' ? undefined : JSON.stringify(body));
}

function fail(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err instanceof RequestError) {
    sendJson(res, err.status, { error: err.message, status: err.status });
    return;
  }
  const code = (err as { code?: unknown }).code;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    sendJson(res, 503, { error: 'the database is busy; try again', status: 503 });
    return;
  }
  sendJson(res, 500, { error: 'internal error', status: 500 });
  console.error(err);
}

function apiIndex() {
  return {
    docs: 'docs/web-api.md in the memfail repository',
    endpoints: [
      'GET /api/hosts',
      'GET /api/series?range=1h|6h|24h|7d|30d | from=ISO&to=ISO [&host=H[&vm=V]]',
      'GET /api/top/hosts?range…&limit=N',
      'GET /api/top/vms?range…&limit=N',
      'GET /api/events?range…[&host=H][&vm=V][&limit=N][&before=ID]',
      'GET /api/hosts/{host}',
      'GET /api/hosts/{host}/vms?range…&limit=N&offset=N',
      'GET /api/hosts/{host}/vms/{vm}/failures?limit=N&before=ID',
      'GET /api/stream (text/event-stream: event "marks" with the largest ids)',
    ],
  };
}

/** One poll of the store for every open stream, running only while one is open. */
class LiveMarks {
  private readonly streams = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | null = null;
  private last: Marks | null = null;
  private beats = 0;
  private polling = false;

  constructor(
    private readonly source: DataSource,
    private readonly pollMs: number,
  ) {}

  async subscribe(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.streams.size >= MAX_STREAMS) throw new RequestError(503, 'too many open live streams');
    const marks = await this.source.marks();
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    res.write(`retry: 1000\nevent: marks\ndata: ${JSON.stringify(marks)}\n\n`);
    this.streams.add(res);
    req.on('close', () => {
      this.streams.delete(res);
      if (this.streams.size === 0) this.stop();
    });
    if (this.timer === null) {
      this.last = marks;
      this.timer = setInterval(() => void this.poll(), this.pollMs);
    }
  }

  private async poll(): Promise<void> {
    // One look at a time: a slow database must not pile up polls.
    if (this.polling) return;
    this.polling = true;
    let marks: Marks;
    try {
      marks = await this.source.marks();
    } catch {
      return; // busy or away: the next look will see it
    } finally {
      this.polling = false;
    }
    if (this.timer === null) return; // stopped meanwhile
    const changed =
      this.last === null ||
      marks.failure !== this.last.failure ||
      marks.lifecycle !== this.last.lifecycle;
    this.last = marks;
    // A comment line every ~15 s keeps proxies from closing an idle stream.
    const beat = ++this.beats % Math.max(1, Math.round(15_000 / this.pollMs)) === 0;
    if (!changed && !beat) return;
    const text = changed ? `event: marks\ndata: ${JSON.stringify(marks)}\n\n` : ': beat\n\n';
    for (const res of this.streams) res.write(text);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const res of this.streams) res.end();
    this.streams.clear();
  }
}
