/**
 * Boot sectors for real-QEMU tests: 512 bytes of hand-assembled 16-bit
 * real-mode code that SeaBIOS loads at 0000:7C00.
 *
 *   mceBootSector()   // enables machine checks (CR4.MCE), installs a #MC
 *                     // handler that never returns, then halts forever
 *   plainBootSector() // just halts: CR4.MCE stays clear
 *
 * With the MCE guest, a first action-required injection is delivered (#MC,
 * MCG_STATUS.MCIP set; QEMU reports guest/inject) and, because the handler
 * never returns, a second one is recursive (guest/reset). The plain guest gets
 * guest/reset at once. Halting with interrupts off is enough: a machine check
 * wakes a halted vCPU regardless of EFLAGS.IF.
 */

export const BOOT_SECTOR_BYTES = 512;
/** Where the BIOS loads a boot sector. */
export const LOAD_ADDRESS = 0x7c00;

/** Offset of the #MC handler inside the MCE boot sector (its idle loop ends here). */
export const MCE_HANDLER_OFFSET = 0x23;

function sector(code: readonly number[]): Buffer {
  const bytes = Buffer.alloc(BOOT_SECTOR_BYTES);
  Buffer.from(code).copy(bytes);
  bytes[510] = 0x55; // boot signature
  bytes[511] = 0xaa;
  return bytes;
}

export function mceBootSector(): Buffer {
  const handler = LOAD_ADDRESS + MCE_HANDLER_OFFSET;
  const code = [
    0xfa, //                               00: cli                  no timer interrupts needed
    0x31,
    0xc0, //                         01: xor ax, ax
    0x8e,
    0xd8, //                         03: mov ds, ax           IVT lives at 0000:0000
    0x8e,
    0xd0, //                         05: mov ss, ax
    0xbc,
    0x00,
    0x7c, //                   07: mov sp, 0x7c00       stack below the code
    // Vector 18 (#MC) is the IVT entry at 18 * 4 = 0x48: offset, then segment.
    0xc7,
    0x06,
    0x48,
    0x00,
    handler & 0xff,
    handler >> 8, //  0a: mov word [0x48], handler
    0xc7,
    0x06,
    0x4a,
    0x00,
    0x00,
    0x00, // 10: mov word [0x4a], 0   segment 0
    // Only now enable machine checks, so that CR4.MCE set means "ready".
    0x0f,
    0x20,
    0xe0, //                   16: mov eax, cr4         (always 32-bit)
    0x66,
    0x83,
    0xc8,
    0x40, //             19: or eax, 0x40         CR4.MCE is bit 6
    0x0f,
    0x22,
    0xe0, //                   1d: mov cr4, eax
    0xf4, //                               20: hlt                  idle loop
    0xeb,
    0xfd, //                         21: jmp 0x20
    // #MC handler at 0x23: never returns, so MCG_STATUS.MCIP stays set.
    0xfa, //                               23: cli
    0xf4, //                               24: hlt
    0xeb,
    0xfd, //                         25: jmp 0x24
  ];
  return sector(code);
}

const PLAIN_CODE = [
  0xfa, // 00: cli
  0xf4, // 01: hlt                          idle loop
  0xeb,
  0xfd, // 02: jmp 0x01
];

/** The plain boot sector's code is all idle loop: it ends here. */
export const PLAIN_CODE_BYTES = PLAIN_CODE.length;

export function plainBootSector(): Buffer {
  return sector(PLAIN_CODE);
}
