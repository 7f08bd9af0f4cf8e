/**
 * The host page's evacuations come from the evacuation journal, read-only:
 * none while the file holds no journal, every VM step once one exists
 * (newest evacuation first), and `serve --journal` refuses a file that is
 * not there.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.js';
import { Journal } from '../../src/evacuate/journal.js';
import { journalEvacuations } from '../../src/web/evacuations.js';
import { failureAt, minutesAgo, record, tempDir } from './fixtures.js';

test('no journal yet: no evacuation; once written, every step, newest evacuation first', () => {
  const { dir, cleanup } = tempDir('memfail-evac-');
  try {
    const db = join(dir, 'events.db');
    record(db, [failureAt('vm1', minutesAgo(5))]);
    const source = journalEvacuations(db);
    assert.deepEqual(source.evacuations('host-a'), []);

    const journal = Journal.open(db);
    const first = journal.begin('host-a', 'qmp', 'failing: first', [{ vm: 'vm1', dest: 'b' }]);
    journal.setStep(first as number, 'vm1', 'completed', 'migrated');
    journal.finish(first as number, 'done', 'all moved');
    const second = journal.begin('host-a', 'libvirt', 'failing: again', [
      { vm: 'vm2', dest: 'c' },
      { vm: 'vm3', dest: 'c' },
    ]);
    journal.begin('host-z', 'qmp', 'another host', [{ vm: 'z1', dest: 'b' }]);
    journal.close();

    const before = readFileSync(db);
    const steps = source.evacuations('host-a');
    assert.deepEqual(
      steps.map((s) => [s.evacuation, s.vm, s.to, s.state, s.reason]),
      [
        [second, 'vm2', 'c', 'planned', 'failing: again'],
        [second, 'vm3', 'c', 'planned', 'failing: again'],
        [first, 'vm1', 'b', 'completed', 'failing: first'],
      ],
    );
    assert.match(steps[2]!.at, /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual(source.evacuations('nobody'), []);
    assert.ok(readFileSync(db).equals(before), 'reading wrote nothing');
    source.close();
  } finally {
    cleanup();
  }
});

test('serve --journal with a file that is not there: a clear error, exit 1', async () => {
  const { dir, cleanup } = tempDir('memfail-evac-');
  try {
    const db = join(dir, 'events.db');
    record(db, [failureAt('vm1', minutesAgo(5))]);
    let stderr = '';
    const code = await main(
      ['serve', '--db', db, '--journal', join(dir, 'nope.db'), '--listen', '127.0.0.1:0'],
      { stdout: () => {}, stderr: (s) => (stderr += s) },
    );
    assert.equal(code, 1);
    assert.match(stderr, /no evacuation journal at .*nope\.db/);
  } finally {
    cleanup();
  }
});
