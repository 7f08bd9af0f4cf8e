/** `--listen HOST:PORT` for `memfail serve`. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export const DEFAULT_LISTEN = '127.0.0.1:8080';

/** `HOST:PORT`, `[V6]:PORT` or `PORT` (host 127.0.0.1). Throws with the reason. */
export function parseListen(text: string): ListenAddress {
  const match = /^(?:(?:\[([^\]]+)\]|([^:[\]]+)):)?([0-9]{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535) {
    throw new Error(`invalid --listen address '${text}': expected HOST:PORT, [IPV6]:PORT or PORT`);
  }
  return { host: match[1] ?? match[2] ?? '127.0.0.1', port };
}
