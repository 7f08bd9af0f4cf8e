/**
 * The libvirt driver's procedure sequence against two scripted libvirt peers
 * (source and destination daemons): what it sends (one PERFORM3_PARAMS with
 * the destination's URI, the flags, the typed parameters), and how it judges
 * where the VM runs from what each side answers.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import type { MigrationJob } from '../../src/evacuate/driver.js';
import type { HostSpec } from '../../src/evacuate/inventory.js';
import { daemonUri, LibvirtDriver, libvirtSocketOf } from '../../src/evacuate/libvirt-driver.js';
import { REMOTE, REMOTE_PROGRAM } from '../../src/libvirt/index.js';
import { remoteError } from '../../src/libvirt/types.js';
import { decode, encode } from '../../src/libvirt/xdr.js';
import { type FakeCall, type FakeDaemon, fakeDaemon, reply } from '../libvirt/fake-daemon.js';

const UUID = '00112233-4455-6677-8899-aabbccddeeff';
const DOM = { name: 'web-1', uuid: Buffer.from(UUID.replace(/-/g, ''), 'hex'), id: 7 };

type Script = Partial<Record<keyof typeof REMOTE, (call: FakeCall) => void>>;

const daemons: FakeDaemon[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.close();
});

/** A scripted daemon: each procedure named in the script answers as told; calls are logged by name. */
async function peer(script: Script, log: string[]) {
  const byNumber = new Map(
    Object.entries(REMOTE).map(([name, spec]) => [spec.procedure, name as keyof typeof REMOTE]),
  );
  const d = await fakeDaemon({
    onCall: (call) => {
      if (call.header.program !== REMOTE_PROGRAM) return;
      const name = byNumber.get(call.header.procedure);
      if (name === undefined || name === 'connectClose') return reply(call);
      log.push(name);
      const answer = script[name];
      if (answer === undefined) throw new Error(`unscripted ${name}`);
      answer(call);
    },
  });
  daemons.push(d);
  return d;
}

function error(call: FakeCall, code: number, message: string): void {
  reply(
    call,
    encode(remoteError, {
      code,
      domain: 10,
      message,
      level: 2,
      dom: null,
      str1: null,
      str2: null,
      str3: null,
      int1: 0,
      int2: 0,
      net: null,
    }),
    { status: 'error' },
  );
}

const found = (call: FakeCall) => reply(call, encode(REMOTE.domainLookupByUuid.ret, { dom: DOM }));
const absent = (call: FakeCall) =>
  error(call, 42, 'Domain not found: no domain with matching uuid');
const state = (n: number) => (call: FakeCall) =>
  reply(call, encode(REMOTE.domainGetState.ret, { state: n, reason: 1 }));

function job(a: FakeDaemon, b: FakeDaemon, dest: Partial<HostSpec> = {}): MigrationJob {
  const source: HostSpec = { libvirt: 'qemu:///system', libvirtSocket: a.path, vms: {} };
  const destination: HostSpec = {
    libvirt: 'qemu+tls://host-b.example/system',
    libvirtSocket: b.path,
    migrateUri: 'unix:///run/mig/{vm}.sock',
    vms: {},
    ...dest,
  };
  return {
    vm: 'web-1',
    from: 'host-a',
    to: 'host-b',
    spec: { uuid: UUID },
    source,
    dest: destination,
  };
}

