/**
 * The drill, with real QEMU 7.2 and the real CLI: a counter guest runs on
 * host-a beside another VM; action-required failures injected on host-a's
 * VMs make `memfail watch … --policy FILE --act` judge host-a failing and
 * live-migrate both guests to host-b; the counter read on host-b carries on
 * from where it was on host-a (live state, not a restart), and a
 * MEMORY_FAILURE injected on host-b afterwards is recorded under the same VM.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Store } from '../../src/agent/store.js';
import { Journal } from '../../src/evacuate/journal.js';
import { vmFiles } from '../../src/evacuate/qmp-driver.js';
import { DEFAULT_POLICY_JSON } from '../../src/health/policy.js';
import { readCounter } from '../../src/qemu/counter.js';
import { AR_MCE, injectMce } from '../../src/qemu/guest.js';
import { type Child, memfail, until } from '../agent/child.js';
import { alive, makeHosts, status, type TestHosts } from './hosts.js';

let hosts: TestHosts;
const children: Child[] = [];
before(() => {
  hosts = makeHosts(['host-a', 'host-b']);
});
after(async () => {
  for (const c of children) c.process.kill('SIGKILL');
  await Promise.all(children.map((c) => c.exited));
  await hosts.cleanup();
});

function failuresIn(db: string, vm?: string): number {
  const store = Store.open(db, { mustExist: true });
  try {
    return store.countFailures(vm === undefined ? {} : { vm });
  } finally {
    store.close();
  }
}

function connected(db: string, vm: string): boolean {
  const store = Store.open(db, { mustExist: true });
  try {
    return store.lifecycle({ vm }).some((l) => l.event === 'CONNECTED');
  } finally {
    store.close();
  }
}

test('failing host-a is evacuated live to host-b by watch --act', async () => {
  await hosts.startVm('host-a', 'web-1');
  await hosts.startVm('host-a', 'web-2');
  const policy = join(hosts.dir, 'health.json');
  writeFileSync(policy, DEFAULT_POLICY_JSON);
  const a = vmFiles(hosts.runDir('host-a'), 'x').watch.replace('x.watch.qmp', '');
  const watchA = memfail([
    'watch',
    `web-1=unix:${a}web-1.watch.qmp`,
    `web-2=unix:${a}web-2.watch.qmp`,
    '--db', hosts.db('host-a'),
    '--host', 'host-a',
    '--policy', policy,
    '--act',
    '--inventory', hosts.inventory,
    '--journal', hosts.journal,
    '--metrics', '127.0.0.1:0',
  ]); // biome-ignore format: flag and value on one line
  children.push(watchA);
  await until(
    () => connected(hosts.db('host-a'), 'web-1') && connected(hosts.db('host-a'), 'web-2'),
    'the watch to connect to both VMs',
  );
  assert.match(watchA.stderr(), /health: host-a is healthy/);

  const web1 = await hosts.control('host-a', 'web-1');
  const web2 = await hosts.control('host-a', 'web-2');
  await injectMce(web1, AR_MCE);
  await injectMce(web2, AR_MCE);
  await until(() => failuresIn(hosts.db('host-a')) === 2, 'two failures recorded on host-a');
  await until(
    () =>
      /health: (healthy|suspect) → host-a is degraded: 2 action-required failures on 2 VMs in 24 h/.test(
        watchA.stderr(),
      ),
    'the verdict change logged',
  );
  assert.doesNotMatch(watchA.stderr(), /decision/);
  const countOnA = await readCounter(web1);
  assert.ok(countOnA > 0);
  await injectMce(web1, AR_MCE); // the third: 3 action-required on 2 VMs in 24 h

  await until(() => /host-a: evacuated/.test(watchA.stderr()), 'host-a evacuated', 60_000);
  const log = watchA.stderr();
  assert.match(
    log,
    /health: degraded → host-a is failing: 3 action-required failures on 2 VMs in 24 h/,
  );
  assert.match(
    log,
    /health: decision: evacuate host-a, failing: 3 action-required failures on 2 VMs in 24 h/,
  );

  const url = /metrics at (\S+)/.exec(watchA.stderr())?.[1];
  assert.ok(url, 'no metrics address logged');
  const metrics = await (await fetch(url)).text();
  assert.match(metrics, /^memfail_host_health\{host="host-a",state="failing"\} 3$/m);

  const onB = await hosts.control('host-b', 'web-1');
  assert.equal(await status(onB), 'running');
  const countOnB = await readCounter(onB);
  assert.ok(
    countOnB >= countOnA,
    `counter restarted: ${countOnB} on host-b < ${countOnA} on host-a`,
  );
  await new Promise((r) => setTimeout(r, 300));
  assert.ok((await readCounter(onB)) > countOnB, 'the guest does not run on host-b');
  assert.equal(
    alive(vmFiles(hosts.runDir('host-a'), 'web-1').pid),
    false,
    'web-1 still runs on host-a',
  );
  assert.equal(await status(await hosts.control('host-b', 'web-2')), 'running');

  const journal = Journal.open(hosts.journal);
  const [ev] = journal.evacuations('host-a');
  assert.equal(ev?.state, 'done');
  assert.match(ev?.reason ?? '', /^health failing: 3 action-required failures on 2 VMs in 24 h/);
  journal.close();

  // host-b's own agent records the next failure under the same VM.
  const b = vmFiles(hosts.runDir('host-b'), 'web-1').watch;
  const watchB = memfail([
    'watch',
    `web-1=unix:${b}`,
    '--db',
    hosts.db('host-b'),
    '--host',
    'host-b',
  ]);
  children.push(watchB);
  await until(() => connected(hosts.db('host-b'), 'web-1'), 'the watch on host-b to connect');
  await injectMce(onB, AR_MCE);
  await until(
    () => failuresIn(hosts.db('host-b'), 'web-1') === 1,
    'the failure on host-b recorded',
  );
  assert.equal(failuresIn(hosts.db('host-a'), 'web-1'), 2);

  if (process.env.MF_DEBUG) console.log(watchA.stderr());
  watchA.process.kill('SIGTERM');
  watchB.process.kill('SIGTERM');
  assert.equal(await watchA.exited, 0);
  assert.equal(await watchB.exited, 0);
});
