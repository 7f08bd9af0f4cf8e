"""Run QEMU's own introspection generator (the fetched scripts/qapi) on
schema files and print, as JSON, the SchemaInfo list it would compile into
QEMU, taken before its C rendering: same order, same masks; `if` conditions
dropped (QEMU wraps those entries in #if; we do not evaluate them either).

Usage: qemu_introspect.py QEMU_SRC SCHEMA...
Prints {SCHEMA: {"masked": [...], "unmasked": [...]} or {"error": "..."}}.
"""
import json
import os
import sys

qemu_src = sys.argv[1]
sys.path.insert(0, os.path.join(qemu_src, 'scripts'))

from qapi.error import QAPIError  # noqa: E402
from qapi.introspect import Annotated, QAPISchemaGenIntrospectVisitor  # noqa: E402
from qapi.schema import QAPISchema  # noqa: E402


def plain(value):
    if isinstance(value, Annotated):
        return plain(value.value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


class Capture(QAPISchemaGenIntrospectVisitor):
    result = None

    def visit_end(self):
        # The used-types work queue, as QEMU's visit_end runs it, without the C.
        for typ in self._used_types:
            typ.visit(self)
        self.result = plain(self._trees)


def introspect(schema, unmask):
    capture = Capture('', unmask)
    schema.visit(capture)
    return capture.result


out = {}
for schema_file in sys.argv[2:]:
    try:
        schema = QAPISchema(schema_file)
    except QAPIError as err:
        out[schema_file] = {'error': str(err)}
        continue
    out[schema_file] = {'masked': introspect(schema, False), 'unmasked': introspect(schema, True)}
json.dump(out, sys.stdout)
