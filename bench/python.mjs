// Which Python runs the peers. `python3` on PATH may be a version manager's
// shim (pyenv's is a bash script that execs pyenv, ~300 ms per start here),
// which would bill the peer for a wrapper it does not need. The peer runs on
// the interpreter itself: --python PATH (or MEMFAIL_BENCH_PYTHON) when given,
// else the distribution's /usr/bin/python3 (what a Debian QEMU install uses),
// else whatever PATH's python3 reports as sys.executable.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export function peerPython(argv = process.argv) {
  const at = argv.indexOf('--python');
  if (at >= 0) {
    const [, path] = argv.splice(at, 2);
    if (!path) throw new Error('--python needs a path');
    return path;
  }
  if (process.env.MEMFAIL_BENCH_PYTHON) return process.env.MEMFAIL_BENCH_PYTHON;
  if (existsSync('/usr/bin/python3')) return '/usr/bin/python3';
  return execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], {
    encoding: 'utf8',
  }).trim();
}

/** The interpreter's own version line, for the benchmark's header. */
export function pythonVersion(python) {
  return execFileSync(python, ['--version'], { encoding: 'utf8' }).trim();
}
