// kv-server --join: asks a running member for the membership (MEMBER LIST), asks the primary to
// add this node as a learner (MEMBER ADD, following the redirect a non-primary answers), retries
// with backoff until added or refused for good, and returns the voters this node bootstraps
// with. Owns that conversation over the client's RespConnection; it never touches the store and
// never starts replication (attach.ts does, with the result).

import { setTimeout as delay } from 'node:timers/promises';
import { connectResp, type RespConnection } from '../../client/resp-conn.js';
import { redirectAddress } from '../../client/errors.js';
import { parseAddress } from '../../net/address.js';
import type { NodeId } from '../core/types.js';
import { parseMemberList } from './member-list-reply.js';

/** How long a join keeps trying (an election or a change in progress only delays it). */
export const JOIN_TIMEOUT_MS = 120_000;
const JOIN_BACKOFF_MS_MIN = 100;
const JOIN_BACKOFF_MS_MAX = 2_000;
/** How long one connection attempt to a member may take. */
const JOIN_CONNECT_TIMEOUT_MS = 2_000;

export interface JoinRequest {
  /** A member to ask first (host:port). */
  readonly seed: string;
  readonly nodeId: NodeId;
  /** Where the cluster will dial this node. */
  readonly address: string;
  /** AUTH for the members (--primary-user / --primary-auth); '' = none. */
  readonly user: string;
  readonly password: string;
  readonly info: (msg: string) => void;
  readonly timeoutMs?: number;
}

export type JoinResult = { readonly ok: true; readonly voters: ReadonlyMap<NodeId, string> } | { readonly ok: false; readonly error: string };

interface ListedMember {
  readonly address: string;
  readonly voter: boolean;
  /** The configuration that lists it is committed (not one a cut-off primary appended and a failover may discard). */
  readonly committed: boolean;
}

/** One step's verdict: done, ask another node, try again later, or give up. */
type Step = { readonly kind: 'added' } | { readonly kind: 'redirect'; readonly to: string } | { readonly kind: 'retry'; readonly why: string } | { readonly kind: 'fatal'; readonly error: string };

/** Refusals no retry can change: the operator must act (another id, another address, fewer members). */
const FATAL_REFUSALS = /already a member|belongs to member|at most \d+ members|bad node id|bad address|NOPERM|WRONGPASS|NOAUTH|unknown command/i;

export async function joinCluster(r: JoinRequest): Promise<JoinResult> {
  const deadline = Date.now() + (r.timeoutMs ?? JOIN_TIMEOUT_MS);
  let target = r.seed;
  let backoffMs = JOIN_BACKOFF_MS_MIN;
  let lastWhy = '';
  while (Date.now() < deadline) {
    const step = await attempt(r, target);
    if (step.kind === 'added') {
      const voters = await votersFrom(r, target);
      if (typeof voters !== 'string') return { ok: true, voters };
      lastWhy = voters;
    } else if (step.kind === 'fatal') {
      return { ok: false, error: step.error };
    } else if (step.kind === 'redirect') {
      r.info(`join: ${target} is not the primary; asking ${step.to}`);
      target = step.to;
      continue;
    } else {
      lastWhy = step.why;
      // The node we were sent to may be gone: start over from the seed.
      if (target !== r.seed) target = r.seed;
    }
    r.info(`join: not added yet (${lastWhy}); retrying in ${backoffMs} ms`);
    await delay(backoffMs);
    backoffMs = Math.min(JOIN_BACKOFF_MS_MAX, backoffMs * 2);
  }
  return { ok: false, error: `not added to the cluster within ${Math.round((r.timeoutMs ?? JOIN_TIMEOUT_MS) / 1000)} s (last: ${lastWhy})` };
}

