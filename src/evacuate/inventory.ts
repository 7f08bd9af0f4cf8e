/**
 * The inventory: which hosts there are, where each host's health is read, and
 * which VMs run where. For the qmp driver a VM is a QEMU that memfail can
 * start again elsewhere: its control QMP socket and its QEMU arguments (the
 * machine, without -qmp/-incoming: memfail adds its own). After each
 * completed migration the file is rewritten (atomically: temp file, rename)
 * with the VM under its new host, so a second evacuation finds nothing left.
 *
 *   { "hosts": {
 *       "host-a": { "db": "a.db", "runDir": "/run/memfail/a",
 *                   "vms": { "web-1": { "uuid": "…", "qmp": "unix:/run/a/web-1.qmp",
 *                                       "qemu": ["-machine", "pc", "-m", "64", …] } } },
 *       "host-b": { "db": "b.db", "runDir": "/run/memfail/b", "vms": {} } } }
 *
 * Relative paths are relative to the inventory file.
 */
import {
  closeSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import {
  expectString,
  type JsonNode,
  ObjectReader,
  parseJson,
  SourceError,
} from '../health/json-source.js';

export interface VmSpec {
  readonly uuid?: string;
  /** Control QMP address (unix:PATH, tcp:HOST:PORT); the qmp driver needs it. */
  readonly qmp?: string;
  /** QEMU arguments after the binary, without -qmp and -incoming (qmp driver). */
  readonly qemu?: readonly string[];
}

export interface HostSpec {
  /** The host's local store, read for its health (absolute after loading). */
  readonly db?: string;
  /** Where the qmp driver puts incoming VMs' sockets and logs (absolute). */
  readonly runDir?: string;
  /**
   * libvirt driver: the host's libvirt URI as other hosts' daemons reach it
   * (the peer-to-peer destination URI, e.g. qemu+tls://host-b/system).
   */
  readonly libvirt?: string;
  /** libvirt driver: where memfail reaches this host's libvirtd (default: from a local `libvirt` URI). */
  readonly libvirtSocket?: string;
  /** libvirt driver, as destination: the hypervisor's migration URI (tcp://ADDR, unix:///PATH; {vm} filled in). */
  readonly migrateUri?: string;
  readonly vms: Readonly<Record<string, VmSpec>>;
}

export interface Inventory {
  readonly path: string;
  readonly hosts: Readonly<Record<string, HostSpec>>;
}

export class InventoryError extends Error {
  override name = 'InventoryError';
}

export function loadInventory(path: string): Inventory {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InventoryError(`cannot read inventory ${path}: ${(err as Error).message}`);
  }
  try {
    return parseInventory(text, path);
  } catch (err) {
    if (err instanceof SourceError) throw new InventoryError(err.message);
    throw err;
  }
}

export function parseInventory(text: string, path: string): Inventory {
  const base = dirname(resolve(path));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const top = ObjectReader.of(parseJson(text, path), path, 'the inventory');
  const hostsNode = top.require('hosts');
  top.done(['hosts']);
  const hostsReader = ObjectReader.of(hostsNode, path, '"hosts"');
  const hosts: Record<string, HostSpec> = {};
  const owner = new Map<string, string>();
  for (const { key: host, value } of hostsReader.node.members) {
    const h = ObjectReader.of(value, path, `host "${host}"`);
    const db = optionalString(h.get('db'), path, `host "${host}" "db"`);
    const runDir = optionalString(h.get('runDir'), path, `host "${host}" "runDir"`);
    const libvirtNode = h.get('libvirt');
    const libvirt = optionalString(libvirtNode, path, `host "${host}" "libvirt"`);
    if (libvirtNode !== undefined && libvirt !== undefined && !isLibvirtUri(libvirt)) {
      throw new SourceError(
        path,
        libvirtNode.pos,
        `host "${host}" "libvirt": '${libvirt}' is not a libvirt URI (e.g. qemu:///system, qemu+tls://host-b/system)`,
      );
    }
    const libvirtSocket = optionalString(
      h.get('libvirtSocket'),
      path,
      `host "${host}" "libvirtSocket"`,
    );
    const migrateUri = optionalString(h.get('migrateUri'), path, `host "${host}" "migrateUri"`);
    const vmsNode = h.get('vms');
    h.done(['db', 'runDir', 'libvirt', 'libvirtSocket', 'migrateUri', 'vms']);
    const vms: Record<string, VmSpec> = {};
    if (vmsNode !== undefined) {
      const vr = ObjectReader.of(vmsNode, path, `host "${host}" "vms"`);
      for (const { key: vm, keyPos, value: vmNode } of vr.node.members) {
        const earlier = owner.get(vm);
        if (earlier !== undefined) {
          throw new SourceError(
            path,
            keyPos,
            `VM "${vm}" is listed on both "${earlier}" and "${host}"`,
          );
        }
        owner.set(vm, host);
        vms[vm] = readVm(vmNode, path, `VM "${vm}"`);
      }
    }
    hosts[host] = {
      ...(db === undefined ? {} : { db: abs(db) }),
      ...(runDir === undefined ? {} : { runDir: abs(runDir) }),
      ...(libvirt === undefined ? {} : { libvirt }),
      ...(libvirtSocket === undefined ? {} : { libvirtSocket: abs(libvirtSocket) }),
      ...(migrateUri === undefined ? {} : { migrateUri }),
      vms,
    };
  }
  return { path: resolve(path), hosts };
}

