// Majority arithmetic over the CONFIGURED membership: quorum size and the highest seq held by a
// majority. Pure; never counts "whoever is connected" (the predecessor's quorum shrank with
// its connected replicas, so losing replicas made writes look safer than they were).

import assert from 'node:assert';
import type { Seq } from '../../storage/types.js';

/** ⌊N/2⌋+1 of the configured members. */
export function majorityOf(membersCount: number): number {
  assert(membersCount >= 1, 'a cluster has at least one member');
  return Math.floor(membersCount / 2) + 1;
}

/**
 * The highest seq that at least a majority of members hold durably. `matchSeqs` has exactly
 * one element per configured member (self included); unknown members count as 0.
 */
export function majorityMatch(matchSeqs: readonly Seq[], membersCount: number): Seq {
  assert(matchSeqs.length === membersCount, `one match per member: ${matchSeqs.length} for ${membersCount}`);
  const sorted = [...matchSeqs].sort((a, b) => b - a);
  return sorted[majorityOf(membersCount) - 1] as Seq;
}
