// The compiled src/ has no runtime import cycle (a cycle works only by load order: a module
// may run before what it imports is initialised). Also tests the graph reader and the cycle
// finder (test/helpers/import-graph.ts) on synthetic graphs, so a broken finder cannot pass.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findCycles, importGraphOf, staticImports, type ImportGraph } from './helpers/import-graph.js';
import { tempDir } from './helpers/procs.js';

/** dist/src, next to this compiled test's dist/test. */
const COMPILED_SRC = fileURLToPath(new URL('../src/', import.meta.url));
/** The TypeScript sources, to leave out compiler output whose source was deleted or moved. */
const SOURCE_SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function graph(edges: Record<string, string[]>): ImportGraph {
  return new Map(Object.entries(edges));
}

test('staticImports reads every static import and re-export form, and skips type-only and dynamic imports', () => {
  const text = [
    "import assert from 'node:assert';",
    "import { a, b as c } from './a.js';",
    'import {',
    '  d,',
    '  e,',
    "} from '../d.js';",
    "import * as ns from './ns.js';",
    "import def, { f } from \"./def.js\";",
    "import './side-effect.js';",
    "export { g } from './g.js';",
    "export * from './star.js';",
    "export * as starNs from './star-ns.js';",
    "import type { T } from './type-only.js';",
    "export type { U } from './type-export.js';",
    "const lazy = await import('./dynamic.js');",
    "  import('./dynamic2.js');",
    "export const notAnImport = './x.js';",
    "// import { h } from './commented.js';",
    " * import { i } from './doc-comment.js';",
    'export function from() {}',
  ].join('\n');
  assert.deepEqual(staticImports(text), [
    'node:assert', './a.js', '../d.js', './ns.js', './def.js', './side-effect.js', './g.js', './star.js', './star-ns.js',
  ]);
});

test('findCycles: none in a DAG, one per strongly connected component otherwise, as real edge paths', () => {
  assert.deepEqual(findCycles(graph({ a: ['b', 'c'], b: ['c'], c: [], d: ['a'] })), []);
  assert.deepEqual(findCycles(graph({ a: ['b'], b: ['a'] })), [['a', 'b', 'a']]);
  assert.deepEqual(findCycles(graph({ a: ['a'] })), [['a', 'a']]);
  // Edges to modules outside the graph (packages) are leaves.
  assert.deepEqual(findCycles(graph({ a: ['node:fs', 'b'], b: ['pkg'] })), []);
  const found = findCycles(graph({ d: ['a'], a: ['b'], b: ['c'], c: ['a', 'x'], x: ['y'], y: ['x'], z: ['d'] }));
  assert.deepEqual(found, [['a', 'b', 'c', 'a'], ['x', 'y', 'x']]);
  // The reported path is a shortest one through the component's first module.
  assert.deepEqual(findCycles(graph({ a: ['b', 'e'], b: ['c'], c: ['d'], d: ['a'], e: ['a'] })), [['a', 'e', 'a']]);
  // A long chain closing on itself: no recursion limit.
  const long: Record<string, string[]> = {};
  const N = 50_000;
  const name = (i: number): string => `m${String(i).padStart(6, '0')}`;
  for (let i = 0; i < N; i++) long[name(i)] = [name((i + 1) % N)];
  const cycles = findCycles(graph(long));
  assert.equal(cycles.length, 1);
  assert.equal(cycles[0]?.length, N + 1);
});

test('importGraphOf resolves relative specifiers between files, and the cycle is found through them', () => {
  const root = tempDir('kvts-imports-');
  try {
    const files: Record<string, string> = {
      'server/table.js': "import { admin } from './commands/admin.js';\nexport const t = [admin];\n",
      'server/commands/admin.js': "import { t } from '../table.js';\nimport type { X } from '../types.js';\nexport const admin = () => t;\n",
      'server/types.js': "export {};\n",
      'index.js': "import { t } from './server/table.js';\nimport pino from 'pino';\nexport { t };\n",
      'stale.js': "import './index.js';\nimport './stale.js';\n",
    };
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    const g = importGraphOf(root, (m) => m !== 'stale.js');
    assert.deepEqual([...g.keys()].sort(), ['index.js', 'server/commands/admin.js', 'server/table.js', 'server/types.js']);
    assert.deepEqual(g.get('index.js'), ['server/table.js'], 'packages are not modules of the graph');
    assert.deepEqual(findCycles(g), [['server/commands/admin.js', 'server/table.js', 'server/commands/admin.js']]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the compiled src/ has no runtime import cycle', () => {
  const g = importGraphOf(COMPILED_SRC, (m) => existsSync(join(SOURCE_SRC, m.replace(/\.js$/, '.ts'))));
  // Guards against a reader that finds nothing: the server must be seen importing its table.
  assert.ok(g.size > 50, `only ${g.size} modules under ${COMPILED_SRC}`);
  assert.ok(g.get('server/server.js')?.includes('server/commands/table.js'), 'server/server.js -> server/commands/table.js');
  const cycles = findCycles(g);
  assert.deepEqual(cycles, [], `runtime import cycles in src/:\n${cycles.map((c) => `  ${c.join(' -> ')}`).join('\n')}`);
});