describe('libvirt driver, procedure by procedure', () => {
  test('a migration: one PERFORM3_PARAMS on the source; the destination confirms and gives the stats', async () => {
    const aLog: string[] = [];
    const bLog: string[] = [];
    let performed: ReturnType<typeof decode<unknown>> | null = null;
    let lookups = 0;
    const a = await peer(
      {
        domainLookupByUuid: (c) => (lookups++ === 0 ? found(c) : absent(c)),
        domainMigratePerform3Params: (c) => {
          performed = decode(REMOTE.domainMigratePerform3Params.args, c.body);
          setTimeout(
            () =>
              reply(
                c,
                encode(REMOTE.domainMigratePerform3Params.ret, { cookieOut: Buffer.alloc(0) }),
              ),
            80,
          );
        },
        domainGetJobInfo: (c) =>
          reply(c, encode(REMOTE.domainGetJobInfo.ret, {
            type: 2, timeElapsed: 40n, timeRemaining: 0n, dataTotal: 64n << 20n,
            dataProcessed: 16n << 20n, dataRemaining: 48n << 20n, memTotal: 0n,
            memProcessed: 0n, memRemaining: 0n, fileTotal: 0n, fileProcessed: 0n, fileRemaining: 0n,
          })), // biome-ignore format: one job
      },
      aLog,
    );
    const b = await peer(
      {
        domainLookupByUuid: found,
        domainGetState: state(1),
        domainGetJobStats: (c) => {
          assert.equal(decode(REMOTE.domainGetJobStats.args, c.body).flags, 1);
          reply(c, encode(REMOTE.domainGetJobStats.ret, {
            type: 3,
            params: [
              { field: 'operation', value: { type: 'int', value: 3 } },
              { field: 'time_elapsed', value: { type: 'ullong', value: 278n } },
              { field: 'downtime', value: { type: 'ullong', value: 9n } },
            ],
          })); // biome-ignore format: one reply
        },
      },
      bLog,
    );
    const notes: string[] = [];
    const driver = new LibvirtDriver({ pollMs: 20, maxBandwidth: 3 * 1_048_576 + 1 });
    const res = await driver.migrate(job(a, b), (n) => notes.push(n));
    assert.deepEqual(res, {
      ok: true,
      detail: 'migrated to host-b by libvirt peer-to-peer in 278 ms, downtime 9 ms',
      runsOn: 'destination',
      spec: { uuid: UUID },
      stats: { totalMs: 278, downtimeMs: 9 },
    });
    assert.deepEqual(performed, {
      dom: DOM,
      dconnuri: 'qemu+tls://host-b.example/system',
      params: [
        { field: 'migrate_uri', value: { type: 'string', value: 'unix:///run/mig/web-1.sock' } },
        { field: 'bandwidth', value: { type: 'ullong', value: 4n } },
      ],
      cookieIn: Buffer.alloc(0),
      flags: 0x1b, // LIVE | PEER2PEER | PERSIST_DEST | UNDEFINE_SOURCE
    });
    assert.equal(aLog[0], 'domainLookupByUuid');
    assert.equal(aLog[1], 'domainMigratePerform3Params');
    assert.ok(aLog.includes('domainGetJobInfo'), aLog.join());
    assert.equal(aLog.at(-1), 'domainLookupByUuid'); // after: gone from the source
    assert.deepEqual(bLog, [
      'domainLookupByUuid',
      'domainGetState',
      'domainLookupByUuid',
      'domainGetJobStats',
    ]);
    assert.equal(notes[0], 'peer-to-peer to qemu+tls://host-b.example/system');
    // Polled every 20 ms, the same tenth of the data is noted (journaled) once.
    assert.ok(aLog.filter((n) => n === 'domainGetJobInfo').length >= 2, aLog.join());
    assert.deepEqual(
      notes.filter((n) => n.startsWith('migration')),
      ['migration 25% of 64.0 MiB after 40 ms'],
    );
  });

  test("libvirt's refusal is the step's failure, and the VM still runs on its source", async () => {
    const a = await peer(
      {
        domainLookupByUuid: found,
        domainMigratePerform3Params: (c) =>
          error(
            c,
            55,
            'Requested operation is not valid: Attempt to migrate guest to the same host',
          ),
        domainGetState: state(1),
        domainGetJobInfo: (c) => error(c, 55, 'no job'),
      },
      [],
    );
    const b = await peer({ domainLookupByUuid: absent }, []);
    const res = await new LibvirtDriver().migrate(job(a, b), () => {});
    assert.equal(res.ok, false);
    assert.equal(res.runsOn, 'source');
    assert.equal(
      res.detail,
      'libvirt refused or failed the migration: Requested operation is not valid: Attempt to migrate guest to the same host; ' +
        'the domain is running on host-a, absent from host-b',
    );
  });

  test('libvirt says done but the source still runs the domain: not taken as a success', async () => {
    const a = await peer(
      {
        domainLookupByUuid: found,
        domainMigratePerform3Params: (c) =>
          reply(c, encode(REMOTE.domainMigratePerform3Params.ret, { cookieOut: Buffer.alloc(0) })),
        domainGetState: state(1),
      },
      [],
    );
    const b = await peer({ domainLookupByUuid: absent }, []);
    const res = await new LibvirtDriver().migrate(job(a, b), () => {});
    assert.deepEqual(res, {
      ok: false,
      detail:
        'libvirt reported the migration done, but the domain is running on host-a, absent from host-b',
      runsOn: 'source',
    });
  });

  test('a destination without a "libvirt" URI, or a source without a socket, fails before any call', async () => {
    const log: string[] = [];
    const a = await peer({}, log);
    const b = await peer({}, log);
    const noUri = job(a, b, { libvirt: undefined as unknown as string });
    delete (noUri.dest as { libvirt?: string }).libvirt;
    assert.deepEqual(await new LibvirtDriver().migrate(noUri, () => {}), {
      ok: false,
      detail: 'host "host-b" has no "libvirt" URI in the inventory',
      runsOn: 'source',
    });
    const remote = { ...job(a, b), source: { libvirt: 'qemu+ssh://host-a/system', vms: {} } };
    const res = await new LibvirtDriver().migrate(remote, () => {});
    assert.match(res.detail, /host "host-a" has no "libvirtSocket"/);
    assert.deepEqual(log, []);
  });

  test('recover: waits for a job libvirt is still running, then finds the VM on one host', async () => {
    let jobPolls = 0;
    let lookups = 0;
    const a = await peer(
      {
        domainLookupByUuid: (c) => (lookups++ === 0 ? found(c) : absent(c)),
        domainGetJobInfo: (c) =>
          reply(c, encode(REMOTE.domainGetJobInfo.ret, {
            type: jobPolls++ < 2 ? 2 : 0, timeElapsed: 0n, timeRemaining: 0n, dataTotal: 0n,
            dataProcessed: 0n, dataRemaining: 0n, memTotal: 0n, memProcessed: 0n,
            memRemaining: 0n, fileTotal: 0n, fileProcessed: 0n, fileRemaining: 0n,
          })), // biome-ignore format: one job
      },
      [],
    );
    const b = await peer(
      {
        domainLookupByUuid: found,
        domainGetState: state(1),
        domainGetJobStats: (c) => error(c, 55, 'no completed job'),
      },
      [],
    );
    const notes: string[] = [];
    const res = await new LibvirtDriver({ pollMs: 10 }).recover(job(a, b), (n) => notes.push(n));
    assert.equal(jobPolls, 3);
    assert.equal(res.ok, true, res.detail);
    assert.equal(res.runsOn, 'destination');
    assert.deepEqual(notes, [
      'a migration job is still running on the source: waiting for its end',
      'found: the domain is absent from host-a, running on host-b',
    ]);
  });

  test('recover: a source left paused (and nothing on the destination) is resumed', async () => {
    let resumed = false;
    const a = await peer(
      {
        domainLookupByUuid: found,
        domainGetJobInfo: (c) => error(c, 55, 'no job'),
        domainGetState: (c) => state(resumed ? 1 : 3)(c),
        domainResume: (c) => {
          resumed = true;
          reply(c);
        },
      },
      [],
    );
    const b = await peer({ domainLookupByUuid: absent }, []);
    const res = await new LibvirtDriver().recover(job(a, b), () => {});
    assert.equal(resumed, true);
    assert.equal(res.ok, false);
    assert.equal(res.runsOn, 'source');
    assert.match(
      res.detail,
      /the paused source was resumed; the domain is running on host-a, absent from host-b/,
    );
  });

  test('sockets and the URI memfail opens come from the inventory', () => {
    assert.equal(
      libvirtSocketOf({ libvirt: 'qemu:///system', vms: {} }),
      '/var/run/libvirt/libvirt-sock',
    );
    assert.equal(libvirtSocketOf({ libvirt: 'qemu+unix:///system?socket=/x/s', vms: {} }), '/x/s');
    assert.equal(libvirtSocketOf({ libvirt: 'qemu+tls://b/system', vms: {} }), null);
    assert.equal(
      libvirtSocketOf({ libvirt: 'qemu+tls://b/system', libvirtSocket: '/y', vms: {} }),
      '/y',
    );
    assert.equal(
      daemonUri({ libvirt: 'qemu+unix:///system?socket=/x/s', vms: {} }),
      'qemu:///system',
    );
    assert.equal(daemonUri({ vms: {} }), 'qemu:///system');
  });
});
