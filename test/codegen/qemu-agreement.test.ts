/**
 * Our argument validators against QEMU's input visitor: the same commands
 * and arguments go to a real QEMU 7.2 (paused) and through our
 * validator built from QEMU 7.2's schema source. Where QEMU answers with one
 * of its input visitor's errors (missing/unexpected member, wrong type,
 * integer range, enum value), we must reject too; where it runs the command
 * (or fails for reasons past the schema), we must accept. The differences we
 * keep on purpose are listed and pinned, so a change on either side shows.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { modelFromSchema } from '../../src/codegen/from-schema.js';
import { interpret } from '../../src/codegen/interpret.js';
import { loadSchema } from '../../src/qapi/index.js';
import { launchQemu, type QemuHandle } from '../../src/qemu/launch.js';
import { QmpClient } from '../../src/qmp/client.js';
import { QmpCommandError } from '../../src/qmp/errors.js';
import { requireQemuSource } from '../qapi/qemu-source.js';

/** The errors QEMU 7.2's QObject input visitor gives (qapi/qobject-input-visitor.c, qapi-visit-core.c). */
const SCHEMA_ERROR =
  /^(Parameter '[^']+' is (missing|unexpected)|Invalid parameter type for '[^']+', expected: .+|Parameter '[^']+' expects [a-z0-9_]+|Parameter '[^']+' does not accept value '.*')$/;

type Case = readonly [command: string, args: Record<string, unknown> | undefined];

const CASES: readonly Case[] = [
  ['query-status', undefined],
  ['query-status', {}],
  ['query-status', { verbose: true }],
  ['device_del', {}],
  ['device_del', { id: 1 }],
  ['device_del', { id: 'disk0' }],
  ['device_del', { id: 'disk0', force: true }],
  ['set-action', { reboot: 'shutdown' }],
  ['set-action', { reboot: 'explode' }],
  ['set-action', { reboot: null }],
  ['migrate-set-parameters', { 'cpu-throttle-initial': 255 }],
  ['migrate-set-parameters', { 'cpu-throttle-initial': 256 }],
  ['migrate-set-parameters', { 'cpu-throttle-initial': -1 }],
  ['migrate-set-parameters', { 'cpu-throttle-initial': 1.5 }],
  ['migrate-set-parameters', { 'cpu-throttle-initial': '20' }],
  ['migrate-set-parameters', { 'max-bandwidth': 0 }],
  ['migrate-set-parameters', { 'x-checkpoint-delay': 4294967296 }],
  ['migrate-set-parameters', { 'tls-creds': null }],
  ['migrate-set-parameters', { 'tls-creds': 'creds0' }],
  ['migrate-set-parameters', { 'tls-creds': 1 }],
  ['human-monitor-command', { 'command-line': 'info version' }],
  ['human-monitor-command', { 'command-line': 'info version', 'cpu-index': '0' }],
  ['human-monitor-command', { 'command-line': 'info version', 'cpu-index': 2 ** 63 * 4 }],
  [
    'query-cpu-model-expansion',
    { type: 'static', model: { name: 'qemu64', props: { anything: [1, 'x'] } } },
  ],
  ['query-cpu-model-expansion', { type: 'static', model: { name: 'qemu64' }, extra: 1 }],
  ['query-cpu-model-expansion', { type: 'dynamic', model: { props: {} } }],
  ['blockdev-add', { driver: 'null-co', 'node-name': 'n0', size: 1024 }],
  ['blockdev-add', { driver: 'null-co' }],
  ['blockdev-add', { driver: 'nope', 'node-name': 'n1' }],
  ['blockdev-add', { driver: 'file', 'node-name': 'n2' }],
  [
    'blockdev-add',
    { driver: 'file', 'node-name': 'n3', filename: '/nonexistent/x', 'aio-max-batch': 'x' },
  ],
  ['blockdev-add', { driver: 'null-co', 'node-name': 'n4', size: 1, 'read-zeroes': 1 }],
  ['blockdev-add', { driver: 'raw', 'node-name': 'n5', file: 'n0' }],
  ['blockdev-add', { driver: 'raw', 'node-name': 'n6', file: true }],
  ['qom-get', { path: '/machine', property: 'type' }],
  ['qom-set', { path: '/machine', property: 'nothing-here', value: { any: ['thing'] } }],
];

/**
 * Where we differ from QEMU on purpose. QEMU accepts negative integers for
 * uint64/size "for compatibility" (read as 2^64 - n); the schema says
 * unsigned, so we reject them.
 */
const KNOWN_DIFFERENCES: ReadonlyMap<string, string> = new Map([
  [
    JSON.stringify(['migrate-set-parameters', { 'max-bandwidth': -1 }]),
    'arguments.max-bandwidth: size out of range: -1',
  ],
]);

let qemu: QemuHandle | null = null;

after(async () => {
  await qemu?.kill();
});

test("argument validation agrees with QEMU's input visitor", async () => {
  const ours = interpret(modelFromSchema(loadSchema(requireQemuSource('qapi/qapi-schema.json'))));
  qemu = await launchQemu({ paused: true }); // fails, saying how to install it, without QEMU
  const client = new QmpClient();
  await client.connect(qemu.qmp[0]!);

  /** null: QEMU got past its input visitor; otherwise the visitor's message. */
  const qemuVerdict = async (command: string, args: Record<string, unknown> | undefined) => {
    try {
      await client.execute(command, args);
      return null;
    } catch (err) {
      if (!(err instanceof QmpCommandError)) throw err;
      return SCHEMA_ERROR.test(err.desc) ? err.desc : null;
    }
  };

  const disagreements: string[] = [];
  let rejected = 0;
  for (const [command, args] of CASES) {
    const qemuSays = await qemuVerdict(command, args);
    if (qemuSays !== null) rejected++;
    const r = ours.validateCommandArgs(command, args);
    if ((qemuSays === null) !== r.ok) {
      disagreements.push(
        `${command} ${JSON.stringify(args)}: QEMU ${qemuSays ?? 'accepts'}, we ${r.ok ? 'accept' : r.message}`,
      );
    }
  }
  assert.deepEqual(disagreements, []);
  // Both verdicts are well represented, so agreement means something.
  assert.ok(
    rejected >= 15 && CASES.length - rejected >= 15,
    `${rejected} of ${CASES.length} rejected`,
  );

  for (const [key, ourMessage] of KNOWN_DIFFERENCES) {
    const [command, args] = JSON.parse(key) as [string, Record<string, unknown>];
    assert.equal(
      await qemuVerdict(command, args),
      null,
      `QEMU now rejects ${key}: drop it from KNOWN_DIFFERENCES`,
    );
    const r = ours.validateCommandArgs(command, args);
    assert.equal(r.ok ? 'ok' : r.message, ourMessage);
  }
  await client.close();
});
