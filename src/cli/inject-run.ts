import { fromAnyWire } from '../event/dialect.js';
import { explain } from '../event/explain.js';
import { presetFault } from '../hypervisor/faults.js';
import type { GuestFault, HostFault } from '../hypervisor/mca.js';
import { QmpClient } from '../qmp/client.js';
import { type InjectOutcome, InjectError, inject } from '../qemu/inject.js';
import type { InjectOptions } from './inject.js';
import { type Io, UsageError } from './io.js';

const GUEST_FLAGS = ['bank', 'status', 'mcgStatus', 'addr', 'misc'] as const;

/** Build the fault the options describe; a UsageError when they do not describe exactly one. */
export function faultFromOptions(o: InjectOptions): HostFault | GuestFault {
  const guestGiven = GUEST_FLAGS.filter((k) => o[k] !== undefined);
  const kinds = [o.host !== undefined, o.preset !== undefined, guestGiven.length > 0].filter(
    Boolean,
  ).length;
  if (kinds !== 1) {
    throw new UsageError(
      'give exactly one of --host AR|AO, --preset NAME, or --bank/--status/--mcg-status/--addr/--misc',
    );
  }
  const cpu = o.cpu === undefined ? undefined : parseSmall(o.cpu, '--cpu');
  if (o.host !== undefined) {
    if (o.broadcast) throw new UsageError('--broadcast applies to the guest path only');
    return {
      kind: 'host',
      code: o.host.toUpperCase() === 'AR' ? 'AR' : 'AO',
      address: parseU64(o.address ?? '0x1000', '--address'),
      inGuestRam: !o.hypervisorMemory,
      ...(cpu === undefined ? {} : { cpu }),
    };
  }
  if (o.address !== undefined || o.hypervisorMemory) {
    throw new UsageError(
      '--address and --hypervisor-memory apply to --host only (the guest path takes --addr)',
    );
  }
  if (o.preset !== undefined) {
    const f = presetFault(o.preset, cpu ?? 0, parseU64(o.addr ?? '0x1000', '--addr'));
    return o.broadcast ? { ...f, broadcast: true } : f;
  }
  const missing = GUEST_FLAGS.filter((k) => o[k] === undefined);
  if (missing.length > 0) {
    const flag = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    throw new UsageError(`the guest path also needs ${missing.map(flag).join(', ')}`);
  }
  return {
    kind: 'guest',
    cpu: cpu ?? 0,
    bank: parseSmall(o.bank as string, '--bank'),
    status: parseU64(o.status as string, '--status'),
    mcgStatus: parseU64(o.mcgStatus as string, '--mcg-status'),
    addr: parseU64(o.addr as string, '--addr'),
    misc: parseU64(o.misc as string, '--misc'),
    ...(o.broadcast ? { broadcast: true } : {}),
  };
}

export async function runInject(address: string, o: InjectOptions, io: Io): Promise<number> {
  const fault = faultFromOptions(o);
  const settleMs = parseSmall(o.settleMs, '--settle-ms');
  const client = new QmpClient();
  try {
    await client.connect(address);
  } catch (err) {
    io.stderr(`memfail inject: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  let outcome: InjectOutcome;
  try {
    outcome = await inject(client, fault, { settleMs });
  } catch (err) {
    io.stderr(
      `memfail inject: ${err instanceof InjectError || err instanceof Error ? err.message : String(err)}\n`,
    );
    return 1;
  } finally {
    await client.close().catch(() => {});
  }
  if (o.json) io.stdout(`${JSON.stringify(outcome)}\n`);
  else io.stdout(describe(address, outcome));
  return 0;
}

function describe(address: string, r: InjectOutcome): string {
  const lines: string[] = [];
  const cmd =
    r.sent.execute === 'human-monitor-command'
      ? String(r.sent.arguments['command-line'])
      : JSON.stringify(r.sent);
  lines.push(`sent to ${address} (${r.target === 'qemu' ? 'QEMU' : 'memfail simulator'}): ${cmd}`);
  if (r.monitorText)
    lines.push(`monitor: ${r.monitorText.trimEnd().replace(/\n/g, '\n         ')}`);
  const failures = r.events.filter((e) => e.event === 'MEMORY_FAILURE');
  if (failures.length === 0) lines.push('no MEMORY_FAILURE event');
  for (const ev of r.events) {
    lines.push(
      `event ${ev.event}${ev.data && Object.keys(ev.data).length > 0 ? ` ${JSON.stringify(ev.data)}` : ''}`,
    );
    if (ev.event === 'MEMORY_FAILURE') {
      const f = fromAnyWire(ev.data);
      lines.push(
        f.ok
          ? `  ${explain(f.value, { vm: 'vm', timestamp: ev.timestamp })} [${f.value.dialect} dialect]`
          : `  not a valid MEMORY_FAILURE: ${f.error.path}: ${f.error.message}`,
      );
    }
  }
  if (r.vmExited) lines.push('the VM closed the connection (it exited)');
  return `${lines.join('\n')}\n`;
}

/** A 64-bit unsigned number from decimal or 0x hex. */
export function parseU64(text: string, flag: string): bigint {
  if (!/^(0[xX][0-9a-fA-F]+|\d+)$/.test(text))
    throw new UsageError(`${flag}: expected a number (decimal or 0x hex), got '${text}'`);
  const v = BigInt(text);
  if (v > 0xffffffffffffffffn) throw new UsageError(`${flag}: ${text} does not fit in 64 bits`);
  return v;
}

export function parseSmall(text: string, flag: string): number {
  const v = parseU64(text, flag);
  if (v > 0x7fffffffn) throw new UsageError(`${flag}: ${text} is too large`);
  return Number(v);
}
