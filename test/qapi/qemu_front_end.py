"""Run QEMU's own QAPI front end (the fetched scripts/qapi) on a schema.

Usage: qemu_front_end.py QEMU_SRC entities|dump|batch SCHEMA...
  entities: JSON list of [kind, name, module] for every entity, in QEMU's order
  dump:     test-qapi.py's visitor dump (the format of the corpus .out files)
  batch:    for each SCHEMA, JSON {"error": str(error) or null, "dump": dump or
            null, "crash": exception type name or null}
"""
import contextlib
import importlib.util
import io
import json
import os
import sys

qemu_src, mode, schema_file = sys.argv[1:4]
schema_files = sys.argv[3:]
sys.path.insert(0, os.path.join(qemu_src, 'scripts'))

from qapi.error import QAPIError  # noqa: E402
from qapi.schema import QAPISchema, QAPISchemaInclude  # noqa: E402

if mode == 'entities':
    schema = QAPISchema(schema_file)
    rows = []
    for ent in schema._entity_list:
        if isinstance(ent, QAPISchemaInclude):
            rows.append(['include', ent._sub_module.name, ent._module.name])
        else:
            rows.append([ent.meta, ent.name, ent._module.name])
    json.dump(rows, sys.stdout)
elif mode in ('dump', 'batch'):
    path = os.path.join(qemu_src, 'tests', 'qapi-schema', 'test-qapi.py')
    spec = importlib.util.spec_from_file_location('test_qapi', path)
    test_qapi = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test_qapi)
    if mode == 'dump':
        test_qapi.test_frontend(schema_file)
    else:
        results = {}
        for name in schema_files:
            out = io.StringIO()
            result = {'error': None, 'dump': None, 'crash': None}
            try:
                with contextlib.redirect_stdout(out):
                    test_qapi.test_frontend(name)
                result['dump'] = out.getvalue()
            except QAPIError as err:
                result['error'] = str(err)
            except Exception as err:  # QEMU's own bugs (asserts) on odd input
                result['crash'] = type(err).__name__
            results[name] = result
        json.dump(results, sys.stdout)
else:
    sys.exit('unknown mode ' + mode)
