/**
 * `memfail inject --libvirt DOMAIN`: the guest path through libvirt. The
 * machine check goes in as HMP `mce` via DOMAIN_MONITOR_COMMAND (what `virsh
 * qemu-monitor-command --hmp` does); QEMU's events for that domain are read
 * back through libvirt's monitor-event stream while it runs, plus `--settle-ms`.
 */
import { explain } from '../event/explain.js';
import { fromAnyWire } from '../event/dialect.js';
import { mceCommandLine } from '../hypervisor/faults.js';
import type { GuestFault } from '../hypervisor/mca.js';
import {
  type DomainRef,
  formatUuid,
  LibvirtClient,
  MONITOR_COMMAND_HMP,
  parseUuid,
  QEMU,
  REMOTE,
} from '../libvirt/index.js';
import { DEFAULT_LIBVIRT_URI, LibvirtUriError, libvirtTarget } from '../agent/libvirt-source.js';
import type { InjectOptions } from './inject.js';
import { faultFromOptions, parseSmall } from './inject-run.js';
import { type Io, UsageError } from './io.js';

interface SeenEvent {
  readonly event: string;
  readonly timestamp: { readonly seconds: number; readonly microseconds: number };
  readonly data: unknown;
}

export async function runInjectLibvirt(domain: string, o: InjectOptions, io: Io): Promise<number> {
  const fault = faultFromOptions(o);
  if (fault.kind !== 'guest') {
    throw new UsageError(
      '--libvirt injects on the guest path (HMP mce); host-side faults (--host) need memfail sim',
    );
  }
  const settleMs = parseSmall(o.settleMs, '--settle-ms');
  let target: ReturnType<typeof libvirtTarget>;
  try {
    target = libvirtTarget(o.connect ?? DEFAULT_LIBVIRT_URI, o.libvirtSocket);
  } catch (err) {
    if (err instanceof LibvirtUriError) throw new UsageError(`--connect: ${err.message}`);
    throw err;
  }
  const client = new LibvirtClient();
  try {
    await client.connect(target.socket, { uri: target.uri });
  } catch (err) {
    io.stderr(`memfail inject: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    return await injectThrough(client, domain, fault, settleMs, o, io);
  } catch (err) {
    io.stderr(`memfail inject: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await client.close();
  }
}

async function injectThrough(
  client: LibvirtClient,
  domain: string,
  fault: GuestFault,
  settleMs: number,
  o: InjectOptions,
  io: Io,
): Promise<number> {
  const dom = await lookup(client, domain);
  const events: SeenEvent[] = [];
  client.on('event', (ev) => {
    if (ev.name !== 'monitorEvent') return;
    let data: unknown;
    try {
      data = ev.body.details === null ? undefined : JSON.parse(ev.body.details);
    } catch {
      data = ev.body.details;
    }
    events.push({
      event: ev.body.event,
      timestamp: { seconds: ev.body.seconds, microseconds: ev.body.micros },
      data,
    });
  });
  await client.call(QEMU.connectDomainMonitorEventRegister, { dom, event: null, flags: 0 });
  const command = mceCommandLine(fault);
  const { result } = await client.call(QEMU.domainMonitorCommand, {
    dom,
    cmd: command,
    flags: MONITOR_COMMAND_HMP,
  });
  await new Promise((r) => setTimeout(r, settleMs));
  const monitorText = result.replace(/\r\n/g, '\n');
  const outcome = {
    domain: { name: dom.name, uuid: formatUuid(dom.uuid) },
    sent: command,
    monitorText: monitorText === '' ? null : monitorText,
    events: [...events],
  };
  if (o.json) {
    io.stdout(`${JSON.stringify(outcome)}\n`);
    return 0;
  }
  const lines = [`sent to ${dom.name} (${outcome.domain.uuid}) through libvirt: ${command}`];
  if (outcome.monitorText) lines.push(`monitor: ${outcome.monitorText.trimEnd()}`);
  if (!events.some((e) => e.event === 'MEMORY_FAILURE')) lines.push('no MEMORY_FAILURE event');
  for (const ev of events) {
    lines.push(`event ${ev.event}${ev.data === undefined ? '' : ` ${JSON.stringify(ev.data)}`}`);
    if (ev.event !== 'MEMORY_FAILURE') continue;
    const f = fromAnyWire(ev.data);
    lines.push(
      f.ok
        ? `  ${explain(f.value, { vm: dom.name, timestamp: ev.timestamp })} [${f.value.dialect} dialect]`
        : `  not a valid MEMORY_FAILURE: ${f.error.path}: ${f.error.message}`,
    );
  }
  io.stdout(`${lines.join('\n')}\n`);
  return 0;
}

/** By name, or by UUID when the argument is one. */
async function lookup(client: LibvirtClient, domain: string): Promise<DomainRef> {
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(domain)) {
    return (await client.call(REMOTE.domainLookupByUuid, { uuid: parseUuid(domain) })).dom;
  }
  return (await client.call(REMOTE.domainLookupByName, { name: domain })).dom;
}
