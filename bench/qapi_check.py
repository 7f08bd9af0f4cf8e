"""The peer of `memfail schema check` for bench/qapi-check.mjs: QEMU 7.2's own
front end (the fetched scripts/qapi) building the checked schema.

Usage: python3 bench/qapi_check.py QEMU_SCRIPTS_DIR SCHEMA_FILE
"""
import sys

sys.path.insert(0, sys.argv[1])

from qapi.error import QAPIError  # noqa: E402
from qapi.schema import QAPISchema  # noqa: E402

try:
    QAPISchema(sys.argv[2])
except QAPIError as err:
    print(err, file=sys.stderr)
    sys.exit(1)
