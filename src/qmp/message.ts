/**
 * QMP message shapes (QEMU's docs/interop/qmp-spec.txt, which
 * scripts/fetch-qemu-source.sh unpacks into .cache/qemu-src) and the two
 * classifiers that turn a parsed JSON object into one of them:
 *
 *   classifyServerMessage(obj) // greeting | return | error | event, or a QmpProtocolError
 *   checkCommand(obj)          // a client's command, or QEMU's exact error desc for it
 */

import { QmpProtocolError, type QmpErrorClass } from './errors.js';

export type JsonObject = Record<string, unknown>;

/** What a command takes and returns. */
export interface CommandSpec {
  readonly args: unknown;
  readonly returns: unknown;
}

/** Until generated maps exist: any command, loose arguments, unknown result. */
export type LooseCommands = Record<string, { args: JsonObject | undefined; returns: unknown }>;
/** Until generated maps exist: any event, object data. */
export type LooseEvents = Record<string, JsonObject>;

export type CommandArgs<S> = S extends { readonly args: infer A }
  ? undefined extends A
    ? [args?: A]
    : [args: A]
  : [args?: JsonObject];
export type CommandReturns<S> = S extends { readonly returns: infer R } ? R : unknown;

/** Any JSON value may be an id; the server echoes it untouched. */
export type QmpId = unknown;

export interface QmpVersion {
  readonly qemu: { readonly major: number; readonly minor: number; readonly micro: number };
  readonly package: string;
}

/** Capabilities a server may offer; QEMU 7.2 knows only 'oob'. */
export type QmpCapability = 'oob';

export interface QmpGreeting {
  readonly version: QmpVersion;
  /** What the server offered, as sent (unknown names are kept). */
  readonly capabilities: readonly string[];
}

/** Seconds and microseconds since the epoch; both -1 when the host had no clock. */
export interface QmpTimestamp {
  readonly seconds: number;
  readonly microseconds: number;
}

/** An asynchronous event as it arrives. */
export interface QmpEventMessage<Name extends string = string, Data = JsonObject> {
  readonly event: Name;
  /** Absent on the wire for events without data; we deliver {} then. */
  readonly data: Data;
  readonly timestamp: QmpTimestamp;
}

export type ServerMessage =
  | { readonly kind: 'greeting'; readonly greeting: QmpGreeting }
  | { readonly kind: 'return'; readonly id: QmpId; readonly value: unknown }
  | {
      readonly kind: 'error';
      readonly id: QmpId;
      readonly errorClass: QmpErrorClass | string;
      readonly desc: string;
    }
  | { readonly kind: 'event'; readonly event: QmpEventMessage };

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unexpected(message: string): QmpProtocolError {
  return new QmpProtocolError('unexpected-message', message);
}

