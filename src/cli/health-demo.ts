/** `memfail demo --evacuate`: needs real QEMU (live migration between two QEMUs). */
import { runEvacuationDemo } from '../demo/evacuate.js';
import { findQemu, QemuNotFoundError } from '../qemu/launch.js';
import type { Io } from './io.js';

export async function evacuationDemo(io: Io): Promise<number> {
  try {
    findQemu();
  } catch (err) {
    if (!(err instanceof QemuNotFoundError)) throw err;
    io.stderr(`memfail: the evacuation demo live-migrates real guests: ${err.message}\n`);
    return 1;
  }
  const result = await runEvacuationDemo({ out: (t) => io.stdout(t) });
  io.stdout(
    result.ok ? '\nhost-a evacuated live.\n' : '\nthe evacuation did not go as expected.\n',
  );
  return result.ok ? 0 : 1;
}
