"""Run QEMU's own QAPI front end (the fetched scripts/qapi) on a schema.

Usage: qemu_front_end.py QEMU_SRC entities|dump SCHEMA
  entities: JSON list of [kind, name, module] for every entity, in QEMU's order
  dump:     test-qapi.py's visitor dump (the format of the corpus .out files)
"""
import importlib.util
import json
import os
import sys

qemu_src, mode, schema_file = sys.argv[1:4]
sys.path.insert(0, os.path.join(qemu_src, 'scripts'))

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
elif mode == 'dump':
    path = os.path.join(qemu_src, 'tests', 'qapi-schema', 'test-qapi.py')
    spec = importlib.util.spec_from_file_location('test_qapi', path)
    test_qapi = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test_qapi)
    test_qapi.test_frontend(schema_file)
else:
    sys.exit('unknown mode ' + mode)
