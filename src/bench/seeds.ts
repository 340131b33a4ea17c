// kv-bench --seeds: find the primary from the first seed that knows it. Asks TOPOLOGY (cluster
// mode: one map or flat field/value array per member with id, address, role), else ROLE (a
// replica names its primary). Owns only discovery; never follows a node it was not told about
// by a seed, and never retries a seed.

import type { Reply } from '../client/resp-wire.js';
import { replyText, respCallAt } from './probe.js';
import type { BenchOptions, Endpoint } from './run.js';
import { parseAddress } from '../net/address.js';

export interface Member {
  readonly id: string;
  readonly address: Endpoint;
  readonly role: string;
}

export interface Discovery {
  readonly primary: Endpoint;
  /** Every member the seed knows (the primary included); one entry outside cluster mode. */
  readonly members: readonly Endpoint[];
  /** The seed that answered. */
  readonly via: Endpoint;
}

export type DiscoveryResult = { readonly ok: true; readonly discovery: Discovery } | { readonly ok: false; readonly error: string };

const show = (e: Endpoint): string => `${e.host}:${e.port}`;

/** Members of a TOPOLOGY reply (RESP3 maps or RESP2 flat pairs); undefined if it is not one. */
export function parseTopology(r: Reply): Member[] | undefined {
  if (r.type !== 'array') return undefined;
  const out: Member[] = [];
  for (const m of r.items) {
    if (m.type !== 'map' && m.type !== 'array') return undefined;
    const f = new Map<string, string>();
    for (let i = 0; i + 1 < m.items.length; i += 2) {
      const k = replyText(m.items[i] as Reply);
      const v = replyText(m.items[i + 1] as Reply);
      if (k !== undefined && v !== undefined) f.set(k, v);
    }
    const address = parseAddress(f.get('address') ?? '');
    const id = f.get('id');
    if (address === null || id === undefined) return undefined;
    out.push({ id, address, role: f.get('role') ?? 'unknown' });
  }
  return out;
}

/** What one seed says: the primary and members, or why it could not tell. */
async function ask(seed: Endpoint): Promise<DiscoveryResult> {
  const topo = await respCallAt(seed, ['TOPOLOGY']);
  if (topo === undefined) return { ok: false, error: `${show(seed)}: no answer` };
  if (topo.type !== 'error') {
    const members = parseTopology(topo);
    if (members === undefined) return { ok: false, error: `${show(seed)}: unreadable TOPOLOGY reply` };
    const primary = members.find((m) => m.role === 'primary');
    if (primary === undefined) return { ok: false, error: `${show(seed)}: knows no primary (election in progress?)` };
    return { ok: true, discovery: { primary: primary.address, members: members.map((m) => m.address), via: seed } };
  }
  // Not cluster mode: a standalone primary, or a replica that names its primary.
  const role = await respCallAt(seed, ['ROLE']);
  if (role === undefined || role.type !== 'array') return { ok: false, error: `${show(seed)}: ROLE unanswered (${topo.message})` };
  const kind = role.items[0] === undefined ? undefined : replyText(role.items[0]);
  if (kind === 'master') return { ok: true, discovery: { primary: seed, members: [seed], via: seed } };
  if (kind === 'slave') {
    const host = role.items[1] === undefined ? undefined : replyText(role.items[1]);
    const portItem = role.items[2];
    const port = portItem === undefined ? NaN : portItem.type === 'integer' ? Number(portItem.value) : Number(replyText(portItem));
    if (host !== undefined && Number.isInteger(port) && port > 0) {
      const primary = { host, port };
      return { ok: true, discovery: { primary, members: [primary, seed], via: seed } };
    }
  }
  return { ok: false, error: `${show(seed)}: ROLE says ${kind ?? '?'}` };
}

/** Ask the seeds in order; the first that knows the primary wins. */
export async function discoverPrimary(seeds: readonly Endpoint[]): Promise<DiscoveryResult> {
  const why: string[] = [];
  for (const s of seeds) {
    const r = await ask(s);
    if (r.ok) return r;
    why.push(r.error);
  }
  return { ok: false, error: `no seed knows a primary: ${why.join('; ')}` };
}

/**
 * Where the connections go after discovery: writes and quorum reads need the primary; a
 * read-only load that any node may serve (eventual, session) is spread over every member.
 */
export function routeBySeeds(o: BenchOptions, d: Discovery): BenchOptions {
  const anyNode = o.ratio.set === 0 && o.consistency !== 'quorum';
  return { ...o, host: d.primary.host, port: d.primary.port, targets: anyNode ? d.members : [d.primary] };
}
