/**
 * The REAL check: start QEMU 7.2 (paused: the schema is built in), ask `query-qmp-schema`
 * over QMP, and compare with our introspection of QEMU 7.2's schema source,
 * event by event: names, member names, optionality, types, structurally
 * through QEMU's masked type names.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  modelFromIntrospection,
  validatorFromIntrospection,
} from '../../src/codegen/from-introspection.js';
import { modelFromSchema } from '../../src/codegen/from-schema.js';
import { introspect } from '../../src/codegen/introspect.js';
import type { WireModel } from '../../src/codegen/model.js';
import { loadSchema } from '../../src/qapi/index.js';
import { launchQemu, type QemuHandle } from '../../src/qemu/launch.js';
import { QmpClient } from '../../src/qmp/client.js';
import { requireQemuSource } from '../qapi/qemu-source.js';
import { compareTypes } from './compare-models.js';

describe('introspection vs a real QEMU 7.2', () => {
  let qemu: QemuHandle | null = null;
  let live: unknown;
  let ours: WireModel;

  before(async () => {
    ours = modelFromSchema(loadSchema(requireQemuSource('qapi/qapi-schema.json')));
    qemu = await launchQemu({ paused: true }); // fails, saying how to install it, without QEMU
    const client = new QmpClient();
    const { version } = await client.connect(qemu.qmp[0]!);
    assert.deepEqual(
      [version.qemu.major, version.qemu.minor],
      [7, 2],
      'this test compares with QEMU 7.2',
    );
    live = await client.execute('query-qmp-schema');
    await client.close();
  });

  after(async () => {
    await qemu?.kill();
  });

  test('every event QEMU reports has the same structure in our introspection', () => {
    const theirs = modelFromIntrospection(live);
    assert.ok(theirs.events.size > 40, `QEMU reported only ${theirs.events.size} events`);
    const diffs: string[] = [];
    for (const event of theirs.events.values()) {
      const our = ours.events.get(event.name);
      if (!our) {
        diffs.push(`${event.name}: not in our schema`);
        continue;
      }
      diffs.push(
        ...compareTypes(ours, our.argType ?? 'q_empty', theirs, event.argType ?? '', event.name),
      );
    }
    assert.deepEqual(diffs, []);
    assert.ok(theirs.events.has('MEMORY_FAILURE'));
    // The comparison does see differences: MEMORY_FAILURE's data is not SHUTDOWN's.
    const shutdown = theirs.events.get('SHUTDOWN')!.argType!;
    assert.ok(compareTypes(ours, 'q_obj_MEMORY_FAILURE-arg', theirs, shutdown, 'x').length > 0);
  });

  test('every command QEMU reports has the same arguments and return type in our introspection', () => {
    const theirs = modelFromIntrospection(live);
    assert.ok(theirs.commands.size > 150, `QEMU reported only ${theirs.commands.size} commands`);
    const diffs: string[] = [];
    for (const command of theirs.commands.values()) {
      const our = ours.commands.get(command.name);
      if (!our) {
        diffs.push(`${command.name}: not in our schema`);
        continue;
      }
      const arg = `${command.name}(arguments)`;
      diffs.push(
        ...compareTypes(ours, our.argType ?? 'q_empty', theirs, command.argType ?? '', arg),
      );
      const ret = `${command.name}(return)`;
      diffs.push(
        ...compareTypes(ours, our.retType ?? 'q_empty', theirs, command.retType ?? '', ret),
      );
    }
    assert.deepEqual(diffs, []);
  });

  test('events QEMU does not report are exactly the conditional ones it was built without', () => {
    const theirs = modelFromIntrospection(live);
    const missing = [...ours.events.values()].filter((e) => !theirs.events.has(e.name));
    for (const e of missing)
      assert.notEqual(e.ifcond, null, `${e.name} is unconditional but QEMU lacks it`);
  });

  test("our introspection is a SchemaInfo list of the same shape as QEMU's", () => {
    const mine = introspect(ours, { mask: true });
    const mineModel = modelFromIntrospection(mine);
    const theirs = modelFromIntrospection(live);
    const mf = (m: WireModel) => m.events.get('MEMORY_FAILURE')!.argType!;
    assert.deepEqual(
      compareTypes(ours, 'q_obj_MEMORY_FAILURE-arg', mineModel, mf(mineModel), 'MEMORY_FAILURE'),
      [],
    );
    assert.deepEqual(
      compareTypes(ours, 'q_obj_MEMORY_FAILURE-arg', theirs, mf(theirs), 'MEMORY_FAILURE'),
      [],
    );
    // Commands and events come first, in definition order, as QEMU lists them.
    const order = (infos: readonly { name: string; 'meta-type': string }[]) =>
      infos.filter((i) => i['meta-type'] === 'event').map((i) => i.name);
    const liveEvents = order(live as { name: string; 'meta-type': string }[]);
    assert.deepEqual(
      order(mine).filter((n) => liveEvents.includes(n)),
      liveEvents,
    );
  });

  test("a validator built from QEMU's answer accepts and rejects MEMORY_FAILURE like ours", () => {
    const v = validatorFromIntrospection(live);
    const good = {
      recipient: 'guest',
      action: 'inject',
      flags: { 'action-required': true, recursive: false },
    };
    assert.ok(v.validateEvent('MEMORY_FAILURE', good).ok);
    const bad = v.validateEvent('MEMORY_FAILURE', {
      ...good,
      flags: { 'action-required': true, recursive: 'yes' },
    });
    assert.equal(bad.ok ? '' : bad.message, 'data.flags.recursive: expected bool, got "yes"');
    const status = v.validateCommandArgs('query-status', undefined);
    assert.ok(status.ok);
  });
});
