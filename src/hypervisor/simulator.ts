/**
 * A simulated QEMU 7.2 VM that speaks QMP: enough of QEMU for memory
 * failures. Injections go through the decision model (mca.ts) and come out
 * as MEMORY_FAILURE events in the chosen dialect, followed by what QEMU does
 * next: RESET (or SHUTDOWN and exit with -no-reboot), or exit(1) for a fatal
 * hypervisor failure, always after the events have been flushed to every
 * client.
 *
 *   const vm = new SimulatedVm({ dialect: 'seed', vcpus: 2 });
 *   await vm.listen('unix:/tmp/vm.sock');
 *   const status = await vm.exited; // QEMU's exit status
 *
 * Commands: qmp_capabilities, query-version, query-status, query-qmp-schema,
 * stop, cont, system_reset, system_powerdown, quit, human-monitor-command
 * (`mce`, `info status`) and x-memfail-host-memory-failure (schema/simulator.json).
 *
 * The guest is modelled by a profile, because what happens after a machine
 * check depends on the guest's #MC handler:
 *   linux   sets CR4.MCE at boot; its handler finishes at once (clears
 *           MCG_STATUS.MCIP and the banks it logged), so recursion never arises;
 *   stuck   sets CR4.MCE at boot; its handler never returns (MCIP stays set),
 *           like the boot-sector guest the differential test runs in QEMU;
 *   no-mce  never sets CR4.MCE: every uncorrected error resets it.
 * After a reset the guest boots again at once and sets CR4.MCE as its
 * profile says (real QEMU's guest needs a moment to get there).
 */
import { toWire } from '../event/dialect.js';
import type { Dialect, MemoryFailure } from '../event/model.js';
import type { QmpAddress } from '../qmp/address.js';
import { QmpCommandError } from '../qmp/errors.js';
import type { JsonObject, QmpTimestamp, QmpVersion } from '../qmp/message.js';
import { QmpServer } from '../qmp/server.js';
import {
  onlyKnown,
  optionalBool,
  optionalInt,
  requireEnum,
  requireString,
  requireUint64,
} from './args.js';
import { dialectSchema } from './dialect-schema.js';
import { parseHmp, toMonitorOutput } from './hmp.js';
import { type Decision, decide, type Fault, type HostFault } from './mca.js';
import { guestBooted, initialVm, resetVm, type VmMca } from './state.js';

export type GuestProfile = 'linux' | 'stuck' | 'no-mce';
export const GUEST_PROFILES: readonly GuestProfile[] = ['linux', 'stuck', 'no-mce'];

export type RunStatus = 'running' | 'paused';

export interface SimulatorOptions {
  /** Wire form of MEMORY_FAILURE (default 'qemu'). */
  readonly dialect?: Dialect;
  /** Number of vCPUs (default 1). */
  readonly vcpus?: number;
  readonly guest?: GuestProfile;
  /** QEMU's -no-reboot: a guest reset becomes SHUTDOWN and the process exits 0. */
  readonly noReboot?: boolean;
  readonly version?: QmpVersion;
  readonly clock?: () => QmpTimestamp;
  /** Where QEMU's stderr reports go (error_report / warn_report). */
  readonly log?: (line: string) => void;
  /** How long shutting down waits for clients to take their last events (default 5 s). */
  readonly closeTimeoutMs?: number;
}

export const SIMULATOR_VERSION: QmpVersion = {
  qemu: { major: 7, minor: 2, micro: 0 },
  package: 'memfail simulator',
};

/** What one injection did, for callers that inject without QMP (tests, CLI). */
export interface Injection {
  readonly events: readonly MemoryFailure[];
  readonly decision: Decision;
}

export class SimulatedVm {
  readonly dialect: Dialect;
  readonly guest: GuestProfile;
  readonly server: QmpServer;
  /** Resolves with the exit status once the VM has shut down and flushed its clients. */
  readonly exited: Promise<number>;
  private mca: VmMca;
  private run: RunStatus = 'running';
  private exitStatus: number | null = null;
  private resolveExit: (status: number) => void = () => {};
  private readonly noReboot: boolean;
  private readonly log: (line: string) => void;

