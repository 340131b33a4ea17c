// The text side of kv-cli: splitting a typed line into arguments (redis-cli's quoting rules),
// rendering replies byte-for-byte like redis-cli 7 (TTY and raw modes), rendering `help` from
// COMMAND DOCS, and reading redirect targets out of error replies. Pure: no I/O, no sockets.

import type { Reply } from '../client/resp-wire.js';

// ---------------------------------------------------------------------------------------------
// Argument splitting: a port of sdssplitargs() so that lines behave exactly as in redis-cli.

export type SplitResult = { readonly ok: true; readonly args: Buffer[] } | { readonly ok: false; readonly error: string };

/** What redis-cli prints for a line it cannot split. */
export const SPLIT_ERROR = 'Invalid argument(s)';

const isSpace = (c: number | undefined): boolean =>
  c === 32 || c === 9 || c === 10 || c === 11 || c === 12 || c === 13;
const hexVal = (c: number | undefined): number => {
  if (c === undefined) return -1;
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
};

/**
 * Split a line into arguments: blanks separate; "double quotes" understand \n \r \t \b \a \xHH and
 * \<any>; 'single quotes' understand only \'; a closing quote must be followed by a blank or the
 * end. Works on the line's UTF-8 bytes so \xHH can produce any byte.
 */
export function splitArgs(line: string): SplitResult {
  const p = Buffer.from(line, 'utf8');
  const args: Buffer[] = [];
  let i = 0;
  const n = p.length;
  for (;;) {
    while (i < n && isSpace(p[i])) i++;
    if (i >= n) return { ok: true, args };
    const cur: number[] = [];
    let inq = false;
    let insq = false;
    let done = false;
    while (!done) {
      const c = p[i];
      if (inq) {
        if (c === 92 && p[i + 1] === 120 && hexVal(p[i + 2]) >= 0 && hexVal(p[i + 3]) >= 0) {
          cur.push(hexVal(p[i + 2]) * 16 + hexVal(p[i + 3]));
          i += 3;
        } else if (c === 92 && i + 1 < n) {
          i++;
          const e = p[i] as number;
          const map: Record<number, number> = { 110: 10, 114: 13, 116: 9, 98: 8, 97: 7 };
          cur.push(map[e] ?? e);
        } else if (c === 34) {
          if (i + 1 < n && !isSpace(p[i + 1])) return { ok: false, error: SPLIT_ERROR };
          done = true;
        } else if (c === undefined) {
          return { ok: false, error: SPLIT_ERROR };
        } else {
          cur.push(c);
        }
      } else if (insq) {
        if (c === 92 && p[i + 1] === 39) {
          i++;
          cur.push(39);
        } else if (c === 39) {
          if (i + 1 < n && !isSpace(p[i + 1])) return { ok: false, error: SPLIT_ERROR };
          done = true;
        } else if (c === undefined) {
          return { ok: false, error: SPLIT_ERROR };
        } else {
          cur.push(c);
        }
      } else if (c === undefined || c === 32 || c === 10 || c === 13 || c === 9) {
        done = true;
      } else if (c === 34) {
        inq = true;
      } else if (c === 39) {
        insq = true;
      } else {
        cur.push(c);
      }
      if (i < n) i++;
    }
    args.push(Buffer.from(cur));
  }
}

// ---------------------------------------------------------------------------------------------
// Reply rendering. Ports of redis-cli's cliFormatReplyTTY / cliFormatReplyRaw (7.0).

/** redis-cli's sdscatrepr: quoted, C escapes, non-printable bytes as \xHH (lower-case). */
export function repr(b: Buffer): string {
  let s = '"';
  for (const c of b) {
    switch (c) {
      case 92:
        s += '\\\\';
        break;
      case 34:
        s += '\\"';
        break;
      case 10:
        s += '\\n';
        break;
      case 13:
        s += '\\r';
        break;
      case 9:
        s += '\\t';
        break;
      case 7:
        s += '\\a';
        break;
      case 8:
        s += '\\b';
        break;
      default:
        s += c >= 32 && c <= 126 ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
    }
  }
  return s + '"';
}

/** Human format (stdout is a TTY): `"value"`, `(integer) 1`, `(nil)`, `1) ...` nesting. */
export function formatTty(r: Reply, prefix = ''): string {
  switch (r.type) {
    case 'error':
      return `(error) ${r.message}\n`;
    case 'simple':
      return r.value.toString('utf8') + '\n';
    case 'integer':
      return `(integer) ${r.value}\n`;
    case 'double':
      return `(double) ${r.text}\n`;
    case 'bignum':
      return `(big number) ${r.text}\n`;
    case 'bulk':
      return repr(r.value) + '\n';
    case 'verbatim':
      return r.value.toString('utf8') + '\n';
    case 'null':
      return '(nil)\n';
    case 'boolean':
      return r.value ? '(true)\n' : '(false)\n';
    case 'array':
    case 'set':
    case 'push':
    case 'map':
      return formatAggregateTty(r.type, r.items, prefix);
    default: {
      const never: never = r;
      return never;
    }
  }
}

