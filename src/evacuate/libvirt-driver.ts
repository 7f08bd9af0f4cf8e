/**
 * The `libvirt` driver: peer-to-peer live migration through memfail's own
 * libvirt client (src/libvirt). memfail makes one call on the source host's
 * libvirtd, DOMAIN_MIGRATE_PERFORM3_PARAMS with the destination's URI
 * (`dconnuri`, the inventory's `libvirt` of the destination host): the
 * source daemon connects to the destination daemon itself and runs libvirt's
 * whole migration protocol (begin, prepare, perform, finish, confirm), so
 * memfail needs no route to the destination's daemon to migrate. While the
 * call runs, DOMAIN_GET_JOB_INFO on the same connection gives progress.
 *
 * Flags (virDomainMigrateFlags), as a cloud host wants them:
 *   LIVE             the guest keeps running while its memory is copied;
 *   PEER2PEER        daemon to daemon, as above;
 *   PERSIST_DEST     the domain is defined on the destination afterwards;
 *   UNDEFINE_SOURCE  and no longer on the source: one host owns the VM.
 * Disks must be on storage both hosts see (libvirt refuses local writable
 * disks as unsafe; memfail does not override that).
 *
 * When the destination's daemon is reachable too (`libvirtSocket`, or a
 * local `libvirt` URI), memfail checks the domain runs there and reads the
 * completed job's statistics (time, downtime) from it. recover() looks the
 * domain up on both sides: running on exactly one host settles the step.
 */
import { libvirtTarget } from '../agent/libvirt-source.js';
import {
  type DomainRef,
  type DomainState,
  domainState,
  formatUuid,
  JOB_STATS_COMPLETED,
  jobType,
  LibvirtClient,
  LibvirtRemoteError,
  MIGRATE,
  MIGRATE_PARAM,
  parseUuid,
  REMOTE,
  type TypedParam,
  VIR_ERR_NO_DOMAIN,
} from '../libvirt/index.js';
import type {
  MigrationDriver,
  MigrationJob,
  MigrationResult,
  MigrationStats,
  RunningCheck,
  RunsOn,
} from './driver.js';
import type { HostSpec } from './inventory.js';

/** LIVE | PEER2PEER | PERSIST_DEST | UNDEFINE_SOURCE. */
export const LIBVIRT_MIGRATE_FLAGS =
  MIGRATE.live | MIGRATE.peer2peer | MIGRATE.persistDest | MIGRATE.undefineSource;

export interface LibvirtDriverOptions {
  /** How long a migration may run before memfail aborts its job (default 10 min). */
  readonly migrateTimeoutMs?: number;
  /** Bytes per second a migration may use (libvirt's `bandwidth`, in MiB/s, rounded up). */
  readonly maxBandwidth?: number;
  /** How often progress is asked for (default 1 s). */
  readonly pollMs?: number;
  /** How long recover() waits for a migration libvirt is still running (default 5 min). */
  readonly recoverWaitMs?: number;
  readonly connectTimeoutMs?: number;
}

/** Where memfail reaches a host's daemon: its socket, or null (a remote URI only peers reach). */
export function libvirtSocketOf(host: HostSpec): string | null {
  if (host.libvirtSocket !== undefined) return host.libvirtSocket;
  if (host.libvirt === undefined) return null;
  try {
    return libvirtTarget(host.libvirt).socket;
  } catch {
    return null; // a remote URI: the peer reaches it, memfail does not
  }
}

/**
 * What memfail asks the daemon to open once on its socket: the URI without
 * transport and socket (qemu+unix:///system?socket=… → qemu:///system), as
 * libvirt's own remote driver sends it.
 */
export function daemonUri(host: HostSpec): string {
  if (host.libvirt === undefined) return 'qemu:///system';
  try {
    const u = new URL(host.libvirt);
    u.searchParams.delete('socket');
    const driver = u.protocol.slice(0, -1).split('+')[0];
    const query = u.searchParams.toString();
    return `${driver}://${u.pathname}${query === '' ? '' : `?${query}`}`;
  } catch {
    return host.libvirt;
  }
}

/** The migration's typed parameters: the data path to the destination, the bandwidth. */
export function migrateParams(job: MigrationJob, maxBandwidth?: number): TypedParam[] {
  const params: TypedParam[] = [];
  if (job.dest.migrateUri !== undefined) {
    const uri = job.dest.migrateUri.replace(/\{vm\}/g, job.vm);
    params.push({ field: MIGRATE_PARAM.uri, value: { type: 'string', value: uri } });
  }
  if (maxBandwidth !== undefined) {
    const mib = BigInt(Math.ceil(maxBandwidth / 1_048_576));
    params.push({ field: MIGRATE_PARAM.bandwidth, value: { type: 'ullong', value: mib } });
  }
  return params;
}

