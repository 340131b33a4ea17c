// `npm run bench:bigkeys`: the large-keyspace comparison (suite-bigkeys.ts) on its own. Prints
// the table and records it in docs/bigkeys-bench.md; stops its servers also on Ctrl-C. Builds
// and installs nothing.

import { parseFlags } from '../../src/cli/flags.js';
import { runBenchMain, type Stoppable } from './bench-main.js';
import { RATE_PER_SEC_MAX } from '../../src/bench/run.js';
import { haveExecutable, kvServerBuilt, KV_SERVER_JS } from './servers.js';
import { BIGKEYS_BASELINE_SEC_DEFAULT, BIGKEYS_KEYS_DEFAULT, BIGKEYS_RATE_DEFAULT, bigKeysTable, bigKeysVerdict, runBigKeys, writeBigKeysDoc } from './suite-bigkeys.js';

const EXIT_OK = 0;
const EXIT_USAGE = 2;
/** Keys: at least one, at most what the kv-bench key format holds comfortably in memory here. */
const KEYS_MAX = 100_000_000;
const BASELINE_SEC_MAX = 3_600;

const USAGE = `Usage: npm run bench:bigkeys -- [--keys N] [--rate R] [--baseline S] [--no-docs]
  --keys <N>      keys loaded into each server (default ${BIGKEYS_KEYS_DEFAULT})
  --rate <R>      requests/s of the steady GET/SET load (default ${BIGKEYS_RATE_DEFAULT})
  --baseline <S>  seconds of the steady load without a compaction (default ${BIGKEYS_BASELINE_SEC_DEFAULT})
  --no-docs       print only (default: also write docs/bigkeys-bench.md)
`;

const FLAGS = {
  keys: { type: 'string', default: String(BIGKEYS_KEYS_DEFAULT) },
  rate: { type: 'string', default: String(BIGKEYS_RATE_DEFAULT) },
  baseline: { type: 'string', default: String(BIGKEYS_BASELINE_SEC_DEFAULT) },
  'no-docs': { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;

const live = new Set<Stoppable>();

async function main(argv: readonly string[]): Promise<number> {
  const f = parseFlags(argv, FLAGS);
  const fail = (msg: string): number => {
    process.stderr.write(`bench:bigkeys: ${msg} (see --help)\n`);
    return EXIT_USAGE;
  };
  if (!f.ok) return fail(f.error);
  const v = f.values;
  if (v.help) {
    process.stdout.write(USAGE);
    return EXIT_OK;
  }
  const keys = Number(v.keys);
  if (!Number.isInteger(keys) || keys < 1 || keys > KEYS_MAX) return fail(`--keys needs 1..${KEYS_MAX}`);
  const ratePerSec = Number(v.rate);
  if (!(ratePerSec > 0 && ratePerSec <= RATE_PER_SEC_MAX)) return fail(`--rate needs (0, ${RATE_PER_SEC_MAX}]`);
  const baselineSec = Number(v.baseline);
  if (!(baselineSec > 0 && baselineSec <= BASELINE_SEC_MAX)) return fail(`--baseline needs seconds in (0, ${BASELINE_SEC_MAX}]`);
  if (!kvServerBuilt()) return fail(`${KV_SERVER_JS} is missing; run \`npm run build\` first`);
  if (!haveExecutable('redis-server')) return fail('redis-server not found: apt-get install redis-server');
  const r = await runBigKeys({
    keys,
    ratePerSec,
    baselineSec,
    log: (s) => process.stderr.write(s + '\n'),
    own: (x) => live.add(x),
    release: (x) => live.delete(x),
  });
  process.stdout.write(bigKeysTable(r) + '\n\n' + bigKeysVerdict(r) + `\n(the whole run: ${r.totalSec.toFixed(0)} s)\n`);
  if (!v['no-docs']) writeBigKeysDoc(r, `npm run build && npm run bench:bigkeys -- ${argv.join(' ')}`.trim());
  return EXIT_OK;
}


runBenchMain('bench:bigkeys', live, () => main(process.argv.slice(2)));
