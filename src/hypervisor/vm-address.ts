/**
 * One listen address for N simulated VMs. With one VM the address is used as
 * given. With several, VM i (from 0) gets:
 *   - the address with `%d` replaced by i, when it contains `%d`;
 *   - unix: the index before the file's extension, or appended:
 *     `unix:/tmp/vm.sock` → `/tmp/vm-0.sock`, `/tmp/vm-1.sock`; `/tmp/qmp` → `/tmp/qmp-0`;
 *   - tcp: port + i (`tcp:127.0.0.1:4444` → 4444, 4445, …); port 0 stays 0
 *     (each VM gets its own free port).
 */
import { parseAddress, type QmpAddress, tcpAddress, unixAddress } from '../qmp/address.js';

export function vmAddress(address: string, index: number, count: number): QmpAddress {
  if (count <= 1) return parseAddress(address.replaceAll('%d', String(index)));
  if (address.includes('%d')) return parseAddress(address.replaceAll('%d', String(index)));
  const parsed = parseAddress(address);
  if (parsed.kind === 'tcp')
    return tcpAddress(parsed.host, parsed.port === 0 ? 0 : parsed.port + index);
  const slash = parsed.path.lastIndexOf('/');
  const dot = parsed.path.lastIndexOf('.');
  const at = dot > slash + 1 ? dot : parsed.path.length;
  return unixAddress(`${parsed.path.slice(0, at)}-${index}${parsed.path.slice(at)}`);
}
