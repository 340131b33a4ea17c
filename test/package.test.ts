// The npm package as a user meets it: what `npm pack` ships, and a tarball installed into an
// empty project: `import 'kv-ts'` and `'kv-ts/client'` work and typecheck against the shipped
// .d.ts, the bin launchers run, and the installed kv-server serves the installed client.
// Uses the build this test run compiled (npm pack --ignore-scripts: no rebuild) and the npm cache.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort, portAccepts, REPO_ROOT, tempDir } from './helpers/procs.js';
import { waitFor } from './helpers/wait.js';

/** One npm or node step; an install from the cache takes seconds, a cold one a little longer. */
const STEP_TIMEOUT_MS = 120_000;

interface PackageJson {
  readonly version: string;
  readonly bin: Record<string, string>;
  readonly exports: Record<string, { readonly types: string; readonly default: string }>;
}
const PKG = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as PackageJson;

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The environment of a user's shell: without the npm_* variables an enclosing `npm test` sets
 * (npm reads npm_config_* as its own config: a nested install must not inherit this package's).
 */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) || /^npm_config_(cache|registry)$/i.test(k)) env[k] = v;
  return { ...env, ...extra };
}

function run(file: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = userEnv()): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: STEP_TIMEOUT_MS });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: out, stderr: err }));
  });
}