function formatAggregateTty(type: 'array' | 'set' | 'push' | 'map', items: readonly Reply[], prefix: string): string {
  if (items.length === 0) {
    const empty = { array: '(empty array)', map: '(empty hash)', set: '(empty set)', push: '(empty push)' };
    return empty[type] + '\n';
  }
  const isMap = type === 'map';
  const count = isMap ? items.length / 2 : items.length;
  const idxlen = String(count).length;
  // Nested elements are indented by the width of "N) " at this level.
  const childPrefix = prefix + ' '.repeat(idxlen + 2);
  const sep = type === 'set' ? '~' : isMap ? '#' : ')';
  let out = '';
  const step = isMap ? 2 : 1;
  for (let i = 0; i < items.length; i += step) {
    const human = i / step + 1;
    // The first element's prefix was already written by the caller (after its own index).
    out += (i === 0 ? '' : prefix) + String(human).padStart(idxlen, ' ') + sep + ' ';
    out += formatTty(items[i] as Reply, childPrefix);
    if (isMap) {
      out = out.slice(0, -1) + ' => ' + formatTty(items[i + 1] as Reply, childPrefix);
    }
  }
  return out;
}

/** Raw body (stdout is not a TTY): bytes as-is, one element per line, nil as nothing. */
export function formatRawBody(r: Reply): Buffer {
  switch (r.type) {
    case 'null':
      return Buffer.alloc(0);
    case 'error':
      return Buffer.from(r.message + '\n', 'utf8');
    case 'simple':
    case 'bulk':
    case 'verbatim':
      return r.value;
    case 'boolean':
      return Buffer.from(r.value ? '(true)' : '(false)', 'latin1');
    case 'integer':
      return Buffer.from(String(r.value), 'latin1');
    case 'double':
    case 'bignum':
      return Buffer.from(r.text, 'latin1');
    case 'array':
    case 'set':
    case 'push': {
      const parts: Buffer[] = [];
      r.items.forEach((it, i) => {
        if (i > 0) parts.push(NL);
        parts.push(formatRawBody(it));
      });
      return Buffer.concat(parts);
    }
    case 'map': {
      const parts: Buffer[] = [];
      for (let i = 0; i < r.items.length; i += 2) {
        if (i > 0) parts.push(NL);
        parts.push(formatRawBody(r.items[i] as Reply), SPACE, formatRawBody(r.items[i + 1] as Reply));
      }
      return Buffer.concat(parts);
    }
    default: {
      const never: never = r;
      return never;
    }
  }
}

const NL = Buffer.from('\n');
const SPACE = Buffer.from(' ');

/** A whole reply as redis-cli writes it to stdout, in TTY (human) or raw mode. */
export function formatReply(r: Reply, tty: boolean): Buffer {
  if (tty) return Buffer.from(formatTty(r), 'utf8');
  return Buffer.concat([formatRawBody(r), NL]);
}

/**
 * Commands whose replies redis-cli prints raw even on a TTY (their text is meant to be read as
 * is: INFO, CLIENT LIST, ...). The list is redis-cli 7.0's.
 */
export function forcesRawOutput(args: readonly (string | Buffer)[]): boolean {
  const w = args.map((a) => a.toString().toLowerCase());
  const [c, s1] = [w[0], w[1]];
  const n = w.length;
  return (
    c === 'info' ||
    c === 'lolwut' ||
    (c === 'debug' && n >= 2 && (s1 === 'htstats' || s1 === 'htstats-key' || s1 === 'client-eviction')) ||
    (c === 'memory' && n >= 2 && (s1 === 'malloc-stats' || s1 === 'doctor')) ||
    (c === 'cluster' && n === 2 && (s1 === 'nodes' || s1 === 'info')) ||
    (c === 'client' && n >= 2 && (s1 === 'list' || s1 === 'info')) ||
    (c === 'latency' && ((n === 3 && s1 === 'graph') || (n === 2 && s1 === 'doctor'))) ||
    (c === 'proxy' && n >= 2 && s1 === 'info')
  );
}

/**
 * What redis-cli writes for the reply to `args`: the forced-raw commands get the bare raw body
 * (no trailing delimiter, in either mode); everything else formatReply.
 */
export function formatCommandReply(args: readonly (string | Buffer)[], r: Reply, tty: boolean): Buffer {
  if (tty && args.length === 1 && String(args[0]).toLowerCase() === 'topology') {
    const table = formatTopologyTable(r);
    if (table !== undefined) return Buffer.from(table);
  }
  return forcesRawOutput(args) ? formatRawBody(r) : formatReply(r, tty);
}

/** TOPOLOGY columns, in the order kv-cli prints them. */
const TOPOLOGY_COLUMNS = ['id', 'address', 'member', 'role', 'epoch', 'applied', 'lag_ops', 'lag_ms', 'link', 'last_heard_ms'] as const;

/**
 * TOPOLOGY (an array of member maps) as an aligned table with this node marked `*`, then the
 * configuration's line (voters, learners, the seq that set it); undefined when the reply is not
 * that shape (an error, an older server), so the caller prints it as usual.
 */
