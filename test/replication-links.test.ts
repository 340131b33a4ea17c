// Tests of the host's LinkTable (src/replication/host/links.ts) in cluster mode, over a fake
// transport: the mesh follows the configuration in force (setPeers adds, moves and drops
// dialers), inbound links from nodes outside the configuration are accepted, and a node we do
// not dial is answered on the link it dialled.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkTable } from '../src/replication/host/links.js';
import type { DialOptions, LinkDialer, LinkEvents, ReplLink, Transport } from '../src/replication/host/runtime.js';

class FakeLink implements ReplLink {
  isClosed = false;
  readonly outputBytes = 0;
  closedWith: string | null = null;
  constructor(
    readonly peerId: string,
    readonly peerAddress: string,
    readonly outbound: boolean,
    private readonly events: LinkEvents,
  ) {}
  send(): boolean {
    return !this.isClosed;
  }
  sendParts(): boolean {
    return !this.isClosed;
  }
  whenWritable(): Promise<boolean> {
    return Promise.resolve(!this.isClosed);
  }
  sendChunk(): boolean {
    return !this.isClosed;
  }
  close(reason: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closedWith = reason;
    this.events.onClose(this, reason);
  }
}

interface FakeDial {
  readonly opts: DialOptions;
  stopped: boolean;
}

function harness(): { table: LinkTable; dials: FakeDial[]; ups: string[]; closes: string[]; link(d: FakeDial, answeredAs?: string): FakeLink } {
  const dials: FakeDial[] = [];
  const ups: string[] = [];
  const closes: string[] = [];
  const transport: Transport = {
    dial(opts): LinkDialer {
      const d: FakeDial = { opts, stopped: false };
      dials.push(d);
      return { start: () => undefined, stop: () => void (d.stopped = true), linkClosed: () => undefined };
    },
  };
  let table: LinkTable;
  const events: LinkEvents = {
    onFrame: () => undefined,
    onClose: (l) => {
      const kind = table.closed(l);
      closes.push(`${l.peerId}:${kind}`);
    },
  };
  table = new LinkTable(
    { transport, nodeId: 'n1', password: '', announce: '127.0.0.1:1', cluster: true },
    { events, up: (peer, address) => ups.push(`${peer}@${address}`), isStopped: () => false, info: () => undefined, warn: () => undefined, error: () => undefined },
  );
  const link = (d: FakeDial, answeredAs?: string): FakeLink => {
    const l = new FakeLink(answeredAs ?? peerOf(d), d.opts.address, true, events);
    d.opts.onLinked(l);
    return l;
  };
  return { table, dials, ups, closes, link };
}

/** The fake dials name peers by address: 127.0.0.1:<n> is n<n>. */
function peerOf(d: FakeDial): string {
  return `n${d.opts.address.split(':')[1] as string}`;
}

const addr = (n: number): string => `127.0.0.1:${n}`;

test('setPeers dials every member but self, adds new ones, redials a moved one and drops a removed one', () => {
  const h = harness();
  h.table.setPeers(new Map([['n1', addr(1)], ['n2', addr(2)], ['n3', addr(3)]]));
  assert.deepEqual(h.dials.map((d) => d.opts.address), [addr(2), addr(3)]);
  const l2 = h.link(h.dials[0] as FakeDial);
  const l3 = h.link(h.dials[1] as FakeDial);
  assert.deepEqual(h.ups, ['n2@127.0.0.1:2', 'n3@127.0.0.1:3']);
  // The same configuration again: nothing changes.
  h.table.setPeers(new Map([['n1', addr(1)], ['n2', addr(2)], ['n3', addr(3)]]));
  assert.equal(h.dials.length, 2);
  // n4 joins, n3 moves to port 33, n2 is removed.
  h.table.setPeers(new Map([['n1', addr(1)], ['n3', addr(33)], ['n4', addr(4)]]));
  assert.equal(h.dials[0]?.stopped, true, "the removed member's dialer stops");
  assert.equal(h.dials[1]?.stopped, true, "the moved member's old dialer stops");
  assert.deepEqual(h.dials.slice(2).map((d) => d.opts.address), [addr(33), addr(4)]);
  assert.ok(l2.isClosed && l3.isClosed, 'the links we dialled to them close');
  assert.deepEqual(h.closes, ['n2:send', 'n3:send'], 'closed while current: the host steps linkDown for each');
  assert.deepEqual([...h.table.dialedPeers()].sort(), ['n3', 'n4']);
  // A late link from the stopped dialer is refused.
  const stale = h.link(h.dials[1] as FakeDial, 'n3');
  assert.equal(stale.isClosed, true);
});

test('a dialled address answering with another node id is never taken for the member', () => {
  const h = harness();
  h.table.setPeers(new Map([['n1', addr(1)], ['n2', addr(2)]]));
  const wrong = h.link(h.dials[0] as FakeDial, 'n9');
  assert.equal(wrong.isClosed, true);
  assert.equal(h.table.sendLink('n2'), undefined);
  assert.equal(h.table.sendLink('n9'), undefined);
});

test('inbound links from non-members are accepted; a node we do not dial is answered on its own link', () => {
  const h = harness();
  h.table.setPeers(new Map([['n1', addr(1)], ['n2', addr(2)]]));
  let joiner: FakeLink | null = null;
  h.table.accept('n7', addr(7), (ev) => (joiner = new FakeLink('n7', addr(7), false, ev)));
  assert.ok(joiner !== null && !(joiner as FakeLink).isClosed, 'a node outside the configuration may talk to us');
  assert.equal(h.table.sendLink('n7'), joiner, 'not dialled by us: answered on the link it dialled');
  // A member we dial is sent to only on our own link, even while it is down.
  let inbound2: FakeLink | null = null;
  h.table.accept('n2', addr(2), (ev) => (inbound2 = new FakeLink('n2', addr(2), false, ev)));
  assert.ok(inbound2 !== null);
  assert.equal(h.table.sendLink('n2'), undefined);
  const out2 = h.link(h.dials[0] as FakeDial);
  assert.equal(h.table.sendLink('n2'), out2);
});