async function ok(file: string, args: readonly string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<string> {
  const r = await run(file, args, cwd, env);
  assert.equal(r.code, 0, `${file} ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** `npm pack --json`'s report: the tarball's name and every path in it. */
function packReport(stdout: string): { filename: string; files: string[] } {
  const [report] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
  return { filename: report.filename, files: report.files.map((f) => f.path) };
}

/**
 * A compiled file whose source is gone (a renamed or moved module) is a leftover of an older
 * build in this checkout; `prepack` removes dist/src before a real pack rebuilds it.
 */
function stale(path: string): boolean {
  const m = /^dist\/(src\/.+?)(\.d\.ts|\.js)$/.exec(path);
  return m !== null && !existsSync(join(REPO_ROOT, `${m[1] as string}.ts`));
}

test('npm pack ships the compiled runtime, its types, bin/ and README: no sources, tests, tools or doc generators', async () => {
  const { files } = packReport(await ok('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], REPO_ROOT));
  const shipped = files.filter((f) => !stale(f));
  const allowed = (f: string): boolean => /^dist\/src\/.+\.(js|d\.ts)$/.test(f) || /^bin\/[\w-]+\.js$/.test(f) || ['package.json', 'README.md', 'LICENSE'].includes(f);
  assert.deepEqual(shipped.filter((f) => !allowed(f)), [], 'outside dist/src (js, d.ts), bin/, package.json, README');
  assert.deepEqual(shipped.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), [], 'TypeScript sources');
  const tooling = /(^|\/)(test|tools|docs)\/|\/(suite|suite-rows|suite-docs|compare|chart|docs|topologies|servers|lag|bench\/info|redis-benchmark|etcd-cluster|failover-bench|storage-bench)\.(js|d\.ts)$/;
  assert.deepEqual(shipped.filter((f) => tooling.test(f)), [], 'tests, bench suite or doc generators');
  // Everything package.json points at is in the tarball.
  const targets = [...Object.values(PKG.bin), ...Object.values(PKG.exports).flatMap((e) => [e.types, e.default])].map((p) => p.replace(/^\.\//, ''));
  assert.deepEqual(targets.filter((t) => !shipped.includes(t)), [], 'bin and exports targets missing from the tarball');
  for (const cli of ['kv-server', 'kv-cli', 'kv-bench']) assert.ok(shipped.includes(`dist/src/cli/${cli}.js`), cli);
});

test('a project that installs the tarball imports kv-ts and kv-ts/client, typechecks, and runs the bins', { timeout: 5 * STEP_TIMEOUT_MS }, async () => {
  const tmp = tempDir('kvts-package-');
  let server: ChildProcess | undefined;
  try {
    const { filename } = packReport(await ok('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], REPO_ROOT));
    const app = join(tmp, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'kvts-package-user', version: '1.0.0', private: true, type: 'module' }));
    await ok('npm', ['install', join(tmp, filename), '--prefer-offline', '--no-audit', '--no-fund'], app);
    const installed = join(app, 'node_modules');
    assert.ok(existsSync(join(installed, 'kv-ts', 'dist', 'src', 'index.js')), 'dist/src shipped and installed');
    // Installing needs no compiler, and test-only packages stay out of a user's tree.
    for (const dev of ['typescript', 'ioredis', 'redis']) assert.ok(!existsSync(join(installed, dev)), `${dev} installed with kv-ts`);

    // The embedded store and the client, imported by package name.
    const script = [
      "import { openStore } from 'kv-ts';",
      "import { KvClient, KvError } from 'kv-ts/client';",
      'const s = await openStore({ dir: process.env.KV_DIR, fsync: "always" });',
      "await s.set('greeting', 'hello');",
      "const got = s.get('greeting')?.toString();",
      'await s.close();',
      'console.log(JSON.stringify({ got, connect: typeof KvClient.connect, error: typeof KvError }));',
    ].join('\n');
    const imported = await ok(process.execPath, ['--input-type=module', '-e', script], app, userEnv({ KV_DIR: join(tmp, 'embedded') }));
    assert.deepEqual(JSON.parse(imported), { got: 'hello', connect: 'function', error: 'function' });

    // The shipped .d.ts resolve through "exports" and carry real types (a wrong call is an error).
    writeFileSync(
      join(app, 'check.ts'),
      [
        "import { openStore } from 'kv-ts';",
        "import { KvClient, type KvClientOptions } from 'kv-ts/client';",
        "const options: KvClientOptions = { seeds: ['127.0.0.1:4000'] };",
        "export const store = openStore({ dir: './data' });",
        'export const connect = (): Promise<KvClient> => KvClient.connect(options);',
        '// @ts-expect-error dir must be a string',
        'export const wrong = openStore({ dir: 1 });',
        '',
      ].join('\n'),
    );
    const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const types = join(REPO_ROOT, 'node_modules', '@types');
    await ok(process.execPath, [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', '--typeRoots', types, 'check.ts'], app);

    // The bin launchers, as npx and npm scripts find them.
    assert.equal(await ok('npx', ['kv-server', '--version'], app), `kv-server ${PKG.version}\n`);
    assert.match(await ok(join(installed, '.bin', 'kv-cli'), ['--help'], app), /^Usage: kv-cli/);
    assert.match(await ok(join(installed, '.bin', 'kv-bench'), ['--help'], app), /^Usage: kv-bench/);

    // The installed server serves the installed client.
    const port = await freePort();
    const srv = spawn(join(installed, '.bin', 'kv-server'), ['--port', String(port), '--host', '127.0.0.1', '--dir', join(tmp, 'server'), '--log-level', 'warn'], {
      cwd: app,
      env: userEnv(),
      stdio: 'ignore',
    });
    server = srv;
    await waitFor(`installed kv-server on ${port}`, async () => {
      if (srv.exitCode !== null) throw new Error(`kv-server exited ${srv.exitCode}`);
      return portAccepts(port);
    });
    const client = [
      "import { KvClient } from 'kv-ts/client';",
      'const kv = await KvClient.connect({ seeds: [process.env.KV_SEED] });',
      "await kv.set('via', 'server');",
      "console.log(await kv.get('via'));",
      'await kv.close();',
    ].join('\n');
    assert.equal(await ok(process.execPath, ['--input-type=module', '-e', client], app, userEnv({ KV_SEED: `127.0.0.1:${port}` })), 'server\n');
  } finally {
    if (server !== undefined && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((resolve) => server?.once('exit', resolve));
      server.kill('SIGKILL');
      await exited;
    }
    rmSync(tmp, { recursive: true, force: true });
  }
});
