/**
 * QEMU's mapping of QAPI names to C identifiers. Member clashes are judged on
 * these names (two members that map to the same C name collide), so the
 * checked model needs the exact rule, including the reserved-word protection.
 */

const RESERVED = new Set([
  // C89
  'auto',
  'break',
  'case',
  'char',
  'const',
  'continue',
  'default',
  'do',
  'double',
  'else',
  'enum',
  'extern',
  'float',
  'for',
  'goto',
  'if',
  'int',
  'long',
  'register',
  'return',
  'short',
  'signed',
  'sizeof',
  'static',
  'struct',
  'switch',
  'typedef',
  'union',
  'unsigned',
  'void',
  'volatile',
  'while',
  // C99, C11
  'inline',
  'restrict',
  '_Bool',
  '_Complex',
  '_Imaginary',
  '_Alignas',
  '_Alignof',
  '_Atomic',
  '_Generic',
  '_Noreturn',
  '_Static_assert',
  '_Thread_local',
  // GCC extensions
  'asm',
  'typeof',
  // C++ keywords and alternative operator spellings
  'bool',
  'catch',
  'class',
  'const_cast',
  'delete',
  'dynamic_cast',
  'explicit',
  'false',
  'friend',
  'mutable',
  'namespace',
  'new',
  'operator',
  'private',
  'protected',
  'public',
  'reinterpret_cast',
  'static_cast',
  'template',
  'this',
  'throw',
  'true',
  'try',
  'typeid',
  'typename',
  'using',
  'virtual',
  'wchar_t',
  'and',
  'and_eq',
  'bitand',
  'bitor',
  'compl',
  'not',
  'not_eq',
  'or',
  'or_eq',
  'xor',
  'xor_eq',
  // names predefined as macros on common platforms
  'unix',
  'errno',
  'mips',
  'sparc',
  'i386',
  'linux',
]);

/**
 * Map `name` to a C identifier: every character outside [A-Za-z0-9_] becomes
 * '_'; with `protect`, reserved words and names starting with a digit get a
 * `q_` prefix.
 */
export function cName(name: string, protect = true): string {
  const cache = protect ? PROTECTED : UNPROTECTED;
  let mapped = cache.get(name);
  if (mapped === undefined) {
    mapped = name.replace(/[^A-Za-z0-9_]/g, '_');
    if (protect && (RESERVED.has(mapped) || /^[0-9]/.test(mapped))) mapped = `q_${mapped}`;
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(name, mapped);
  }
  return mapped;
}

// Member clash checks ask for the same few thousand names again and again.
const CACHE_LIMIT = 65536;
const PROTECTED = new Map<string, string>();
const UNPROTECTED = new Map<string, string>();
