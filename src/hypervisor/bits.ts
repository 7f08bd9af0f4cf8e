/**
 * x86 machine-check architecture bits, named as in the Intel SDM and QEMU's
 * target/i386/cpu.h. Registers are 64-bit, so everything here is a bigint.
 */

const bit = (n: number): bigint => 1n << BigInt(n);

/** A 64-bit register with every bit set: "reporting enabled" for MCG_CTL and MCi_CTL. */
export const ALL_ONES = (1n << 64n) - 1n;
export const U64_MASK = ALL_ONES;

// IA32_MCG_CAP
/** Low byte: number of banks. */
export const MCG_CAP_COUNT_MASK = 0xffn;
/** MCG_CTL register present. */
export const MCG_CTL_P = bit(8);
/** Software error recovery supported (UCR errors: AR/AO, S bit). */
export const MCG_SER_P = bit(24);
/** Local machine check supported. */
export const MCG_LMCE_P = bit(27);

// IA32_MCG_STATUS
/** Restart IP valid: the interrupted program can resume. */
export const MCG_STATUS_RIPV = bit(0);
/** Error IP valid: the IP points at the instruction that hit the error. */
export const MCG_STATUS_EIPV = bit(1);
/** Machine check in progress: a #MC has been raised and not yet handled. */
export const MCG_STATUS_MCIP = bit(2);
/** The machine check was delivered to this logical CPU only. */
export const MCG_STATUS_LMCE = bit(3);

// IA32_MCG_EXT_CTL
/** The guest enabled local machine checks. */
export const MCG_EXT_CTL_LMCE_EN = bit(0);

// IA32_MCi_STATUS
export const MCI_STATUS_VAL = bit(63);
export const MCI_STATUS_OVER = bit(62);
export const MCI_STATUS_UC = bit(61);
export const MCI_STATUS_EN = bit(60);
export const MCI_STATUS_MISCV = bit(59);
export const MCI_STATUS_ADDRV = bit(58);
export const MCI_STATUS_PCC = bit(57);
export const MCI_STATUS_S = bit(56);
export const MCI_STATUS_AR = bit(55);
/** What KVM's SIGBUS path sets for every uncorrected recoverable (UCR) memory error; AR and the MCA code come on top. */
export const MCI_STATUS_UCR =
  MCI_STATUS_VAL |
  MCI_STATUS_UC |
  MCI_STATUS_EN |
  MCI_STATUS_MISCV |
  MCI_STATUS_ADDRV |
  MCI_STATUS_S;

/** CR4.MCE: the OS has enabled machine-check exceptions. */
export const CR4_MCE_BIT = 6;

/** MCA error codes QEMU's KVM path uses: data load (SRAR) and memory scrub (SRAO). */
export const MCA_CODE_SRAR_DATA_LOAD = 0x134n;
export const MCA_CODE_SRAO_SCRUB = 0xc0n;
/** MCi_MISC for a physical address, least significant valid bit 12 (4 KiB page). */
export const MCI_MISC_PHYS_ADDR_4K = (2n << 6n) | 0xcn;
/** The bank QEMU's KVM path reports memory errors in. */
export const HOST_FAULT_BANK = 9;
/** The bank the other vCPUs of a broadcast get. */
export const BROADCAST_BANK = 1;

/** QEMU's default for a vCPU with MCE|MCA: CTL_P | SER_P, 10 banks. */
export const MCE_BANKS_DEFAULT = 10;
export const MCG_CAP_DEFAULT = MCG_CTL_P | MCG_SER_P | BigInt(MCE_BANKS_DEFAULT);

export function has(value: bigint, mask: bigint): boolean {
  return (value & mask) !== 0n;
}

/** `0x` + 16 hex digits, as registers are usually shown. */
export function hex64(value: bigint): string {
  return `0x${(value & U64_MASK).toString(16).padStart(16, '0')}`;
}
