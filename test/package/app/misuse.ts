/**
 * Misuses of the typed API: test/package/pack.test.ts expects this file to
 * fail to type-check, with one error per marked line (never run).
 */
import type { QmpClient, QemuCommands, QemuEvents } from 'memfail/qmp';

export async function misuse(client: QmpClient<QemuCommands, QemuEvents>): Promise<void> {
  await client.execute('query-statuz'); // MISUSE: not a QEMU 7.2 command
  await client.execute('human-monitor-command', { 'command-line': 42 }); // MISUSE: not a string
  const status = await client.execute('query-status');
  const running: string = status.running; // MISUSE: a boolean
  for await (const ev of client.events()) {
    if (ev.event === 'MEMORY_FAILURE') {
      const action: 'hypervisor-fatal' = ev.data.action; // MISUSE: the seed dialect's word
      void action;
    }
  }
  void running;
}
