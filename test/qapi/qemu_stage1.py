"""Run QEMU 7.2's parser and expression checker (scripts/qapi) on schema files.

Usage: qemu_stage1.py QEMU_SRC DIR [FILE...]
Prints JSON {file: result} for each FILE (default: every *.json) in DIR, where result is
{"ok": true, "exprs": [...], "docs": [...]} (normalized expressions and doc
blocks as [symbol, body, [[arg, text]], [[feature, text]], [[section, text]]]),
{"ok": false, "err": str(error)} for a QAPIError, or {"crash": type} when
QEMU's own code fails on odd input.
"""
import json
import os
import sys

qemu_src, case_dir = sys.argv[1:3]
chosen = sys.argv[3:]
sys.path.insert(0, os.path.join(qemu_src, 'scripts'))
sys.setrecursionlimit(10000)

from qapi.error import QAPIError  # noqa: E402
from qapi.expr import check_exprs  # noqa: E402
from qapi.parser import QAPISchemaParser  # noqa: E402


def docs_of(docs):
    return [[d.symbol, d.body.text,
             [[a, s.text] for a, s in d.args.items()],
             [[f, s.text] for f, s in d.features.items()],
             [[s.name, s.text] for s in d.sections]] for d in docs]


results = {}
os.chdir(case_dir)
for name in chosen or sorted(os.listdir('.')):
    if not name.endswith('.json'):
        continue
    try:
        parser = QAPISchemaParser(name)
        exprs = check_exprs(parser.exprs)
        results[name] = {'ok': True, 'exprs': [e['expr'] for e in exprs],
                         'docs': docs_of(parser.docs)}
    except QAPIError as err:
        results[name] = {'ok': False, 'err': str(err)}
    except OSError as err:
        results[name] = {'ok': False, 'err': "can't read schema file '%s': %s" % (name, err.strerror)}
    except Exception as err:  # QEMU's own asserts and crashes on odd input
        results[name] = {'crash': type(err).__name__}
json.dump(results, sys.stdout)
