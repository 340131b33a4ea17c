// The one host:port parser and formatter (src/net/address.ts): every accepted shape, every
// rejected one, and the round trip formatAddress → parseAddress.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatAddress, parseAddress, PORT_MAX } from '../src/net/address.js';

test('parseAddress: names, IPv4 and bracketed IPv6 literals', () => {
  assert.deepEqual(parseAddress('127.0.0.1:6379'), { host: '127.0.0.1', port: 6379 });
  assert.deepEqual(parseAddress('localhost:1'), { host: 'localhost', port: 1 });
  assert.deepEqual(parseAddress('node_2.example-net:4002'), { host: 'node_2.example-net', port: 4002 });
  assert.deepEqual(parseAddress('[::1]:4001'), { host: '::1', port: 4001 });
  assert.deepEqual(parseAddress('[::ffff:127.0.0.1]:80'), { host: '::ffff:127.0.0.1', port: 80 });
  assert.deepEqual(parseAddress('[fe80::1%eth0]:7000'), { host: 'fe80::1%eth0', port: 7000 });
  assert.deepEqual(parseAddress(` 127.0.0.1:${PORT_MAX}\n`), { host: '127.0.0.1', port: PORT_MAX }, 'surrounding whitespace is ignored');
});

test('parseAddress: malformed addresses and out-of-range ports are null', () => {
  for (const bad of [
    '', '127.0.0.1', '127.0.0.1:', ':6379', 'host:0', `host:${PORT_MAX + 1}`, 'host:123456', 'host:-1', 'host:+1', 'host:1e3',
    'host: 1', 'ho st:1', 'a:b:1', '::1:4001', '[::1:4001', '::1]:4001', '[]:1', '[::1]', '[::1]:', '[host]:1', 'http://host:1',
  ]) {
    assert.equal(parseAddress(bad), null, JSON.stringify(bad));
  }
});

test('formatAddress brackets IPv6 literals, and parseAddress reads every formatted address back', () => {
  assert.equal(formatAddress('127.0.0.1', 4001), '127.0.0.1:4001');
  assert.equal(formatAddress('::1', 4001), '[::1]:4001');
  for (const [host, port] of [['127.0.0.1', 1], ['localhost', PORT_MAX], ['::1', 6379], ['2001:db8::2', 443], ['fe80::1%eth0', 7000]] as const) {
    assert.deepEqual(parseAddress(formatAddress(host, port)), { host, port });
  }
});
