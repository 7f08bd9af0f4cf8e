/**
 * A guest whose state is visibly alive: its boot sector counts timer ticks
 * into a 32-bit word of RAM at COUNTER_ADDRESS (about 18 a second, the
 * BIOS's PIT rate), halting between ticks so it costs the host nothing.
 * Live migration must carry the count on; a restart would begin again at 0.
 * It enables machine checks and handles each one (clears MCG_STATUS.MCIP and
 * returns), so every action-required injection is (guest, inject) and the
 * guest keeps counting: failures can pile up on it as on a real host.
 *
 *   readCounter(client)   // HMP `xp /1wx 0x7e00` → the current count
 */
import type { QmpClient } from '../qmp/client.js';
import { BOOT_SECTOR_BYTES, LOAD_ADDRESS } from './bootsector.js';
import { hmp } from './guest.js';

/** Just past the boot sector: nothing of SeaBIOS's lives there once it has booted us. */
export const COUNTER_ADDRESS = LOAD_ADDRESS + BOOT_SECTOR_BYTES;

/** Offset of the #MC handler: it clears MCG_STATUS (so the next machine check is not recursive) and returns. */
export const COUNTER_MC_HANDLER_OFFSET = 0x31;

export function counterBootSector(): Buffer {
  const lo = COUNTER_ADDRESS & 0xff;
  const hi = COUNTER_ADDRESS >> 8;
  const handler = LOAD_ADDRESS + COUNTER_MC_HANDLER_OFFSET;
  const code = [
    0x31, 0xc0, //                    00: xor ax, ax
    0x8e, 0xd8, //                    02: mov ds, ax
    0x8e, 0xd0, //                    04: mov ss, ax
    0xbc, 0x00, 0x7c, //              06: mov sp, 0x7c00
    0x66, 0xc7, 0x06, lo, hi, 0, 0, 0, 0, // 09: mov dword [COUNTER], 0
    0xc7, 0x06, 0x48, 0x00, handler & 0xff, handler >> 8, // 12: mov word [0x48], handler (#MC, vector 18)
    0xc7, 0x06, 0x4a, 0x00, 0x00, 0x00, // 18: mov word [0x4a], 0
    0x0f, 0x20, 0xe0, //              1e: mov eax, cr4
    0x66, 0x83, 0xc8, 0x40, //        21: or eax, 0x40      CR4.MCE: survive injections
    0x0f, 0x22, 0xe0, //              25: mov cr4, eax
    0xfb, //                          28: sti               the timer wakes hlt
    0xf4, //                          29: hlt
    0x66, 0xff, 0x06, lo, hi, //      2a: inc dword [COUNTER]
    0xeb, 0xf8, //                    2f: jmp 0x29
    // #MC handler at 0x31: MCG_STATUS (MSR 0x17a) = 0, then back to counting.
    0x66, 0x50, //                    31: push eax
    0x66, 0x51, //                    33: push ecx
    0x66, 0x52, //                    35: push edx
    0x66, 0x31, 0xc0, //              37: xor eax, eax
    0x66, 0x31, 0xd2, //              3a: xor edx, edx
    0x66, 0xb9, 0x7a, 0x01, 0x00, 0x00, // 3d: mov ecx, 0x17a
    0x0f, 0x30, //                    43: wrmsr
    0x66, 0x5a, //                    45: pop edx
    0x66, 0x59, //                    47: pop ecx
    0x66, 0x58, //                    49: pop eax
    0xcf, //                          4b: iret
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