/** Ask `target` for the membership, then (when it lacks us) to add us. */
async function attempt(r: JoinRequest, target: string): Promise<Step> {
  const conn = await open(r, target);
  if (typeof conn === 'string') return { kind: 'retry', why: conn };
  try {
    const listed = await memberList(conn);
    if (typeof listed === 'string') return FATAL_REFUSALS.test(listed) ? { kind: 'fatal', error: `${target}: ${listed}` } : { kind: 'retry', why: `${target}: ${listed}` };
    const mine = listed.get(r.nodeId);
    if (mine !== undefined) {
      // Added by an earlier attempt whose answer we lost (or by the operator): fine as a learner at
      // our address, once committed (an uncommitted entry of a deposed primary is discarded later).
      if (mine.address === r.address && !mine.voter) return mine.committed ? { kind: 'added' } : { kind: 'retry', why: `${target} lists ${r.nodeId} in a configuration not committed yet` };
      const what = mine.voter ? 'a voter' : 'a learner';
      return { kind: 'fatal', error: `${r.nodeId} is already ${what} of the cluster at ${mine.address}; an empty data directory cannot take its place (MEMBER REMOVE ${r.nodeId} first, or use another --node-id)` };
    }
    const add = await conn.call(['MEMBER', 'ADD', r.nodeId, r.address]);
    if (!add.ok) return { kind: 'retry', why: `${target}: ${add.error} (outcome unknown; asking again)` };
    if (add.reply.type !== 'error') return { kind: 'added' };
    const msg = add.reply.message;
    if (msg.startsWith('READONLY')) {
      const to = redirectAddress(msg);
      return to === undefined || to === target ? { kind: 'retry', why: `${target} knows no primary yet` } : { kind: 'redirect', to };
    }
    return FATAL_REFUSALS.test(msg) ? { kind: 'fatal', error: `${target}: ${msg}` } : { kind: 'retry', why: `${target}: ${msg}` };
  } finally {
    conn.close();
  }
}

/** The voters (→ addresses) as `target` lists them after we were added. */
async function votersFrom(r: JoinRequest, target: string): Promise<ReadonlyMap<NodeId, string> | string> {
  const conn = await open(r, target);
  if (typeof conn === 'string') return conn;
  try {
    const listed = await memberList(conn);
    if (typeof listed === 'string') return `${target}: ${listed}`;
    const voters = new Map<NodeId, string>();
    for (const [id, m] of listed) if (m.voter) voters.set(id, m.address);
    return voters.size > 0 ? voters : `${target} lists no voters`;
  } finally {
    conn.close();
  }
}

async function open(r: JoinRequest, target: string): Promise<RespConnection | string> {
  const a = parseAddress(target);
  if (a === null) return `bad address ${target}`;
  const c = await connectResp(a.host, a.port, JOIN_CONNECT_TIMEOUT_MS);
  if (!c.ok) return `${target}: ${c.error}`;
  if (r.password !== '') {
    const auth = await c.conn.call(r.user === '' ? ['AUTH', r.password] : ['AUTH', r.user, r.password]);
    if (!auth.ok || auth.reply.type === 'error') {
      c.conn.close();
      return `${target}: AUTH failed (${auth.ok && auth.reply.type === 'error' ? auth.reply.message : 'connection lost'})`;
    }
  }
  return c.conn;
}

/** MEMBER LIST as id → address and voter, or the error text. */
async function memberList(conn: RespConnection): Promise<Map<NodeId, ListedMember> | string> {
  const res = await conn.call(['MEMBER', 'LIST']);
  if (!res.ok) return res.error;
  if (res.reply.type === 'error') return res.reply.message;
  const list = parseMemberList(res.reply);
  if (list === null) return 'MEMBER LIST answered with an unexpected reply';
  const out = new Map<NodeId, ListedMember>();
  for (const m of list) {
    if (m.id === '' || m.address === '' || m.role === '') return 'MEMBER LIST entry without id, address or role';
    out.set(m.id, { address: m.address, voter: m.role === 'voter', committed: m.configCommitted });
  }
  return out;
}
