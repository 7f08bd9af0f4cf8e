/**
 * The libvirt domain for our boot-sector guests: what launch.ts starts as a
 * plain QEMU, as libvirt's XML (`<domain type='qemu'>`: TCG, machine `pc`,
 * 64 MiB, the boot sector on a raw floppy, no balloon). Used by the demo's
 * libvirt part and the libvirt tests.
 */
export interface DomainOptions {
  /** Extra QEMU arguments (`<qemu:commandline>`), e.g. a second QMP monitor. */
  readonly qemuArgs?: readonly string[];
  readonly uuid?: string;
  /** A read-only floppy: libvirt live-migrates only disks it may call safe. */
  readonly readonlyDisk?: boolean;
}

export function domainXml(name: string, image: string, options: DomainOptions = {}): string {
  const qemuArgs = options.qemuArgs ?? [];
  const extra =
    qemuArgs.length === 0
      ? ''
      : `  <qemu:commandline>\n${qemuArgs.map((a) => `    <qemu:arg value='${escapeXml(a)}'/>`).join('\n')}\n  </qemu:commandline>\n`;
  const uuid = options.uuid === undefined ? '' : `  <uuid>${escapeXml(options.uuid)}</uuid>\n`;
  const readonly = options.readonlyDisk ? '      <readonly/>\n' : '';
  return `<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>${escapeXml(name)}</name>
${uuid}  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='fd'/></os>
  <devices>
    <disk type='file' device='floppy'>
      <driver name='qemu' type='raw'/>
      <source file='${escapeXml(image)}'/>
      <target dev='fda' bus='fdc'/>
${readonly}    </disk>
    <memballoon model='none'/>
  </devices>
${extra}</domain>
`;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&apos;');
}