/** A domain's condition on one host, as looked up. */
type Looked =
  | { readonly kind: 'state'; readonly state: DomainState | 'unknown'; readonly dom: DomainRef }
  | { readonly kind: 'absent' }
  | { readonly kind: 'unreachable'; readonly why: string };
/** ...or, for a destination whose daemon is the source's own, nothing more to see. */
type Side = Looked | { readonly kind: 'same' };

export class LibvirtDriver implements MigrationDriver {
  readonly name = 'libvirt' as const;
  constructor(private readonly options: LibvirtDriverOptions = {}) {}

  async check(job: MigrationJob): Promise<RunningCheck> {
    const side = await this.look(job.source, job);
    if (side.kind === 'unreachable') return { running: false, why: side.why };
    if (side.kind === 'absent') return { running: false, why: `no such domain on ${job.from}` };
    return side.state === 'running'
      ? { running: true }
      : { running: false, why: `the domain is ${side.state}` };
  }

  async migrate(job: MigrationJob, progress: (note: string) => void): Promise<MigrationResult> {
    const dconnuri = job.dest.libvirt;
    if (dconnuri === undefined) {
      return fail(`host "${job.to}" has no "libvirt" URI in the inventory`, 'source');
    }
    const socket = libvirtSocketOf(job.source);
    if (socket === null) {
      return fail(`host "${job.from}" has no "libvirtSocket" (or local "libvirt" URI)`, 'source');
    }
    const client = this.client();
    try {
      await client.connect(socket, { uri: daemonUri(job.source) });
    } catch (err) {
      return fail(`cannot reach ${job.from}'s libvirtd: ${(err as Error).message}`, 'unknown');
    }
    let poll: NodeJS.Timeout | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const dom = await lookup(client, job);
      if (dom === null) return fail(`no such domain on ${job.from}`, 'unknown');
      progress(`peer-to-peer to ${dconnuri}`);
      poll = this.followProgress(client, dom, progress);
      let timedOut = false;
      const limit = this.options.migrateTimeoutMs ?? 600_000;
      timer = setTimeout(() => {
        timedOut = true;
        progress(`no end after ${limit} ms: aborting the migration job`);
        client.call(REMOTE.domainAbortJob, { dom }).catch(() => {});
      }, limit);
      try {
        await client.call(REMOTE.domainMigratePerform3Params, {
          dom,
          dconnuri,
          params: migrateParams(job, this.options.maxBandwidth),
          cookieIn: Buffer.alloc(0),
          flags: LIBVIRT_MIGRATE_FLAGS,
        });
      } catch (err) {
        clearInterval(poll);
        clearTimeout(timer);
        const why =
          err instanceof LibvirtRemoteError
            ? `libvirt refused or failed the migration: ${err.body.message ?? `error ${err.code}`}`
            : `the migration call failed: ${(err as Error).message}`;
        const where = await this.where(job, dom.uuid, client);
        return fail(
          `${timedOut ? 'timed out and aborted; ' : ''}${why}; ${where.detail}`,
          where.runsOn,
        );
      }
      clearInterval(poll);
      clearTimeout(timer);
      const where = await this.where(job, dom.uuid, client);
      const uuid = formatUuid(dom.uuid);
      const contradicted =
        where.runsOn === 'source' ||
        where.runsOn === 'nowhere' ||
        (where.runsOn !== 'destination' && where.destReachable);
      if (contradicted) {
        return fail(`libvirt reported the migration done, but ${where.detail}`, where.runsOn);
      }
      const stats = await this.completedStats(job, dom.uuid);
      return {
        ok: true,
        detail:
          `migrated to ${job.to} by libvirt peer-to-peer` +
          (stats ? ` in ${stats.totalMs} ms, downtime ${stats.downtimeMs} ms` : '') +
          (where.destReachable ? '' : ` (${job.to}'s daemon not reachable from here to confirm)`),
        runsOn: 'destination',
        spec: { ...job.spec, uuid: job.spec.uuid ?? uuid },
        ...(stats ? { stats } : {}),
      };
    } catch (err) {
      return fail(`${(err as Error).message}`, 'unknown');
    } finally {
      clearInterval(poll);
      clearTimeout(timer);
      await client.close();
    }
  }

  async recover(job: MigrationJob, progress: (note: string) => void): Promise<MigrationResult> {
    const socket = libvirtSocketOf(job.source);
    const client = this.client();
    try {
      if (socket !== null) {
        await client.connect(socket, { uri: daemonUri(job.source) }).catch(() => {});
      }
      let dom = client.state === 'running' ? await lookup(client, job).catch(() => null) : null;
      if (dom !== null) await this.waitJob(client, dom, progress);
      const uuid = dom?.uuid ?? (job.spec.uuid === undefined ? null : parseUuid(job.spec.uuid));
      if (uuid === null) {
        // Not on the source and no UUID to find it elsewhere: look on the destination by name.
        const d = await this.look(job.dest, job);
        dom = d.kind === 'state' ? d.dom : null;
      }
      const key = uuid ?? dom?.uuid ?? null;
      if (key === null) {
        return fail(
          'memfail stopped mid-migration; the domain is on neither host by name',
          client.state === 'running' ? 'nowhere' : 'unknown',
        );
      }
      const where = await this.where(job, key, client.state === 'running' ? client : null);
      progress(`found: ${where.detail}`);
      if (where.runsOn === 'destination') {
        const stats = await this.completedStats(job, key);
        return {
          ok: true,
          detail: `the migration had completed while memfail was stopped (${where.detail})`,
          runsOn: 'destination',
          spec: { ...job.spec, uuid: job.spec.uuid ?? formatUuid(key) },
          ...(stats ? { stats } : {}),
        };
      }
      if (where.sourcePaused && where.sourceDom !== null) {
        // libvirt resumes the source when a migration fails; make sure it did.
        await client.call(REMOTE.domainResume, { dom: where.sourceDom }).catch(() => {});
        const again = await this.where(job, key, client);
        return fail(
          `memfail stopped mid-migration before it completed; the paused source was resumed; ${again.detail}`,
          again.runsOn,
        );
      }
      return fail(
        `memfail stopped mid-migration before it completed; ${where.detail}`,
        where.runsOn,
      );
    } finally {
      await client.close();
    }
  }

  private client(): LibvirtClient {
    return new LibvirtClient({ connectTimeoutMs: this.options.connectTimeoutMs ?? 10_000 });
  }

  /**
   * Notes the job's progress: each poll asks, but a note (a journal write) is
   * made only when another tenth of the data is done, or every 30 s.
   */
  private followProgress(
    client: LibvirtClient,
    dom: DomainRef,
    progress: (note: string) => void,
  ): NodeJS.Timeout {
    let lastTenth = -1;
    let lastAt = 0;
    return setInterval(() => {
      client
        .call(REMOTE.domainGetJobInfo, { dom })
        .then((info) => {
          const type = jobType(info.type);
          if ((type !== 'bounded' && type !== 'unbounded') || info.dataTotal === 0n) return;
          const pct = Number((info.dataProcessed * 100n) / info.dataTotal);
          const tenth = Math.floor(pct / 10);
          if (tenth === lastTenth && Date.now() - lastAt < 30_000) return;
          lastTenth = tenth;
          lastAt = Date.now();
          progress(`migration ${pct}% of ${mib(info.dataTotal)} MiB after ${info.timeElapsed} ms`);
        })
        .catch(() => {});
    }, this.options.pollMs ?? 1000);
  }

  /** Waits while a job (a migration libvirt carried on without memfail) runs on the source. */
  private async waitJob(
    client: LibvirtClient,
    dom: DomainRef,
    progress: (note: string) => void,
  ): Promise<void> {
    const deadline = Date.now() + (this.options.recoverWaitMs ?? 300_000);
    let said = false;
    for (;;) {
      const info = await client.call(REMOTE.domainGetJobInfo, { dom }).catch(() => null);
      const type = info === null ? 'none' : jobType(info.type);
      if (type !== 'bounded' && type !== 'unbounded') return;
      if (!said) progress('a migration job is still running on the source: waiting for its end');
      said = true;
      if (Date.now() > deadline) return;
      await new Promise((r) => setTimeout(r, this.options.pollMs ?? 1000));
    }
  }

  /** Looks the domain up on a host through its own connection. */
  private async look(host: HostSpec, job: MigrationJob, uuid?: Buffer): Promise<Looked> {
    const socket = libvirtSocketOf(host);
    if (socket === null) {
      return {
        kind: 'unreachable',
        why: 'memfail cannot reach its libvirtd: no "libvirtSocket" or local "libvirt" URI in the inventory',
      };
    }
    const client = this.client();
    try {
      await client.connect(socket, { uri: daemonUri(host) });
    } catch (err) {
      return { kind: 'unreachable', why: (err as Error).message };
    }
    try {
      return await side(client, job, uuid);
    } catch (err) {
      return { kind: 'unreachable', why: (err as Error).message };
    } finally {
      await client.close();
    }
  }

  /** Where the domain runs now, judged from both sides. */
  private async where(
    job: MigrationJob,
    uuid: Buffer,
    sourceClient: LibvirtClient | null,
  ): Promise<{
    runsOn: RunsOn;
    detail: string;
    destReachable: boolean;
    sourcePaused: boolean;
    sourceDom: DomainRef | null;
  }> {
    const src: Looked =
      sourceClient !== null && sourceClient.state === 'running'
        ? await side(sourceClient, job, uuid).catch((e: Error) => ({
            kind: 'unreachable' as const,
            why: e.message,
          }))
        : await this.look(job.source, job, uuid);
    const srcSocket = libvirtSocketOf(job.source);
    const dst: Side =
      srcSocket !== null && srcSocket === libvirtSocketOf(job.dest)
        ? { kind: 'same' }
        : await this.look(job.dest, job, uuid);
    const runs = (s: Side) => s.kind === 'state' && s.state === 'running';
    const say = (host: string, s: Side) =>
      s.kind === 'state'
        ? `${s.state} on ${host}`
        : s.kind === 'absent'
          ? `absent from ${host}`
          : s.kind === 'same'
            ? `${host} is the same libvirtd`
            : `${host} unreachable (${s.why})`;
    const detail = `the domain is ${say(job.from, src)}, ${say(job.to, dst)}`;
    let runsOn: RunsOn;
    if (runs(src) && !runs(dst)) runsOn = dst.kind === 'unreachable' ? 'unknown' : 'source';
    else if (runs(dst) && !runs(src))
      runsOn = src.kind === 'unreachable' ? 'unknown' : 'destination';
    else if (!runs(src) && !runs(dst) && src.kind !== 'unreachable' && dst.kind !== 'unreachable')
      runsOn = 'nowhere';
    else runsOn = 'unknown';
    // Without the destination's daemon, a source still running the VM is where it runs.
    if (runsOn === 'unknown' && runs(src) && dst.kind === 'unreachable') runsOn = 'source';
    return {
      runsOn,
      detail,
      destReachable: dst.kind !== 'unreachable',
      sourcePaused: src.kind === 'state' && src.state === 'paused' && !runs(dst),
      sourceDom: src.kind === 'state' ? src.dom : null,
    };
  }

  /** The completed job's time and downtime, as the destination's libvirt recorded them. */
  private async completedStats(
    job: MigrationJob,
    uuid: Buffer,
  ): Promise<MigrationStats | undefined> {
    const socket = libvirtSocketOf(job.dest);
    if (socket === null) return undefined;
    const client = this.client();
    try {
      await client.connect(socket, { uri: daemonUri(job.dest) });
      const { dom } = await client.call(REMOTE.domainLookupByUuid, { uuid });
      const { params } = await client.call(REMOTE.domainGetJobStats, {
        dom,
        flags: JOB_STATS_COMPLETED,
      });
      const total = numberParam(params, 'time_elapsed');
      const down = numberParam(params, 'downtime');
      return total === undefined || down === undefined
        ? undefined
        : { totalMs: total, downtimeMs: down };
    } catch {
      return undefined;
    } finally {
      await client.close();
    }
  }
}

