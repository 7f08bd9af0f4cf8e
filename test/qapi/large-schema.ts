/**
 * A large valid QAPI schema, made to measure: repeated units of QEMU-style
 * definitions (documented enums, structs with bases, flat unions,
 * alternates, commands, events; optional and array members, `if`
 * conditions, features, '= Heading' free-form blocks) until the text
 * reaches the size asked for. Deterministic, so a memory bound measured on
 * it means the same thing on every run. QEMU 7.2's own front end accepts
 * it (bench/schema-memory.mjs runs both on the same file).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One unit's definitions; `i` makes every name unique. About 3.5 KB. */
function unit(i: number): string {
  const n = `U${i}`;
  const cond = i % 3 === 0 ? `CONFIG_UNIT_${i % 97}` : null;
  const ifKey = cond ? `, 'if': '${cond}'` : '';
  const heading =
    i % 50 === 0
      ? `##\n# = Section ${i}\n#\n# Definitions of units ${i} to ${i + 49}, generated to measure\n# the front end on a large schema.\n##\n\n`
      : '';
  return `${heading}##
# @Mode${n}:
#
# The ways unit ${i} can run.  Each value is described below; the text
# wraps over several lines the way QEMU's own documentation does.
#
# @off: unit ${i} is stopped
#
# @on: unit ${i} runs in the foreground
#
# @background: unit ${i} runs in the background (since 7.1)
#
# @x-turbo: experimental fast path
#
# Features:
# @unstable: Value @x-turbo is experimental.
#
# Since: 7.2
##
{ 'enum': 'Mode${n}',
  'data': [ 'off', 'on', { 'name': 'background'${ifKey} },
            { 'name': 'x-turbo', 'features': [ 'unstable' ] } ] }

##
# @Base${n}:
#
# What every configuration of unit ${i} has.
#
# @mode: how the unit runs
#
# @id: the unit's identifier
#
# Since: 7.2
##
{ 'struct': 'Base${n}',
  'data': { 'mode': 'Mode${n}', 'id': 'str' } }

##
# @Owner${n}:
#
# Who a unit ${i} resource belongs to.
#
# @owner: the owner's name
#
# Since: 7.2
##
{ 'struct': 'Owner${n}', 'data': { 'owner': 'str' } }

##
# @Limits${n}:
#
# Limits of unit ${i}.
#
# @max-bytes: the most bytes it may use
#
# @max-items: how many items it may hold
#
# @labels: free-form labels
#
# @deprecated-knob: an old setting
#
# Features:
# @deprecated: Member @deprecated-knob is deprecated; use @max-items.
#
# Since: 7.2
##
{ 'struct': 'Limits${n}',
  'base': 'Owner${n}',
  'data': { 'max-bytes': 'uint64', '*max-items': 'int32',
            '*labels': [ 'str' ],
            '*deprecated-knob': { 'type': 'bool', 'features': [ 'deprecated' ] } } }

##
# @Fast${n}:
#
# The fast path's settings.
#
# @depth: queue depth
#
# Since: 7.2
##
{ 'struct': 'Fast${n}', 'data': { 'depth': 'uint16' } }

##
# @Config${n}:
#
# A configuration of unit ${i}, by mode.
#
# Since: 7.2
##
{ 'union': 'Config${n}',
  'base': 'Base${n}',
  'discriminator': 'mode',
  'data': { 'on': 'Limits${n}', 'background': { 'type': 'Limits${n}'${ifKey} },
            'x-turbo': 'Fast${n}' } }

##
# @Target${n}:
#
# A unit ${i} target: its name, or its limits inline.
#
# @name: the target's name
#
# @limits: the target's limits
#
# Since: 7.2
##
{ 'alternate': 'Target${n}',
  'data': { 'name': 'str', 'limits': 'Limits${n}' } }

##
# @query-unit-${i}:
#
# Returns the configuration of unit ${i}.
#
# @target: which target to ask about
#
# @verbose: include details
#
# Returns: the configuration
#
# Since: 7.2
#
# Example:
#
# -> { "execute": "query-unit-${i}", "arguments": { "target": "a" } }
# <- { "return": { "mode": "off", "id": "a" } }
##
{ 'command': 'query-unit-${i}',
  'data': { 'target': 'Target${n}', '*verbose': 'bool' },
  'returns': 'Config${n}', 'allow-preconfig': true }

##
# @set-unit-${i}:
#
# Configures unit ${i}.
#
# Features:
# @unstable: This command is experimental.
#
# Since: 7.2
##
{ 'command': 'set-unit-${i}', 'data': 'Limits${n}', 'boxed': true,
  'features': [ 'unstable' ]${ifKey} }

##
# @UNIT_${i}_CHANGED:
#
# Emitted when unit ${i} changes mode.
#
# @id: the unit's identifier
#
# @mode: the new mode
#
# @limits: the limits now in force, if any
#
# Since: 7.2
#
# Example:
#
# <- { "event": "UNIT_${i}_CHANGED",
#      "data": { "id": "a", "mode": "on" },
#      "timestamp": { "seconds": 1267020223, "microseconds": 435656 } }
##
{ 'event': 'UNIT_${i}_CHANGED',
  'data': { 'id': 'str', 'mode': 'Mode${n}', '*limits': [ 'Limits${n}' ] } }

`;
}

const HEADER =
  "# -*- Mode: Python -*-\n# vim: filetype=python\n\n{ 'pragma': { 'doc-required': true } }\n\n";

/** Schema text of at least `bytes` bytes (ASCII, so bytes = characters), units from `first`. */
export function largeSchemaText(bytes: number, first = 0): string {
  const parts: string[] = [];
  let size = 0;
  for (let i = first; size < bytes; i++) {
    const text = unit(i);
    parts.push(text);
    size += text.length;
  }
  return parts.join('');
}

/**
 * Writes a schema of about `bytes` bytes into `dir`: `main.json` holding a
 * pragma and, when `modules` > 1, including that many module files that
 * share the bytes. Returns the main file's path.
 */
export function writeLargeSchema(dir: string, bytes: number, modules = 1): string {
  const main = join(dir, 'main.json');
  if (modules <= 1) {
    writeFileSync(main, HEADER + largeSchemaText(bytes));
    return main;
  }
  const per = Math.ceil(bytes / modules);
  const includes: string[] = [];
  let first = 0;
  for (let m = 0; m < modules; m++) {
    const name = `module-${m}.json`;
    const text = largeSchemaText(per, first);
    first += text.split("{ 'event'").length - 1; // one event per unit
    writeFileSync(join(dir, name), `##\n# = Module ${m}\n##\n\n${text}`);
    includes.push(`{ 'include': '${name}' }\n`);
  }
  writeFileSync(main, HEADER + includes.join(''));
  return main;
}
