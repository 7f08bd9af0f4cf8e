/**
 * Connecting to NATS as its users expect, and the memfail stream. A URL may
 * carry `user:pass@`; `tls://` asks for TLS; `--nats-creds FILE` is a NATS
 * credentials file (JWT + NKey seed). Secrets go to the client only: every
 * place that prints a server prints redactUrl()'s form, scheme://host:port.
 *
 * The stream (MEMFAIL by default) takes `memfail.>`; it is created when
 * absent with the retention, storage and replicas given, and left as it is
 * when present (an operator may have tuned it).
 */
import { readFileSync } from 'node:fs';
import {
  type JetStreamManager,
  jetstreamManager,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  AckPolicy,
  type StreamInfo,
} from '@nats-io/jetstream';
import {
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  type NatsConnection,
} from '@nats-io/transport-node';
import { SUBJECT_PREFIX } from './message.js';

export type Retention = 'limits' | 'interest' | 'workqueue';
export type Storage = 'file' | 'memory';

export interface StreamSettings {
  readonly name: string;
  readonly retention: Retention;
  readonly storage: Storage;
  readonly replicas: number;
  /** How long JetStream remembers a Nats-Msg-Id to drop a replay. */
  readonly duplicateWindowMs: number;
}

export const DEFAULT_STREAM: StreamSettings = {
  name: 'MEMFAIL',
  retention: 'limits',
  storage: 'file',
  replicas: 1,
  duplicateWindowMs: 10 * 60_000,
};

export const DEFAULT_DURABLE = 'memfail-collector';

export interface NatsTarget {
  /** Servers as the client takes them, without credentials. */
  readonly servers: string[];
  readonly user?: string;
  readonly pass?: string;
  readonly tls: boolean;
  readonly credsFile?: string;
  /** What may be printed: scheme://host:port, no credentials. */
  readonly display: string;
}

export class NatsUrlError extends Error {
  override name = 'NatsUrlError';
}

/** `nats://[user:pass@]host[:port]`, `tls://…`, or a comma-separated list of them. */
export function parseNatsUrl(text: string, credsFile?: string): NatsTarget {
  const servers: string[] = [];
  let user: string | undefined;
  let pass: string | undefined;
  let tls = false;
  for (const one of text.split(',')) {
    let url: URL;
    try {
      url = new URL(one.trim());
    } catch {
      throw new NatsUrlError(`'${redactUrl(one)}' is not a NATS URL (nats://HOST:PORT)`);
    }
    if (url.protocol !== 'nats:' && url.protocol !== 'tls:') {
      throw new NatsUrlError(`${redactUrl(one)}: only nats:// and tls:// URLs`);
    }
    if (url.protocol === 'tls:') tls = true;
    if (url.username !== '') {
      user = decodeURIComponent(url.username);
      pass = decodeURIComponent(url.password);
    }
    servers.push(`${url.hostname}:${url.port || '4222'}`);
  }
  return {
    servers,
    ...(user === undefined ? {} : { user, pass: pass ?? '' }),
    tls,
    ...(credsFile === undefined ? {} : { credsFile }),
    display: servers.map((s) => `${tls ? 'tls' : 'nats'}://${s}`).join(','),
  };
}

/** The URL without user info: for log lines and errors. */
export function redactUrl(text: string): string {
  return text.replace(/\/\/[^@/]*@/g, '//');
}

export function connectionOptions(target: NatsTarget, name: string): ConnectionOptions {
  const options: ConnectionOptions = {
    servers: target.servers,
    name,
    // An agent or collector outlives any NATS outage: reconnect for ever.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    pingInterval: 10_000,
    // No stack captured per request: a publish ack each is the hot path, and
    // the trace cost a fifth of the publisher's CPU (bench/fleet.mjs).
    noAsyncTraces: true,
  };
  if (target.user !== undefined) {
    options.user = target.user;
    options.pass = target.pass ?? '';
  }
  if (target.tls) options.tls = {};
  if (target.credsFile !== undefined) {
    options.authenticator = credsAuthenticator(readFileSync(target.credsFile));
  }
  return options;
}

export function connectNats(target: NatsTarget, name: string): Promise<NatsConnection> {
  return connect(connectionOptions(target, name));
}

/**
 * Connects, trying again every `retryMs` while the server is away (saying so
 * once); null when `stopped()` turned true first. Once connected, the client
 * itself reconnects for ever.
 */
export async function connectPatiently(
  target: NatsTarget,
  name: string,
  stopped: () => boolean,
  log: (line: string) => void,
  retryMs = 1000,
): Promise<NatsConnection | null> {
  let said = false;
  while (!stopped()) {
    try {
      return await connectNats(target, name);
    } catch (err) {
      // Wrong credentials or options will not mend by waiting.
      if (isPermanent(err)) throw err;
      if (!said) log(`NATS ${target.display} unreachable (${(err as Error).message}); retrying`);
      said = true;
      await new Promise((r) => setTimeout(r, retryMs));
    }
  }
  return null;
}

function isPermanent(err: unknown): boolean {
  const name = (err as { name?: unknown }).name;
  return name === 'AuthorizationError' || name === 'InvalidArgumentError';
}

/** Creates the stream when absent; returns its info. */
export async function ensureStream(
  jsm: JetStreamManager,
  settings: StreamSettings,
): Promise<StreamInfo> {
  try {
    return await jsm.streams.info(settings.name);
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.code !== 10059) throw err;
  }
  try {
    return await jsm.streams.add({
      name: settings.name,
      subjects: [`${SUBJECT_PREFIX}.>`],
      retention: RETENTION[settings.retention],
      storage: settings.storage === 'file' ? StorageType.File : StorageType.Memory,
      num_replicas: settings.replicas,
      duplicate_window: settings.duplicateWindowMs * 1_000_000,
    });
  } catch (err) {
    // Another agent created it first: fine.
    if (err instanceof JetStreamApiError && err.code === 10058) {
      return await jsm.streams.info(settings.name);
    }
    throw err;
  }
}

const RETENTION: Record<Retention, RetentionPolicy> = {
  limits: RetentionPolicy.Limits,
  interest: RetentionPolicy.Interest,
  workqueue: RetentionPolicy.Workqueue,
};

/**
 * The collectors' shared durable pull consumer: every collector with the
 * same name pulls from it, so they share the work (each message goes to one
 * of them at a time); unacked messages go again after ackWaitMs.
 */
export async function ensureConsumer(
  nc: NatsConnection,
  stream: string,
  durable: string,
  maxAckPending: number,
  ackWaitMs: number,
): Promise<void> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.consumers.info(stream, durable);
    return;
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.code !== 10014) throw err;
  }
  await jsm.consumers.add(stream, {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    max_ack_pending: maxAckPending,
    ack_wait: ackWaitMs * 1_000_000,
    filter_subject: `${SUBJECT_PREFIX}.>`,
  });
}
