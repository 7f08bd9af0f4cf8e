/**
 * How a VM is moved. A driver knows one way to live-migrate (QMP between
 * QEMUs memfail launched; an operator's command; libvirt peer-to-peer) and how to
 * find out, after memfail was killed mid-step, where the VM ended up.
 */
import type { HostSpec, VmSpec } from './inventory.js';

export type DriverName = 'qmp' | 'exec' | 'libvirt';
export const DRIVER_NAMES: readonly DriverName[] = ['qmp', 'exec', 'libvirt'];

export interface MigrationJob {
  readonly vm: string;
  readonly from: string;
  readonly to: string;
  readonly spec: VmSpec;
  readonly source: HostSpec;
  readonly dest: HostSpec;
}

/** Where the VM runs once a step is over. */
export type RunsOn = 'source' | 'destination' | 'nowhere' | 'unknown';

export interface MigrationStats {
  /** QEMU's own figures (query-migrate), when the driver has them. */
  readonly totalMs: number;
  readonly downtimeMs: number;
}

export interface MigrationResult {
  readonly ok: boolean;
  /** What happened, in a sentence: recorded in the journal as the step's detail. */
  readonly detail: string;
  readonly runsOn: RunsOn;
  /** When ok: the VM as it is now described on the destination. */
  readonly spec?: VmSpec;
  readonly stats?: MigrationStats;
}

export type RunningCheck =
  | { readonly running: true }
  | { readonly running: false; readonly why: string };

export interface MigrationDriver {
  readonly name: DriverName;
  /** Whether the VM runs on its source now: one that does not is skipped, with why. */
  check(job: MigrationJob): Promise<RunningCheck>;
  migrate(job: MigrationJob, progress: (note: string) => void): Promise<MigrationResult>;
  /**
   * A step was `started` when memfail stopped: finish it (the migration may
   * have completed without us) or put the VM back on one host.
   */
  recover(job: MigrationJob, progress: (note: string) => void): Promise<MigrationResult>;
}
