import type { MemoryFailure } from './model.js';

/**
 * Whether QEMU 7.2 can emit this canonical value at all (target/i386):
 * hypervisor failures are never recursive, `fatal` only for AR and `ignore`
 * only for AO; a guest `ignore` is always an AO error that arrived while MCIP
 * was set; guest `inject` and `reset` take any flags (corrected errors are
 * logged whatever MCIP says, and a guest can write MCG_STATUS itself); nothing
 * else pairs a recipient with an action it cannot have.
 */
export function reachableInQemu(f: MemoryFailure): boolean {
  if (f.recipient === 'hypervisor') {
    if (f.recursive) return false;
    if (f.action === 'fatal') return f.actionRequired;
    if (f.action === 'ignore') return !f.actionRequired;
    return false;
  }
  if (f.action === 'ignore') return !f.actionRequired && f.recursive;
  return f.action === 'inject' || f.action === 'reset';
}
