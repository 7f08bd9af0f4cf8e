// Runs every side-by-side benchmark in turn with the arguments BENCHMARKS.md
// records, after a build. Each prints its own table; copy them into
// BENCHMARKS.md with the date and the machine's load.
//
//   npm run bench              # all of them (several minutes)
//   npm run bench -- qmp-events validate   # only these
import { spawnSync } from 'node:child_process';

const BENCHES = {
  'qapi-check': ['--runs', '21'],
  'schema-memory': ['--mb', '30'],
  validate: [],
  'qmp-events': ['--events', '300000', '--rounds', '7'],
  'agent-ingest': ['--events', '200000', '--runs', '3'],
  'agent-fleet': ['--vms', '1000'],
  'agent-report': ['--whole'],
  'web-overview': ['--failures', '1000000', '--vms', '10000'],
  evacuate: ['--runs', '7'],
};

const wanted = process.argv.slice(2);
for (const name of wanted) {
  if (!(name in BENCHES)) {
    process.stderr.write(
      `bench: unknown benchmark '${name}' (have: ${Object.keys(BENCHES).join(', ')})\n`,
    );
    process.exit(2);
  }
}
const build = spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
let failed = 0;
for (const [name, args] of Object.entries(BENCHES)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  process.stdout.write(`\n== ${name}: node bench/${name}.mjs ${args.join(' ')}\n`);
  const run = spawnSync(process.execPath, [`bench/${name}.mjs`, ...args], { stdio: 'inherit' });
  if (run.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
