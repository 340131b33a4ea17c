// Turns a reply as KvClient.rawTyped decodes it (node-redis with wire types kept: status →
// string, bulk → Buffer, RESP3 map → Map, set → Set, nested errors as Error values) into the
// Reply shape format.ts prints like redis-cli. Owns that conversion only.
//
// Integers arrive as decimal strings so that 64-bit values keep every digit (a JS number would
// round INCR results above 2^53). A status reply that is all digits is therefore printed as an
// integer; no kv-ts or Redis command answers with such a status.

import { VerbatimString } from '@redis/client';
import type { Reply } from '../client/resp-wire.js';

const INTEGER = /^-?\d+$/;

export function toReply(v: unknown): Reply {
  if (v === null || v === undefined) return { type: 'null' };
  if (Buffer.isBuffer(v)) return { type: 'bulk', value: v };
  if (v instanceof VerbatimString) return { type: 'verbatim', format: v.format, value: Buffer.from(v.valueOf(), 'utf8') };
  if (typeof v === 'string') return INTEGER.test(v) ? { type: 'integer', value: BigInt(v) } : { type: 'simple', value: Buffer.from(v, 'utf8') };
  if (typeof v === 'number') return { type: 'double', text: doubleText(v) };
  if (typeof v === 'bigint') return { type: 'bignum', text: v.toString() };
  if (typeof v === 'boolean') return { type: 'boolean', value: v };
  if (v instanceof Error) return { type: 'error', message: v.message };
  if (Array.isArray(v)) return { type: 'array', items: v.map(toReply) };
  if (v instanceof Set) return { type: 'set', items: [...v].map(toReply) };
  if (v instanceof Map) {
    const items: Reply[] = [];
    // node-redis decodes map keys as strings whatever their wire type; they are bulk strings in
    // every reply kv-ts and Redis send.
    for (const [k, val] of v) items.push(typeof k === 'string' ? { type: 'bulk', value: Buffer.from(k, 'utf8') } : toReply(k), toReply(val));
    return { type: 'map', items };
  }
  return { type: 'bulk', value: Buffer.from(String(v), 'utf8') };
}

/** RESP3 double text as Redis writes it for the common cases (inf, -inf, nan, shortest decimal). */
function doubleText(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  return String(x);
}