/** The domain's state on a connected host; by UUID when known, else the VM's name. */
async function side(client: LibvirtClient, job: MigrationJob, uuid?: Buffer): Promise<Looked> {
  const dom = uuid === undefined ? await lookup(client, job) : await byUuid(client, uuid);
  if (dom === null) return { kind: 'absent' };
  // A domain a migration just finished with may vanish between the two calls.
  const got = await absentAsNull(client.call(REMOTE.domainGetState, { dom, flags: 0 }));
  if (got === null) return { kind: 'absent' };
  return { kind: 'state', state: domainState(got.state), dom };
}

async function lookup(client: LibvirtClient, job: MigrationJob): Promise<DomainRef | null> {
  if (job.spec.uuid !== undefined) return byUuid(client, parseUuid(job.spec.uuid));
  const got = await absentAsNull(client.call(REMOTE.domainLookupByName, { name: job.vm }));
  return got?.dom ?? null;
}

async function byUuid(client: LibvirtClient, uuid: Buffer): Promise<DomainRef | null> {
  const got = await absentAsNull(client.call(REMOTE.domainLookupByUuid, { uuid }));
  return got?.dom ?? null;
}

async function absentAsNull<T>(call: Promise<T>): Promise<T | null> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof LibvirtRemoteError && err.code === VIR_ERR_NO_DOMAIN) return null;
    throw err;
  }
}

function numberParam(params: readonly TypedParam[], field: string): number | undefined {
  const v = params.find((p) => p.field === field)?.value;
  if (v === undefined || v.type === 'string' || v.type === 'boolean') return undefined;
  return Number(v.value);
}

function mib(bytes: bigint): string {
  return (Number(bytes) / 1_048_576).toFixed(1);
}

function fail(detail: string, runsOn: RunsOn): MigrationResult {
  return { ok: false, detail, runsOn };
}
