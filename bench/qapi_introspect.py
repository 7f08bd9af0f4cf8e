"""The peer of `memfail schema introspect` for bench/schema-memory.mjs: QEMU
7.2's own front end (the fetched scripts/qapi) building the checked schema,
then its introspection generator writing qapi-introspect.c/.h (the
query-qmp-schema data QEMU compiles in) into OUT_DIR.

Usage: python3 bench/qapi_introspect.py QEMU_SCRIPTS_DIR SCHEMA_FILE OUT_DIR
"""
import sys

sys.path.insert(0, sys.argv[1])

from qapi.error import QAPIError  # noqa: E402
from qapi.introspect import gen_introspect  # noqa: E402
from qapi.schema import QAPISchema  # noqa: E402

try:
    gen_introspect(QAPISchema(sys.argv[2]), sys.argv[3], '', True)
except QAPIError as err:
    print(err, file=sys.stderr)
    sys.exit(1)
