/**
 * `memfail evacuate` with the qmp driver against real QEMU 7.2: a counter
 * guest moves from host-a to host-b live, the journal and the inventory say
 * so, and a second run does nothing.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Journal } from '../../src/evacuate/journal.js';
import { QmpDriver, vmFiles } from '../../src/evacuate/qmp-driver.js';
import { evacuate } from '../../src/evacuate/run.js';
import { DEFAULT_POLICY } from '../../src/health/policy.js';
import { readCounter } from '../../src/qemu/counter.js';
import { alive, makeHosts, status, type TestHosts } from './hosts.js';

describe('evacuate with the qmp driver (real QEMU)', () => {
  let hosts: TestHosts;
  before(() => {
    hosts = makeHosts(['host-a', 'host-b']);
  });
  after(() => hosts.cleanup());

  test('two counter guests move live to host-b; a second run finds nothing to do', async () => {
    await hosts.startVm('host-a', 'web-1');
    await hosts.startVm('host-a', 'web-2');
    const a1 = await hosts.control('host-a', 'web-1');
    // Let the count climb so that a restart (back to 0) could not pass for it.
    let before = 0;
    while (before < 10) {
      await new Promise((r) => setTimeout(r, 100));
      before = await readCounter(a1);
    }
    await a1.close();
    const lines: string[] = [];
    const result = await evacuate({
      host: 'host-a',
      inventoryPath: hosts.inventory,
      journalPath: hosts.journal,
      driver: new QmpDriver(),
      policy: DEFAULT_POLICY,
      parallel: 2,
      reason: 'operator',
      out: (l) => lines.push(l),
    });
    assert.equal(result.outcome, 'done', lines.join('\n'));
    assert.deepEqual([...result.completed].sort(), ['web-1', 'web-2']);

    const b1 = await hosts.control('host-b', 'web-1');
    assert.equal(await status(b1), 'running');
    const after1 = await readCounter(b1);
    assert.ok(after1 >= before, `counter went back: ${after1} < ${before}`);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok((await readCounter(b1)) > after1, 'the counter does not advance on host-b');
    // The sources are gone.
    assert.equal(alive(vmFiles(hosts.runDir('host-a'), 'web-1').pid), false);
    assert.equal(alive(vmFiles(hosts.runDir('host-a'), 'web-2').pid), false);

    const inv = JSON.parse(readFileSync(hosts.inventory, 'utf8'));
    assert.deepEqual(Object.keys(inv.hosts['host-a'].vms), []);
    assert.deepEqual(Object.keys(inv.hosts['host-b'].vms).sort(), ['web-1', 'web-2']);
    assert.equal(
      inv.hosts['host-b'].vms['web-1'].qmp,
      `unix:${vmFiles(hosts.runDir('host-b'), 'web-1').qmp}`,
    );

    const journal = Journal.open(hosts.journal);
    const [ev] = journal.evacuations('host-a');
    assert.equal(ev?.state, 'done');
    const steps = journal.steps(ev!.id);
    assert.deepEqual(
      steps.map((s) => [s.vm, s.dest, s.state]),
      [
        ['web-1', 'host-b', 'completed'],
        ['web-2', 'host-b', 'completed'],
      ],
    );
    assert.match(steps[0]!.detail, /^migrated to host-b in \d+ ms, downtime \d+ ms$/);
    const states = journal
      .entries(ev!.id)
      .filter((e) => e.vm === 'web-1')
      .map((e) => e.state);
    assert.deepEqual(
      states.filter((s) => s !== 'note'),
      ['planned', 'started', 'completed'],
    );
    journal.close();

    const again = await evacuate({
      host: 'host-a',
      inventoryPath: hosts.inventory,
      journalPath: hosts.journal,
      driver: new QmpDriver(),
      policy: DEFAULT_POLICY,
      parallel: 2,
      reason: 'operator',
      out: () => {},
    });
    assert.equal(again.outcome, 'nothing-to-do');
    assert.equal(await status(b1), 'running');
  });

  test("a destination QEMU that cannot start: failed with QEMU's own words, the VM stays on host-a", async () => {
    await hosts.startVm('host-a', 'db-1');
    // Same arguments but one QEMU refuses: the destination gets them, the running source did not.
    const inv = JSON.parse(readFileSync(hosts.inventory, 'utf8'));
    inv.hosts['host-a'].vms['db-1'].qemu.push('-no-such-option');
    writeFileSync(hosts.inventory, JSON.stringify(inv));
    const lines: string[] = [];
    const result = await evacuate({
      host: 'host-a',
      inventoryPath: hosts.inventory,
      journalPath: hosts.journal,
      driver: new QmpDriver(),
      policy: DEFAULT_POLICY,
      parallel: 1,
      reason: 'operator',
      out: (l) => lines.push(l),
    });
    assert.equal(result.outcome, 'incomplete', lines.join('\n'));
    assert.match(
      result.failed[0]?.detail ?? '',
      /^the destination QEMU ended while starting \(exit 1: .*-no-such-option.*\); the VM runs on its source \[runs on: source\]$/,
    );
    const a = await hosts.control('host-a', 'db-1');
    assert.equal(await status(a), 'running');
    assert.deepEqual(result.left, ['db-1']);
  });
});
