// Live membership changes on a Cluster of real processes: one MEMBER change sent to whichever
// node is primary now and sent again (after no primary, a change still in progress, or an
// unknown outcome) until it is done; MEMBER LIST read as records; waiting until a member is a
// voter of a committed configuration. Owns no process; never decides which change to make.

import { parseMemberList, type MemberView } from '../../src/replication/cluster/member-list-reply.js';
import { replyText } from './call.js';
import type { Cluster } from './cluster.js';
import { waitFor } from './wait.js';

export type { MemberView };

/** A MEMBER change waits this long for its reply (a catching-up learner's promotion commits late on a loaded machine). */
export const MEMBER_CALL_TIMEOUT_MS = 10_000;
/** Between attempts of a change that could not be made yet. */
const MEMBER_RETRY_MS = 100;

/** MEMBER LIST as node `id` sees it; null when it does not answer with one. */
export async function memberList(cluster: Cluster, id: string): Promise<MemberView[] | null> {
  const r = await cluster.call(id, ['MEMBER', 'LIST']);
  return r.ok ? parseMemberList(r.reply) : null;
}

/**
 * Make one change (`args` after MEMBER) on the primary of the moment, whatever elections and
 * faults happen meanwhile: sent again until +OK, or until a refusal saying it is already made
 * (`done` matches it: an earlier attempt of unknown outcome took effect). Returns the node that
 * acknowledged it, or '' when a refusal said so.
 */
export async function changeMembers(cluster: Cluster, args: readonly string[], done: RegExp, timeoutMs = 60_000): Promise<string> {
  let last = '';
  try {
    return await waitFor(
      `MEMBER ${args.join(' ')}`,
      async () => {
        const p = await cluster.primary();
        if (p === null) return null;
        const r = await cluster.call(p, ['MEMBER', ...args], MEMBER_CALL_TIMEOUT_MS);
        last = r.ok ? (replyText(r.reply) ?? r.reply.type) : r.error;
        if (r.ok && r.reply.type === 'simple') return p;
        if (r.ok && r.reply.type === 'error' && done.test(r.reply.message)) return '';
        return null;
      },
      { timeoutMs, intervalMs: MEMBER_RETRY_MS },
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}; last reply: ${last}`);
  }
}

/** Wait until the primary's configuration in force, committed, holds `id` as a voter. */
export async function waitVoter(cluster: Cluster, id: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    `${id} a voter of a committed configuration`,
    async () => {
      const p = await cluster.primary();
      if (p === null) return false;
      const list = await memberList(cluster, p);
      const m = list?.find((x) => x.id === id);
      return m !== undefined && m.role === 'voter' && m.configCommitted;
    },
    { timeoutMs, intervalMs: 50 },
  );
}

/** Wait until the primary's committed configuration holds exactly `ids` (any role). */
export async function waitMembers(cluster: Cluster, ids: readonly string[], timeoutMs = 60_000): Promise<void> {
  const want = [...ids].sort().join(',');
  let seen = '';
  try {
    await waitFor(
      `members ${want}`,
      async () => {
        const p = await cluster.primary();
        if (p === null) return false;
        const list = await memberList(cluster, p);
        if (list === null) return false;
        seen = list.map((m) => `${m.id}:${m.role}`).join(',');
        return list.every((m) => m.configCommitted) && list.map((m) => m.id).sort().join(',') === want;
      },
      { timeoutMs, intervalMs: 50 },
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}; last seen: ${seen}`);
  }
}
