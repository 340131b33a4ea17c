// The tests' RESP codec: the one reply decoder (RESP2 and RESP3) into a tagged tree that keeps
// the wire's shape, command encoding, a printable form, and plain JS values for assertions.
// Owns bytes only; never touches a socket. Not src/client/resp-wire.ts's decoder: that one folds
// a null bulk and a null array into one null and drops verbatim formats (as redis-cli prints
// them), and server tests must see the difference.

/** One reply as it was on the wire. Simple strings and errors are latin1 text. */
export type Resp =
  | { readonly t: 'simple'; readonly s: string }
  | { readonly t: 'error'; readonly s: string }
  | { readonly t: 'int'; readonly n: bigint }
  | { readonly t: 'bulk'; readonly b: Buffer | null }
  | { readonly t: 'array'; readonly a: Resp[] | null }
  // RESP3 only:
  | { readonly t: 'null' }
  | { readonly t: 'bool'; readonly v: boolean }
  | { readonly t: 'double'; readonly s: string }
  /** The whole body, format prefix included ("txt:..."). */
  | { readonly t: 'verbatim'; readonly b: Buffer }
  | { readonly t: 'set'; readonly a: Resp[] | null }
  /** Keys and values alternating. */
  | { readonly t: 'map'; readonly a: Resp[] | null }
  /** Out-of-band data (pub/sub messages). */
  | { readonly t: 'push'; readonly a: Resp[] | null };

/** Parse one reply at `at`; null when the buffer holds only part of it. Throws on a type byte RESP does not have. */
export function parseReply(buf: Buffer, at: number): { v: Resp; end: number } | null {
  if (at >= buf.length) return null;
  const e = buf.indexOf('\r\n', at + 1, 'latin1');
  if (e === -1) return null;
  const line = buf.toString('latin1', at + 1, e);
  const next = e + 2;
  const type = String.fromCharCode(buf[at] as number);
  switch (type) {
    case '+': return { v: { t: 'simple', s: line }, end: next };
    case '-': return { v: { t: 'error', s: line }, end: next };
    case ':': return { v: { t: 'int', n: BigInt(line) }, end: next };
    case '_': return { v: { t: 'null' }, end: next };
    case '#': return { v: { t: 'bool', v: line === 't' }, end: next };
    case ',': return { v: { t: 'double', s: line }, end: next };
    case '$':
    case '=': {
      const n = Number(line);
      if (n < 0) return { v: { t: 'bulk', b: null }, end: next };
      if (buf.length < next + n + 2) return null;
      const b = Buffer.from(buf.subarray(next, next + n));
      return { v: type === '$' ? { t: 'bulk', b } : { t: 'verbatim', b }, end: next + n + 2 };
    }
    case '*':
    case '~':
    case '>':
    case '%': {
      const n = Number(line);
      const t = type === '*' ? 'array' : type === '~' ? 'set' : type === '>' ? 'push' : 'map';
      if (n < 0) return { v: { t, a: null }, end: next };
      const items: Resp[] = [];
      let p = next;
      for (let i = 0; i < (type === '%' ? 2 * n : n); i++) {
        const r = parseReply(buf, p);
        if (r === null) return null;
        items.push(r.v);
        p = r.end;
      }
      return { v: { t, a: items }, end: p };
    }
    default:
      throw new Error(`bad reply type byte ${JSON.stringify(type)} in ${JSON.stringify(buf.toString('latin1', at, at + 40))}`);
  }
}

/** One command as a RESP array of bulk strings; strings are UTF-8. */
export function cmd(...args: Array<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** A compact printable form of a reply, for comparisons and failure messages. */
export function showReply(v: Resp): string {
  switch (v.t) {
    case 'simple': return `+${v.s}`;
    case 'error': return `-${v.s}`;
    case 'int': return `:${v.n}`;
    case 'bulk': return v.b === null ? '$nil' : JSON.stringify(v.b.toString('latin1'));
    case 'array': return v.a === null ? '*nil' : `[${v.a.map(showReply).join(', ')}]`;
    case 'null': return '_';
    case 'bool': return v.v ? '#t' : '#f';
    case 'double': return `,${v.s}`;
    case 'verbatim': return `=${JSON.stringify(v.b.toString('latin1'))}`;
    case 'set': return v.a === null ? '~nil' : `~[${v.a.map(showReply).join(', ')}]`;
    case 'map': return v.a === null ? '%nil' : `%[${v.a.map(showReply).join(', ')}]`;
    case 'push': return v.a === null ? '>nil' : `>[${v.a.map(showReply).join(', ')}]`;
  }
}

/** A reply as plain JS values for assertions (see toValue). */
export type Reply = string | number | bigint | null | boolean | Buffer | ReplyError | Reply[] | Map<Reply, Reply>;

/** An error reply as a value (never thrown). */
export class ReplyError {
  constructor(readonly message: string) {}
}

/**
 * Simple strings → string, errors → ReplyError, integers and doubles → number, nulls → null,
 * bulk and verbatim → Buffer (verbatim with its format prefix), arrays and sets → arrays, maps →
 * Map with bulk keys as text.
 */
export function toValue(v: Resp): Reply {
  switch (v.t) {
    case 'simple': return v.s;
    case 'error': return new ReplyError(v.s);
    case 'int': return Number(v.n);
    case 'null': return null;
    case 'bool': return v.v;
    case 'double': return Number(v.s);
    case 'bulk': return v.b;
    case 'verbatim': return v.b;
    case 'array':
    case 'push':
    case 'set': return v.a === null ? null : v.a.map(toValue);
    case 'map': {
      if (v.a === null) return null;
      const m = new Map<Reply, Reply>();
      for (let i = 0; i < v.a.length; i += 2) m.set(asText(toValue(v.a[i] as Resp)), toValue(v.a[i + 1] as Resp));
      return m;
    }
  }
}

/** Bulk strings as text (for assertions); other values unchanged. */
export function asText(r: Reply): Reply {
  return Buffer.isBuffer(r) ? r.toString('utf8') : r;
}

/** A plain reply as comparable text: an error as `-message`, bulk strings as text, maps as [key, value] pairs. */
export function showValue(r: Reply): string {
  if (r instanceof ReplyError) return `-${r.message}`;
  return JSON.stringify(plainValue(r));
}

function plainValue(r: Reply): unknown {
  if (Buffer.isBuffer(r)) return r.toString('latin1');
  if (Array.isArray(r)) return r.map(plainValue);
  if (r instanceof Map) return [...r].map(([k, v]) => [plainValue(k), plainValue(v)]);
  if (r instanceof ReplyError) return `-${r.message}`;
  return typeof r === 'bigint' ? String(r) : r;
}