export function formatTopologyTable(r: Reply): string | undefined {
  if (r.type !== 'array') return undefined;
  const rows: string[][] = [];
  const voters: string[] = [];
  const learners: string[] = [];
  let config = '';
  for (const item of r.items) {
    const m = pairs(item);
    if (!m.has('id')) return undefined;
    const id = text(m.get('id')) ?? '?';
    if (text(m.get('member')) === 'voter') voters.push(id);
    if (text(m.get('member')) === 'learner') learners.push(id);
    const seq = text(m.get('config_seq'));
    const committed = m.get('config_committed');
    if (seq !== undefined) config = `configuration seq ${seq === '0' ? '0 (bootstrap)' : seq}${committed !== undefined && !truthy(committed) ? ', not committed yet' : ''}`;
    const self = m.get('self');
    const mark = self !== undefined && truthy(self) ? '*' : ' ';
    rows.push([mark, ...TOPOLOGY_COLUMNS.map((c) => text(m.get(c)) ?? '-')]);
  }
  const header = [' ', ...TOPOLOGY_COLUMNS];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  const footer = config === '' ? [] : [`${config}: voters ${voters.join(',') || '-'}; learners ${learners.join(',') || '-'}`];
  return [line(header), ...rows.map(line), ...footer].join('\n') + '\n';
}

/** A RESP3 boolean, or RESP2's integer 1. */
function truthy(r: Reply): boolean {
  return (r.type === 'boolean' && r.value) || (r.type === 'integer' && r.value === 1n);
}

// ---------------------------------------------------------------------------------------------
// help <command>, rendered from a COMMAND DOCS reply.

/** Pairs of a flat key/value aggregate (RESP2 array or RESP3 map) as a string-keyed record. */
function pairs(r: Reply | undefined): Map<string, Reply> {
  const m = new Map<string, Reply>();
  if (r === undefined || (r.type !== 'array' && r.type !== 'map')) return m;
  for (let i = 0; i + 1 < r.items.length; i += 2) {
    const k = r.items[i] as Reply;
    if (k.type === 'bulk' || k.type === 'simple') m.set(k.value.toString('utf8'), r.items[i + 1] as Reply);
  }
  return m;
}

function text(r: Reply | undefined): string | undefined {
  if (r === undefined) return undefined;
  if (r.type === 'bulk' || r.type === 'simple' || r.type === 'verbatim') return r.value.toString('utf8');
  if (r.type === 'integer') return String(r.value);
  return undefined;
}

function list(r: Reply | undefined): readonly Reply[] {
  return r !== undefined && (r.type === 'array' || r.type === 'set') ? r.items : [];
}

/** One argument of a command's syntax line, per the COMMAND DOCS argument schema. */
function renderArg(doc: Reply): string {
  const d = pairs(doc);
  const type = text(d.get('type')) ?? 'string';
  const flags = new Set(list(d.get('flags')).map((f) => text(f) ?? ''));
  const token = text(d.get('token'));
  const name = text(d.get('display_text')) ?? text(d.get('name')) ?? '';
  let body: string;
  if (type === 'oneof') {
    body = list(d.get('arguments')).map(renderArg).join(' | ');
  } else if (type === 'block') {
    body = list(d.get('arguments')).map(renderArg).join(' ');
  } else if (type === 'pure-token') {
    body = '';
  } else {
    body = name;
  }
  let s = [token, body].filter((x) => x !== undefined && x !== '').join(' ');
  if (flags.has('multiple_token')) s += ` [${s} ...]`;
  else if (flags.has('multiple')) s += ` [${body} ...]`;
  if (flags.has('optional')) return `[${s}]`;
  if (type === 'oneof') return `<${s}>`;
  return s;
}

function renderDoc(title: string, doc: Reply | undefined): string {
  const d = pairs(doc);
  const args = list(d.get('arguments')).map(renderArg).join(' ');
  const lines = [`  ${title}${args === '' ? '' : ' ' + args}`];
  for (const k of ['summary', 'since', 'group', 'complexity']) {
    const v = text(d.get(k));
    if (v !== undefined) lines.push(`  ${k}: ${v}`);
  }
  return '\n' + lines.join('\n') + '\n\n';
}

/**
 * `help <command> [subcommand]` text from the reply to COMMAND DOCS <command>, like redis-cli's:
 * a blank line, the syntax, then summary/since/group. Undefined when the server has no docs.
 */
export function formatHelp(command: string, docs: Reply, subcommand?: string): string | undefined {
  const top = list(docs.type === 'map' ? { type: 'array', items: docs.items } : docs);
  for (let i = 0; i + 1 < top.length; i += 2) {
    const name = text(top[i]);
    if (name === undefined || name.toLowerCase() !== command.toLowerCase()) continue;
    if (subcommand === undefined) return renderDoc(name.toUpperCase(), top[i + 1]);
    // Subcommands are documented inside their container, keyed "container|sub".
    const subs = pairs(pairs(top[i + 1]).get('subcommands'));
    const key = `${name}|${subcommand}`.toLowerCase();
    for (const [k, v] of subs) {
      if (k.toLowerCase() === key) return renderDoc(`${name} ${subcommand}`.toUpperCase(), v);
    }
    return undefined;
  }
  return undefined;
}
