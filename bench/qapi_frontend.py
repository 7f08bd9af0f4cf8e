"""Peer of bench/qapi-frontend.mjs: times QEMU 7.2's parser.py and expr.py
(the fetched scripts/qapi) on one schema, in this fresh process.

Usage: python3 bench/qapi_frontend.py QEMU_SCRIPTS_DIR SCHEMA_FILE
Prints JSON {"parseMs": ..., "checkMs": ...} (wall time inside the process).
"""
import json
import sys
import time

sys.path.insert(0, sys.argv[1])

from qapi.expr import check_exprs  # noqa: E402
from qapi.parser import QAPISchemaParser  # noqa: E402

t0 = time.perf_counter()
parser = QAPISchemaParser(sys.argv[2])
t1 = time.perf_counter()
check_exprs(parser.exprs)
t2 = time.perf_counter()
print(json.dumps({'parseMs': (t1 - t0) * 1000, 'checkMs': (t2 - t1) * 1000}))
