/**
 * QMP endpoint addresses, as written on command lines:
 *
 *   unix:/run/vm1.qmp      a unix socket
 *   tcp:127.0.0.1:4444     a TCP endpoint (IPv6 in brackets: tcp:[::1]:4444)
 *   /run/vm1.qmp           a bare path, read as unix:
 *
 *   const addr = parseAddress('tcp:[::1]:4444'); // { kind: 'tcp', host: '::1', port: 4444 }
 *   formatAddress(addr);                          // 'tcp:[::1]:4444'
 *
 * Addresses are branded: only parseAddress/unixAddress/tcpAddress make them, so
 * a value of type QmpAddress has always been checked.
 */

declare const checked: unique symbol;
interface Checked {
  readonly [checked]: true;
}

export interface UnixAddress extends Checked {
  readonly kind: 'unix';
  readonly path: string;
}

export interface TcpAddress extends Checked {
  readonly kind: 'tcp';
  /** Host name or IP literal, without brackets. */
  readonly host: string;
  /** 0 asks the system for a free port when listening. */
  readonly port: number;
}

export type QmpAddress = UnixAddress | TcpAddress;

export type AddressErrorCode =
  | 'empty'
  | 'empty-path'
  | 'path-too-long'
  | 'missing-port'
  | 'bad-port'
  | 'bad-host'
  | 'unknown-scheme';

export class AddressError extends Error {
  override readonly name = 'AddressError';
  constructor(
    readonly code: AddressErrorCode,
    readonly text: string,
    message: string,
  ) {
    super(`invalid QMP address '${text}': ${message}`);
  }
}

/** sun_path holds 108 bytes on Linux, one of them the terminating NUL. */
export const MAX_UNIX_PATH_BYTES = 107;

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
const FORMS = 'expected unix:PATH, tcp:HOST:PORT or a socket path';

export function parseAddress(text: string): QmpAddress {
  if (text.length === 0) throw new AddressError('empty', text, `the address is empty (${FORMS})`);
  const scheme = SCHEME.exec(text)?.[1];
  if (scheme === undefined) return unixPath(text, text);
  const rest = text.slice(scheme.length + 1);
  switch (scheme) {
    case 'unix':
      return unixPath(rest, text);
    case 'tcp':
      return tcpHostPort(rest, text);
    default:
      throw new AddressError('unknown-scheme', text, `unknown scheme '${scheme}:' (${FORMS})`);
  }
}

export function formatAddress(address: QmpAddress): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `tcp:${host}:${address.port}`;
}

export function unixAddress(path: string): UnixAddress {
  return unixPath(path, `unix:${path}`);
}

export function tcpAddress(host: string, port: number): TcpAddress {
  const text = `tcp:${host.includes(':') ? `[${host}]` : host}:${port}`;
  checkHost(host, text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new AddressError('bad-port', text, `port ${port} is not an integer from 0 to 65535`);
  }
  return { kind: 'tcp', host, port } as TcpAddress;
}

function unixPath(path: string, text: string): UnixAddress {
  if (path.length === 0) throw new AddressError('empty-path', text, 'the socket path is empty');
  const bytes = Buffer.byteLength(path, 'utf8');
  if (bytes > MAX_UNIX_PATH_BYTES) {
    throw new AddressError(
      'path-too-long',
      text,
      `the socket path is ${bytes} bytes long; unix sockets allow at most ${MAX_UNIX_PATH_BYTES}`,
    );
  }
  if (path.includes('\0'))
    throw new AddressError('empty-path', text, 'the socket path contains NUL');
  return { kind: 'unix', path } as UnixAddress;
}

function tcpHostPort(rest: string, text: string): TcpAddress {
  let host: string;
  let portText: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw new AddressError('bad-host', text, "'[' without a closing ']'");
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (!after.startsWith(':')) {
      throw new AddressError('missing-port', text, `expected ':PORT' after '[${host}]'`);
    }
    portText = after.slice(1);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon < 0) throw new AddressError('missing-port', text, 'expected tcp:HOST:PORT');
    host = rest.slice(0, colon);
    if (host.includes(':')) {
      throw new AddressError(
        'bad-host',
        text,
        'an IPv6 host must be written in brackets, e.g. tcp:[::1]:4444',
      );
    }
    portText = rest.slice(colon + 1);
  }
  checkHost(host, text);
  if (!/^[0-9]{1,5}$/.test(portText)) {
    throw new AddressError('bad-port', text, `port '${portText}' is not a decimal number`);
  }
  const port = Number(portText);
  if (port > 65535) throw new AddressError('bad-port', text, `port ${port} is above 65535`);
  return { kind: 'tcp', host, port } as TcpAddress;
}

function checkHost(host: string, text: string): void {
  if (host.length === 0) throw new AddressError('bad-host', text, 'the host is empty');
  if (/[\s/[\]]/.test(host))
    throw new AddressError('bad-host', text, `host '${host}' is not a name or IP address`);
}
