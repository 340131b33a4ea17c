// MEMBER LIST's reply read as records: kv-server --join reads the membership with it, and the
// tests and benchmark tools use it too. Owns the parsing only; never sends a command.

import type { Reply } from '../../client/resp-wire.js';

export interface MemberView {
  readonly id: string;
  readonly address: string;
  /** voter | learner */
  readonly role: string;
  /** self | up | down */
  readonly link: string;
  /** -1: not tracked by the node asked (only the primary tracks its followers). */
  readonly matchSeq: number;
  /** Entries it lacks; -1 as for matchSeq. */
  readonly lagOps: number;
  readonly configSeq: number;
  readonly configCommitted: boolean;
}

function scalar(r: Reply | undefined): string {
  if (r === undefined) return '';
  switch (r.type) {
    case 'integer':
      return String(r.value);
    case 'boolean':
      return r.value ? '1' : '0';
    case 'simple':
    case 'bulk':
    case 'verbatim':
      return r.value.toString('utf8');
    default:
      return '';
  }
}

/** MEMBER LIST's reply (maps in RESP3, flattened pairs in RESP2) as records; null for another shape. */
export function parseMemberList(r: Reply): MemberView[] | null {
  if (r.type !== 'array') return null;
  const out: MemberView[] = [];
  for (const entry of r.items) {
    if (entry.type !== 'array' && entry.type !== 'map') return null;
    const f = new Map<string, string>();
    for (let i = 0; i + 1 < entry.items.length; i += 2) f.set(scalar(entry.items[i]), scalar(entry.items[i + 1]));
    out.push({
      id: f.get('id') ?? '',
      address: f.get('address') ?? '',
      role: f.get('role') ?? '',
      link: f.get('link') ?? '',
      matchSeq: Number(f.get('match_seq') ?? '-1'),
      lagOps: Number(f.get('lag_ops') ?? '-1'),
      configSeq: Number(f.get('config_seq') ?? '-1'),
      configCommitted: f.get('config_committed') === '1',
    });
  }
  return out;
}
