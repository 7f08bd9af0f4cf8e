/**
 * The text report of a whole Report, written out independently of
 * src/agent/report.ts's streaming writer: what `memfail report` must print.
 */
import type { Report, Tally, VmReport } from '../../src/agent/report.js';

export function formatReport(report: Report): string {
  const o = report.overall;
  const lines = [
    `${plural(o.failures, 'memory failure')} on ${plural(o.vms, 'VM')}` +
      (o.firstSeen ? `, ${o.firstSeen} .. ${o.lastSeen}` : ''),
    ...tallyLines(o),
  ];
  for (const vm of report.vms) lines.push(...vmLines(vm));
  return `${lines.join('\n')}\n`;
}

function vmLines(vm: VmReport): string[] {
  return [
    '',
    `${vm.vm}: ${plural(vm.failures, 'memory failure')}` +
      (vm.firstSeen ? `, first ${vm.firstSeen}, last ${vm.lastSeen}` : ''),
    ...tallyLines(vm),
    ...vm.accounts.map((a) => `  ${a.timestamp}  ${a.outcome.padEnd(18)} ${a.explanation}`),
  ];
}

function tallyLines(t: Tally): string[] {
  return [
    `  by recipient: ${counts(t.byRecipient)}`,
    `  by action:    ${counts(t.byAction)}`,
    `  action-required: ${t.actionRequired}, recursive: ${t.recursive}, invalid (stored flagged): ${t.invalid}`,
    `  outcomes:     ${counts(t.byOutcome, true)}`,
  ];
}

function counts(record: Record<string, number>, skipZero = false): string {
  const parts = Object.entries(record)
    .filter(([, n]) => !skipZero || n > 0)
    .map(([k, n]) => `${k} ${n}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