  constructor(options: SimulatorOptions = {}) {
    this.dialect = options.dialect ?? 'qemu';
    this.guest = options.guest ?? 'linux';
    this.noReboot = options.noReboot ?? false;
    this.log = options.log ?? (() => {});
    this.mca = initialVm({ vcpus: options.vcpus ?? 1, cr4Mce: this.guest !== 'no-mce' });
    const schema = dialectSchema(this.dialect);
    this.server = new QmpServer({
      version: options.version ?? SIMULATOR_VERSION,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.closeTimeoutMs !== undefined ? { closeTimeoutMs: options.closeTimeoutMs } : {}),
      validateEvent: (ev) => schema.validateEvent(ev.event, ev.data),
    });
    this.exited = new Promise((resolve) => {
      this.resolveExit = resolve;
    });
    this.register(schema.schemaInfo);
  }

  /** The machine-check state now (read-only snapshot). */
  get state(): VmMca {
    return this.mca;
  }

  get status(): RunStatus {
    return this.run;
  }

  /** True once the VM has begun to exit; it accepts nothing more. */
  get exiting(): boolean {
    return this.exitStatus !== null;
  }

  listen(address: QmpAddress | string): Promise<QmpAddress> {
    return this.server.listen(address);
  }

  /**
   * Inject a fault as the QMP commands do: events out, then reset/exit as
   * QEMU would. Throws QmpCommandError (sent to a QMP client as a
   * GenericError) once the VM is exiting.
   */
  inject(fault: Fault): Injection {
    if (this.exiting) throw new QmpCommandError('GenericError', 'the VM is shutting down');
    const decision = decide(this.mca, fault);
    this.apply(decision);
    return { events: decision.events, decision };
  }

  /**
   * Shut down from the host side as QEMU does: SHUTDOWN (guest false) with
   * the reason (`quit` → host-qmp-quit, SIGINT/SIGTERM → host-signal), then
   * exit 0 once clients have it.
   */
  shutdown(reason: 'host-qmp-quit' | 'host-signal'): Promise<number> {
    if (!this.exiting) {
      this.server.emit('SHUTDOWN', { guest: false, reason });
      this.exit(0);
    }
    return this.exited;
  }

  private apply(d: Decision): void {
    this.mca = d.state;
    for (const failure of d.events) {
      const { data, lossy } = toWire(this.dialect, failure);
      if (lossy !== undefined) this.log(`memfail: ${this.dialect} dialect: ${lossy}`);
      this.server.emit('MEMORY_FAILURE', data as unknown as JsonObject);
    }
    for (const line of d.log) this.log(line);
    if (d.exits) {
      this.exit(d.exitStatus ?? 1);
      return;
    }
    if (d.guestEffect === 'reset') {
      if (this.noReboot) {
        this.server.emit('SHUTDOWN', { guest: true, reason: 'guest-reset' });
        this.exit(0);
        return;
      }
      this.server.emit('RESET', { guest: true, reason: 'guest-reset' });
      this.reboot();
    } else if (d.guestEffect === 'injected' && this.guest === 'linux') {
      this.linuxHandlesMachineCheck();
    }
  }

  private reboot(): void {
    this.mca = guestBooted(resetVm(this.mca), this.guest !== 'no-mce');
  }

  /** Linux's #MC handler logs and clears the banks, then clears MCIP. */
  private linuxHandlesMachineCheck(): void {
    this.mca = {
      ...this.mca,
      vcpus: this.mca.vcpus.map((v) => ({
        ...v,
        mcgStatus: 0n,
        banks: v.banks.map((b) => ({ ...b, status: 0n })),
      })),
    };
  }

  /**
   * Exit after the current reply (if any) has been written: the reply is
   * sent when the handler's promise settles, before this callback runs.
   */
  private exit(status: number): void {
    if (this.exitStatus !== null) return;
    this.exitStatus = status;
    setImmediate(() => {
      void this.server.close().then(() => this.resolveExit(status));
    });
  }

  /** Closes the QMP server without an exit status of QEMU's (tests, Ctrl-C). */
  async close(): Promise<void> {
    if (this.exitStatus === null) this.exit(0);
    await this.exited;
  }

  private register(schemaInfo: readonly unknown[]): void {
    this.registerQueries(schemaInfo);
    this.registerRunControl();
    this.registerInjections();
  }

  private registerQueries(schemaInfo: readonly unknown[]): void {
    const s = this.server;
    s.handle('query-status', (args) => {
      onlyKnown(args, []);
      return { status: this.run, singlestep: false, running: this.run === 'running' };
    });
    s.handle('query-qmp-schema', (args) => {
      onlyKnown(args, []);
      return schemaInfo;
    });
  }

  /** stop, cont, reset, power button, quit: what they do to the run state, and their events. */
  private registerRunControl(): void {
    const s = this.server;
    s.handle('stop', (args) => {
      onlyKnown(args, []);
      if (this.run === 'running') {
        this.run = 'paused';
        s.emit('STOP');
      }
      return {};
    });
    s.handle('cont', (args) => {
      onlyKnown(args, []);
      if (this.run === 'paused') {
        this.run = 'running';
        s.emit('RESUME');
      }
      return {};
    });
    s.handle('system_reset', (args) => {
      onlyKnown(args, []);
      s.emit('RESET', { guest: false, reason: 'host-qmp-system-reset' });
      this.reboot();
      return {};
    });
    s.handle('system_powerdown', (args) => {
      onlyKnown(args, []);
      s.emit('POWERDOWN');
      // Only the linux profile has an ACPI driver that acts on the button.
      if (this.guest === 'linux') {
        s.emit('SHUTDOWN', { guest: true, reason: 'guest-shutdown' });
        this.exit(0);
      }
      return {};
    });
    s.handle('quit', (args) => {
      onlyKnown(args, []);
      void this.shutdown('host-qmp-quit');
      return {};
    });
  }

  /** The two ways in for a fault: the monitor's `mce` (guest path) and our host-side command. */
  private registerInjections(): void {
    const s = this.server;
    s.handle('human-monitor-command', (args) => {
      onlyKnown(args, ['command-line', 'cpu-index']);
      const line = requireString(args, 'command-line');
      const cpu = optionalInt(args, 'cpu-index');
      if (cpu !== undefined && (cpu < 0 || cpu >= this.mca.vcpus.length)) {
        throw new QmpCommandError('GenericError', "Parameter 'cpu-index' expects a CPU number");
      }
      return toMonitorOutput(this.hmp(line));
    });
    s.handle('x-memfail-host-memory-failure', (args) => this.hostMemoryFailure(args));
  }

  private hostMemoryFailure(args: JsonObject): Promise<never> | Record<string, never> {
    onlyKnown(args, ['code', 'address', 'guest-ram', 'cpu-index']);
    const code = requireEnum(args, 'code', ['ar', 'ao'] as const);
    const address = requireUint64(args, 'address');
    const guestRam = optionalBool(args, 'guest-ram') ?? true;
    const cpu = optionalInt(args, 'cpu-index') ?? 0;
    if (cpu < 0 || cpu >= this.mca.vcpus.length) {
      throw new QmpCommandError(
        'GenericError',
        `CPU index ${cpu} out of range (0..${this.mca.vcpus.length - 1})`,
      );
    }
    const fault: HostFault = {
      kind: 'host',
      code: code === 'ar' ? 'AR' : 'AO',
      address,
      inGuestRam: guestRam,
      cpu,
    };
    const { decision } = this.inject(fault);
    // QEMU exit(1)s from the signal handler: no reply ever comes.
    if (decision.exits) return new Promise<never>(() => {});
    return {};
  }

  private hmp(line: string): string {
    const parsed = parseHmp(line);
    if (!parsed.ok) return parsed.text;
    const cmd = parsed.command;
    switch (cmd.kind) {
      case 'empty':
        return '';
      case 'info-status':
        return `VM status: ${this.run}\n`;
      case 'mce': {
        const { decision } = this.inject({
          kind: 'guest',
          cpu: cmd.cpu,
          bank: cmd.bank,
          status: cmd.status,
          mcgStatus: cmd.mcgStatus,
          addr: cmd.addr,
          misc: cmd.misc,
          broadcast: cmd.broadcast,
        });
        return decision.monitorText;
      }
    }
  }
}