/** Names a message for error texts without dumping a huge one. */
function preview(obj: JsonObject): string {
  const text = JSON.stringify(obj);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/**
 * The event in `obj`, checked in place (no copy: events are the hot path);
 * null when `obj` is not an event. A missing `data` becomes {}.
 */
export function asEvent(obj: JsonObject): QmpEventMessage | QmpProtocolError | null {
  const name = obj.event;
  if (name === undefined) return null;
  if (typeof name !== 'string') return unexpected(`event name is not a string: ${preview(obj)}`);
  const ts = obj.timestamp;
  if (!isObject(ts) || typeof ts.seconds !== 'number' || typeof ts.microseconds !== 'number') {
    return unexpected(`event ${name} lacks a {seconds, microseconds} timestamp`);
  }
  const data = obj.data;
  if (data === undefined) obj.data = {};
  else if (!isObject(data)) return unexpected(`event ${name} has data that is not an object`);
  return obj as unknown as QmpEventMessage;
}

/** What a server sent, or why it is not a QMP message. */
export function classifyServerMessage(obj: JsonObject): ServerMessage | QmpProtocolError {
  const event = asEvent(obj);
  if (event !== null) return event instanceof QmpProtocolError ? event : { kind: 'event', event };
  if ('return' in obj) return { kind: 'return', id: obj.id, value: obj.return };
  const error = obj.error;
  if (error !== undefined) {
    if (!isObject(error) || typeof error.class !== 'string' || typeof error.desc !== 'string') {
      return unexpected(`error response without {class, desc} strings: ${preview(obj)}`);
    }
    return { kind: 'error', id: obj.id, errorClass: error.class, desc: error.desc };
  }
  if (obj.QMP !== undefined) {
    const greeting = parseGreeting(obj);
    return greeting instanceof QmpProtocolError ? greeting : { kind: 'greeting', greeting };
  }
  return unexpected(`not a QMP greeting, response or event: ${preview(obj)}`);
}

export function parseGreeting(obj: JsonObject): QmpGreeting | QmpProtocolError {
  const qmp = obj.QMP;
  const bad = (why: string) =>
    new QmpProtocolError('bad-greeting', `bad QMP greeting (${why}): ${preview(obj)}`);
  if (!isObject(qmp)) return bad('no "QMP" object');
  const caps = qmp.capabilities;
  if (!Array.isArray(caps) || !caps.every((c) => typeof c === 'string')) {
    return bad('"capabilities" is not a list of strings');
  }
  const version = qmp.version;
  if (!isObject(version) || !isObject(version.qemu)) return bad('"version" lacks "qemu"');
  const { major, minor, micro } = version.qemu;
  if (typeof major !== 'number' || typeof minor !== 'number' || typeof micro !== 'number') {
    return bad('"version.qemu" lacks major/minor/micro numbers');
  }
  const pkg = typeof version.package === 'string' ? version.package : '';
  return {
    version: { qemu: { major, minor, micro }, package: pkg },
    capabilities: caps as string[],
  };
}

/** A command as a server accepts it. */
export interface QmpCommand {
  readonly name: string;
  readonly oob: boolean;
  readonly args: JsonObject;
  /** Whether the request carried an id (an absent id is not echoed). */
  readonly hasId: boolean;
  readonly id: QmpId;
}

/**
 * Checks a client's request the way QEMU 7.2 does (qmp-dispatch), returning
 * the command or QEMU's exact GenericError desc. `oobAllowed`: the session
 * negotiated 'oob' (otherwise 'exec-oob' is an unexpected member, as in QEMU).
 */
export function checkCommand(obj: JsonObject, oobAllowed: boolean): QmpCommand | { desc: string } {
  for (const key of Object.keys(obj)) {
    const value = obj[key];
    if (key === 'execute' || (key === 'exec-oob' && oobAllowed)) {
      if (typeof value !== 'string') return { desc: `QMP input member '${key}' must be a string` };
    } else if (key === 'arguments') {
      if (!isObject(value)) return { desc: "QMP input member 'arguments' must be an object" };
    } else if (key !== 'id') {
      return { desc: `QMP input member '${key}' is unexpected` };
    }
  }
  const execute = obj.execute as string | undefined;
  const execOob = obj['exec-oob'] as string | undefined;
  if (execute !== undefined && execOob !== undefined) {
    return { desc: "QMP input must not contain both 'execute' and 'exec-oob'" };
  }
  const name = execute ?? execOob;
  if (name === undefined) return { desc: "QMP input lacks member 'execute'" };
  return {
    name,
    oob: execOob !== undefined,
    args: (obj.arguments as JsonObject | undefined) ?? {},
    hasId: 'id' in obj,
    id: obj.id,
  };
}

/** The wall clock as QMP stamps events (microsecond resolution). */
export function qmpNow(): QmpTimestamp {
  const ms = performance.timeOrigin + performance.now();
  const seconds = Math.floor(ms / 1000);
  return { seconds, microseconds: Math.min(999_999, Math.floor((ms - seconds * 1000) * 1000)) };
}