/** DRIVER[+TRANSPORT]://[HOST]/PATH[?…], as libvirt's URIs are. */
function isLibvirtUri(text: string): boolean {
  return /^[a-z][a-z0-9]*(\+[a-z0-9]+)?:\/\/[^/]*\/\S*$/i.test(text);
}

function readVm(node: JsonNode, file: string, what: string): VmSpec {
  const r = ObjectReader.of(node, file, what);
  const uuid = optionalString(r.get('uuid'), file, `${what} "uuid"`);
  const qmp = optionalString(r.get('qmp'), file, `${what} "qmp"`);
  const qemuNode = r.get('qemu');
  r.done(['uuid', 'qmp', 'qemu']);
  let qemu: string[] | undefined;
  if (qemuNode !== undefined) {
    if (qemuNode.kind !== 'array') {
      throw new SourceError(file, qemuNode.pos, `${what} "qemu" must be an array of arguments`);
    }
    qemu = qemuNode.items.map((n) => expectString(n, file, `${what} "qemu" argument`));
    const bad = qemu.find((a) => a === '-qmp' || a === '-incoming' || a === '-daemonize');
    if (bad !== undefined) {
      throw new SourceError(
        file,
        qemuNode.pos,
        `${what} "qemu" must not contain ${bad}: memfail adds its own`,
      );
    }
  }
  return {
    ...(uuid === undefined ? {} : { uuid }),
    ...(qmp === undefined ? {} : { qmp }),
    ...(qemu === undefined ? {} : { qemu }),
  };
}

function optionalString(
  node: JsonNode | undefined,
  file: string,
  what: string,
): string | undefined {
  return node === undefined ? undefined : expectString(node, file, what);
}

/** Which host a VM is on, by the inventory. */
export function hostOf(inv: Inventory, vm: string): string | null {
  for (const [host, spec] of Object.entries(inv.hosts)) if (vm in spec.vms) return host;
  return null;
}

/**
 * Records that `vm` now runs on `to` (with its new spec) and writes the file
 * atomically. Reads the file again under a lock file (PATH.lock, holding the
 * writer's pid), so moves by several memfails never undo each other.
 */
export function moveVm(path: string, vm: string, to: string, spec: VmSpec): Inventory {
  return withLock(path, () => move(path, vm, to, spec));
}

function move(path: string, vm: string, to: string, spec: VmSpec): Inventory {
  const inv = loadInventory(path);
  const hosts: Record<string, HostSpec> = {};
  for (const [host, h] of Object.entries(inv.hosts)) {
    const vms = { ...h.vms };
    delete vms[vm];
    if (host === to) vms[vm] = spec;
    hosts[host] = { ...h, vms };
  }
  if (!(to in hosts)) throw new InventoryError(`no host "${to}" in ${path}`);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify({ hosts }, null, 2)}\n`);
  renameSync(tmp, path);
  return { path: inv.path, hosts };
}

/**
 * Runs `fn` holding PATH.lock. The lock is held only for a read and a write
 * of a small file; one left by a process that died is taken over.
 */
function withLock<T>(path: string, fn: () => T): T {
  const lock = `${path}.lock`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!holderAlive(lock)) {
        rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new InventoryError(`${lock} is held by a running process`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

function holderAlive(lock: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(lock, 'utf8'));
  } catch {
    return true; // just created, pid not written yet
  }
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
