/**
 * The migration procedures' XDR: typed parameters (remote_typed_param, a
 * union on virTypedParameterType), DOMAIN_MIGRATE_PERFORM3_PARAMS's
 * arguments, job info and job stats, byte for byte as remote_protocol.x
 * lays them out.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LibvirtProtocolError } from '../../src/libvirt/errors.js';
import { JOB_STATS_COMPLETED, jobType, MIGRATE, REMOTE } from '../../src/libvirt/procedures.js';
import { type TypedParam, typedParam } from '../../src/libvirt/types.js';
import { decode, encode } from '../../src/libvirt/xdr.js';

const DOM = { name: 'vm1', uuid: Buffer.from('00112233445566778899aabbccddeeff', 'hex'), id: 3 };
const DOM_HEX = `00000003${Buffer.from('vm1\0').toString('hex')}00112233445566778899aabbccddeeff00000003`;
const hex = (b: Buffer) => b.toString('hex');
const str = (s: string) => {
  const b = Buffer.from(s);
  const pad = (4 - (b.length % 4)) % 4;
  return b.length.toString(16).padStart(8, '0') + hex(b) + '00'.repeat(pad);
};

describe('typed parameters', () => {
  test('each type: the field, the type tag 1..7, then the value', () => {
    const cases: [TypedParam, string][] = [
      [{ field: 'a', value: { type: 'int', value: -2 } }, `${str('a')}00000001fffffffe`],
      [{ field: 'a', value: { type: 'uint', value: 7 } }, `${str('a')}0000000200000007`],
      [{ field: 'a', value: { type: 'llong', value: -1n } }, `${str('a')}00000003ffffffffffffffff`],
      [
        { field: 'bandwidth', value: { type: 'ullong', value: 2n ** 60n } },
        `${str('bandwidth')}000000041000000000000000`,
      ],
      [
        { field: 'a', value: { type: 'double', value: 1.5 } },
        `${str('a')}000000053ff8000000000000`,
      ],
      [{ field: 'a', value: { type: 'boolean', value: true } }, `${str('a')}0000000600000001`],
      [
        { field: 'migrate_uri', value: { type: 'string', value: 'unix:///m.sock' } },
        `${str('migrate_uri')}00000007${str('unix:///m.sock')}`,
      ],
    ];
    for (const [param, bytes] of cases) {
      assert.equal(hex(encode(typedParam, param)), bytes, param.value.type);
      assert.deepEqual(decode(typedParam, Buffer.from(bytes, 'hex')), param);
    }
  });

  test('an unknown type tag, or a value cut short, is a protocol error', () => {
    assert.throws(
      () => decode(typedParam, Buffer.from(`${str('a')}0000000800000000`, 'hex')),
      (e: unknown) => e instanceof LibvirtProtocolError && /unknown type 8/.test(e.message),
    );
    assert.throws(
      () => decode(typedParam, Buffer.from(`${str('a')}00000004000000`, 'hex')),
      (e: unknown) => e instanceof LibvirtProtocolError && e.code === 'xdr-truncated',
    );
  });
});

describe('DOMAIN_MIGRATE_PERFORM3_PARAMS (305)', () => {
  test('dom, dconnuri (nullable), params, cookie_in, flags', () => {
    const spec = REMOTE.domainMigratePerform3Params;
    assert.equal(spec.procedure, 305);
    const flags = MIGRATE.live | MIGRATE.peer2peer | MIGRATE.persistDest | MIGRATE.undefineSource;
    assert.equal(flags, 0x1b);
    const args = {
      dom: DOM,
      dconnuri: 'qemu+unix:///system?socket=/s',
      params: [{ field: 'migrate_uri', value: { type: 'string', value: 'unix:///m' } } as const],
      cookieIn: Buffer.alloc(0),
      flags,
    };
    const bytes = encode(spec.args, args);
    assert.equal(
      hex(bytes),
      DOM_HEX +
        `00000001${str('qemu+unix:///system?socket=/s')}` +
        `00000001${str('migrate_uri')}00000007${str('unix:///m')}` +
        '00000000' +
        '0000001b',
    );
    assert.deepEqual(decode(spec.args, bytes), args);
    assert.equal(
      hex(encode(spec.args, { ...args, dconnuri: null, params: [] })).slice(DOM_HEX.length),
      '00000000' + '00000000' + '00000000' + '0000001b',
    );
    assert.deepEqual(decode(spec.ret, Buffer.from('00000002abcd0000', 'hex')), {
      cookieOut: Buffer.from('abcd', 'hex'),
    });
  });

  test('more than 64 parameters cannot be sent (REMOTE_DOMAIN_MIGRATE_PARAM_LIST_MAX)', () => {
    const p = { field: 'x', value: { type: 'int', value: 1 } } as const;
    assert.throws(
      () =>
        encode(REMOTE.domainMigratePerform3Params.args, {
          dom: DOM,
          dconnuri: null,
          params: Array(65).fill(p),
          cookieIn: Buffer.alloc(0),
          flags: 0,
        }),
      RangeError,
    );
  });
});

describe('job info and job stats', () => {
  test('DOMAIN_GET_JOB_INFO (163): type and eleven unsigned hypers', () => {
    assert.equal(REMOTE.domainGetJobInfo.procedure, 163);
    const words = [2n, 1500n, 0n, 64n << 20n, 32n << 20n, 32n << 20n, 0n, 0n, 0n, 0n, 0n, 0n];
    const body = Buffer.concat([
      Buffer.from('00000002', 'hex'),
      ...words.slice(1).map((w) => {
        const b = Buffer.alloc(8);
        b.writeBigUInt64BE(w);
        return b;
      }),
    ]);
    const info = decode(REMOTE.domainGetJobInfo.ret, body);
    assert.equal(jobType(info.type), 'unbounded');
    assert.equal(info.timeElapsed, 1500n);
    assert.equal(info.dataTotal, 64n << 20n);
    assert.equal(info.dataProcessed, 32n << 20n);
    assert.equal(jobType(9), 'unknown');
  });

  test('DOMAIN_GET_JOB_STATS (298): flags COMPLETED; the reply is type + typed params', () => {
    assert.equal(REMOTE.domainGetJobStats.procedure, 298);
    assert.equal(
      hex(encode(REMOTE.domainGetJobStats.args, { dom: DOM, flags: JOB_STATS_COMPLETED })),
      `${DOM_HEX}00000001`,
    );
    const body = Buffer.from(
      `00000003` +
        `00000002` +
        `${str('time_elapsed')}00000004${'0'.repeat(13)}1f4` +
        `${str('downtime')}00000004${'0'.repeat(15)}9`,
      'hex',
    );
    const stats = decode(REMOTE.domainGetJobStats.ret, body);
    assert.equal(jobType(stats.type), 'completed');
    assert.deepEqual(stats.params, [
      { field: 'time_elapsed', value: { type: 'ullong', value: 500n } },
      { field: 'downtime', value: { type: 'ullong', value: 9n } },
    ]);
  });

  test('procedure numbers of the other calls the driver makes', () => {
    assert.equal(REMOTE.domainAbortJob.procedure, 164);
    assert.equal(REMOTE.domainResume.procedure, 28);
    assert.equal(hex(encode(REMOTE.domainAbortJob.args, { dom: DOM })), DOM_HEX);
  });
});
