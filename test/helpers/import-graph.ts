// The runtime import graph of compiled ES modules and the cycles in it. Owns the parsing of
// static `import`/`export ... from` statements and the cycle search; never loads the modules.

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/** Module path (relative, '/'-separated) -> the modules it imports at run time. */
export type ImportGraph = ReadonlyMap<string, readonly string[]>;

/**
 * Static import and re-export statements: `import x from '…'`, `import { a } from '…'`,
 * `import * as n from '…'`, `import '…'`, `export { a } from '…'`, `export * from '…'`.
 * A clause may span lines. Dynamic `import('…')` does not match (the keyword is followed by a
 * parenthesis); `import type` / `export type` are skipped (erased at compile time anyway).
 */
const STATIC_IMPORT = /^[ \t]*(import|export)\s+(?:([^'";]*?)\s*from\s*)?['"]([^'"\n]+)['"]/gm;

/** The specifiers a module's text imports at run time, in order of appearance. */
export function staticImports(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(STATIC_IMPORT)) {
    const keyword = m[1] as string;
    const clause = m[2];
    // `export const x = '…'` has no `from`: only re-exports name another module.
    if (keyword === 'export' && clause === undefined) continue;
    if (clause !== undefined && /^type\s/.test(clause)) continue;
    if (clause !== undefined && clause.startsWith('(')) continue;
    found.push(m[3] as string);
  }
  return found;
}

/** Every `.js` file under `root`, as '/'-separated paths relative to it. */
function jsFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith('.js')) out.push(relative(root, p).split(sep).join('/'));
    }
  };
  walk(root);
  return out.sort();
}

/**
 * The graph of the `.js` modules under `root` (e.g. dist/src), following relative specifiers
 * only (packages and node: builtins are leaves outside it). `keep` filters the modules walked,
 * e.g. to leave out stale compiler output whose source was deleted.
 */
export function importGraphOf(root: string, keep: (module: string) => boolean = () => true): ImportGraph {
  const graph = new Map<string, string[]>();
  for (const file of jsFiles(root).filter(keep)) {
    const abs = join(root, file);
    const targets: string[] = [];
    for (const spec of staticImports(readFileSync(abs, 'utf8'))) {
      if (!spec.startsWith('./') && !spec.startsWith('../')) continue;
      targets.push(relative(root, resolve(dirname(abs), spec)).split(sep).join('/'));
    }
    graph.set(file, targets);
  }
  return graph;
}

/**
 * One cycle per strongly connected component that has one (Tarjan's algorithm, iterative so
 * deep graphs cannot overflow the stack). Each cycle is a path [a, b, …, a] of real edges,
 * starting at its smallest module name, so reports are stable. Edges to modules outside the
 * graph are ignored.
 */
export function findCycles(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  for (const root of [...graph.keys()].sort()) {
    if (index.has(root)) continue;
    // Each frame: a node and how many of its edges have been followed.
    const frames: Array<{ node: string; edge: number }> = [{ node: root, edge: 0 }];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (frames.length > 0) {
      const f = frames[frames.length - 1] as { node: string; edge: number };
      const edges = graph.get(f.node) ?? [];
      if (f.edge < edges.length) {
        const to = edges[f.edge++] as string;
        if (!graph.has(to)) continue;
        if (!index.has(to)) {
          index.set(to, next);
          low.set(to, next++);
          stack.push(to);
          onStack.add(to);
          frames.push({ node: to, edge: 0 });
        } else if (onStack.has(to)) {
          low.set(f.node, Math.min(low.get(f.node) as number, index.get(to) as number));
        }
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent !== undefined) low.set(parent.node, Math.min(low.get(parent.node) as number, low.get(f.node) as number));
      if (low.get(f.node) !== index.get(f.node)) continue;
      const component: string[] = [];
      for (;;) {
        const n = stack.pop() as string;
        onStack.delete(n);
        component.push(n);
        if (n === f.node) break;
      }
      const selfLoop = component.length === 1 && (graph.get(f.node) ?? []).includes(f.node);
      if (component.length > 1 || selfLoop) components.push(component);
    }
  }
  return components.map((c) => cycleWithin(graph, new Set(c))).sort((a, b) => (a[0] as string).localeCompare(b[0] as string));
}

/** A shortest cycle through the component's smallest module, by breadth-first search inside it. */
function cycleWithin(graph: ImportGraph, component: ReadonlySet<string>): string[] {
  const start = [...component].sort()[0] as string;
  const parent = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const n = queue[i] as string;
    for (const to of graph.get(n) ?? []) {
      if (!component.has(to)) continue;
      if (to === start) {
        const path = [start];
        for (let p: string | undefined = n; p !== undefined && p !== start; p = parent.get(p)) path.push(p);
        path.push(start);
        // Built from the end backwards: [start, …, start] reversed reads in edge order.
        return path.reverse();
      }
      if (!parent.has(to)) {
        parent.set(to, n);
        queue.push(to);
      }
    }
  }
  throw new Error(`no cycle through ${start} in its own component (bug in findCycles)`);
}
