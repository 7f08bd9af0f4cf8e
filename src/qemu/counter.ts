/**
 * A guest whose state is visibly alive: its boot sector counts timer ticks
 * into a 32-bit word of RAM at COUNTER_ADDRESS (about 18 a second, the
 * BIOS's PIT rate), halting between ticks so it costs the host nothing.
 * Live migration must carry the count on; a restart would begin again at 0.
 *
 *   readCounter(client)   // HMP `xp /1wx 0x7e00` → the current count
 */
import type { QmpClient } from '../qmp/client.js';
import { BOOT_SECTOR_BYTES, LOAD_ADDRESS } from './bootsector.js';
import { hmp } from './guest.js';

/** Just past the boot sector: nothing of SeaBIOS's lives there once it has booted us. */
export const COUNTER_ADDRESS = LOAD_ADDRESS + BOOT_SECTOR_BYTES;

export function counterBootSector(): Buffer {
  const lo = COUNTER_ADDRESS & 0xff;
  const hi = COUNTER_ADDRESS >> 8;
  const code = [
    0x31, 0xc0, //                    00: xor ax, ax
    0x8e, 0xd8, //                    02: mov ds, ax
    0x8e, 0xd0, //                    04: mov ss, ax
    0xbc, 0x00, 0x7c, //              06: mov sp, 0x7c00
    0x66, 0xc7, 0x06, lo, hi, 0, 0, 0, 0, // 09: mov dword [COUNTER], 0
    0xfb, //                          12: sti               the timer wakes hlt
    0xf4, //                          13: hlt
    0x66, 0xff, 0x06, lo, hi, //      14: inc dword [COUNTER]
    0xeb, 0xf8, //                    19: jmp 0x13
  ]; // biome-ignore format: one instruction per line
  const bytes = Buffer.alloc(BOOT_SECTOR_BYTES);
  Buffer.from(code).copy(bytes);
  bytes[510] = 0x55;
  bytes[511] = 0xaa;
  return bytes;
}

export async function readCounter(client: QmpClient): Promise<number> {
  const out = await hmp(client, `xp /1wx ${COUNTER_ADDRESS}`);
  const m = /:\s*0x([0-9a-fA-F]+)/.exec(out);
  if (!m) throw new Error(`unexpected xp output: ${out.trim()}`);
  return Number.parseInt(m[1]!, 16);
}
