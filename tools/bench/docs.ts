// Writing benchmark results into docs/benchmarks.md: replaces only the text between the
// `<!-- bench:begin -->` and `<!-- bench:end -->` markers, plus the machine description.
// Never touches anything outside the markers; creates the file (or appends the section) if absent.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, type as osType } from 'node:os';
import { dirname } from 'node:path';

export const BEGIN_MARKER = '<!-- bench:begin -->';
export const END_MARKER = '<!-- bench:end -->';

export interface Machine {
  readonly cpuModel: string;
  readonly cores: number;
  readonly os: string;
  readonly node: string;
  readonly redis: string;
  /** `etcd --version` of /usr/bin/etcd, or 'not installed'. */
  readonly etcd: string;
  readonly date: string;
  /** 1-minute load average when the run started: other work on the machine skews every row. */
  readonly load1: number;
}

export function describeMachine(now: Date = new Date()): Machine {
  const cs = cpus();
  const rv = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  const m = /v=(\S+)/.exec(rv.stdout ?? '');
  const ev = spawnSync('/usr/bin/etcd', ['--version'], { encoding: 'utf8' });
  const e = /etcd Version: (\S+)/.exec(ev.stdout ?? '');
  return {
    cpuModel: cs[0]?.model.trim() ?? 'unknown',
    cores: cs.length,
    os: `${osType()} ${release()}`,
    node: process.version,
    redis: m?.[1] ?? 'not installed',
    etcd: e?.[1] ?? 'not installed',
    date: now.toISOString(),
    load1: loadavg()[0] ?? 0,
  };
}

export type SpliceResult = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly error: string };

/** `file` with the marked section's body replaced by `body` (markers kept, rest untouched). */
export function spliceSection(file: string, body: string): SpliceResult {
  const section = `${BEGIN_MARKER}\n${body.trimEnd()}\n${END_MARKER}`;
  const b = file.indexOf(BEGIN_MARKER);
  const e = file.indexOf(END_MARKER);
  if (b < 0 && e < 0) return { ok: true, text: (file === '' ? '# Benchmarks\n' : file.trimEnd() + '\n') + '\n' + section + '\n' };
  if (b < 0 || e < 0 || e < b) return { ok: false, error: `unbalanced ${BEGIN_MARKER} / ${END_MARKER} markers` };
  if (file.indexOf(BEGIN_MARKER, b + 1) >= 0) return { ok: false, error: `more than one ${BEGIN_MARKER} marker` };
  return { ok: true, text: file.slice(0, b) + section + file.slice(e + END_MARKER.length) };
}

export function writeSection(path: string, body: string): SpliceResult {
  const before = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const r = spliceSection(before, body);
  if (!r.ok) return r;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, r.text);
  return r;
}
