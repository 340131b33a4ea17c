// Pub/sub commands: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE SSUBSCRIBE SUNSUBSCRIBE
// PUBLISH SPUBLISH PUBSUB, with Redis 7.0 replies and error texts. They change only the calling
// connection's subscriptions (through the server's PubSubHub) or deliver a message (to this
// node's subscribers and, through the hub's relay, to the other members of a replication group);
// they never touch the keyspace and are never logged (a message is not state: at most once, see
// docs/consistency.md). PUBLISH answers this node's receiver count, as Redis Cluster does.

import type { CommandContext, CommandModule, CommandSpec } from '../command-types.js';
import type { SubscriptionKind } from '../pubsub.js';
import { key, legacyRange, range, type KeySpec } from './key-specs.js';

function spec(
  name: string,
  arity: number,
  flags: CommandSpec['flags'],
  keySpecs: readonly KeySpec[],
  summary: string,
  syntax: string,
  handler: CommandSpec['handler'],
  subcommands?: readonly string[],
): CommandSpec {
  return { name, arity, flags, ...legacyRange(keySpecs), keySpecs, summary, syntax, group: 'pubsub', handler, ...(subcommands ? { subcommands } : {}) };
}

/** Every server table built from SERVER_COMMAND_MODULES has a hub; a table used without one refuses. */
const NO_HUB = 'ERR pub/sub is not available on this connection';

function subscribeCmd(kind: SubscriptionKind): CommandSpec['handler'] {
  return (ctx, argv) => {
    const hub = ctx.server.pubsub;
    if (hub === undefined || ctx.pubsub === undefined) return ctx.out.error(NO_HUB);
    hub.subscribe(ctx.pubsub, kind, argv.slice(1), ctx.out);
  };
}

function unsubscribeCmd(kind: SubscriptionKind): CommandSpec['handler'] {
  return (ctx, argv) => {
    const hub = ctx.server.pubsub;
    if (hub === undefined || ctx.pubsub === undefined) return ctx.out.error(NO_HUB);
    hub.unsubscribe(ctx.pubsub, kind, argv.slice(1), ctx.out);
  };
}

const PUBSUB_HELP = [
  'PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'CHANNELS [<pattern>]',
  "    Return the currently active channels matching a <pattern> (default: '*').",
  'NUMPAT',
  '    Return number of subscriptions to patterns.',
  'NUMSUB [<channel> ...]',
  '    Return the number of subscribers for the specified channels, excluding',
  '    pattern subscriptions(default: no channels).',
  'SHARDCHANNELS [<pattern>]',
  "    Return the currently active shard level channels matching a <pattern> (default: '*').",
  'SHARDNUMSUB [<shardchannel> ...]',
  '    Return the number of subscribers for the specified shard level channel(s)',
  'HELP',
  '    Prints this help.',
];

function pubsubCmd(ctx: CommandContext, argv: readonly Buffer[]): void {
  const out = ctx.out;
  const hub = ctx.server.pubsub;
  if (hub === undefined) return out.error(NO_HUB);
  const raw = (argv[1] as Buffer).toString('utf8');
  const sub = raw.toLowerCase();
  const syntax = (): void => out.error(`ERR unknown subcommand or wrong number of arguments for '${raw}'. Try PUBSUB HELP.`);
  switch (sub) {
    case 'channels':
    case 'shardchannels': {
      if (argv.length > 3) return syntax();
      const names = hub.activeChannels(sub === 'channels' ? 'channel' : 'shard', argv[2]);
      out.array(names.length);
      for (const n of names) out.bulk(n);
      return;
    }
    case 'numsub':
    case 'shardnumsub': {
      const kind = sub === 'numsub' ? 'channel' : 'shard';
      out.array((argv.length - 2) * 2);
      for (let i = 2; i < argv.length; i++) {
        out.bulk(argv[i] as Buffer);
        out.integer(hub.subscriberCount(kind, argv[i] as Buffer));
      }
      return;
    }
    case 'numpat':
      if (argv.length !== 2) return out.error("ERR wrong number of arguments for 'pubsub|numpat' command");
      return out.integer(hub.patternCount);
    case 'help':
      if (argv.length !== 2) return out.error("ERR wrong number of arguments for 'pubsub|help' command");
      out.array(PUBSUB_HELP.length);
      for (const l of PUBSUB_HELP) out.simple(l);
      return;
    default:
      return out.error(`ERR unknown subcommand '${raw}'. Try PUBSUB HELP.`);
  }
}

export const pubsubCommands: CommandModule = [
  spec('subscribe', -2, ['pubsub', 'noscript', 'loading', 'stale'], [], 'Listen for messages published to channels.', 'channel [channel ...]', subscribeCmd('channel')),
  spec('unsubscribe', -1, ['pubsub', 'noscript', 'loading', 'stale'], [], 'Stop listening to channels (all when none is given).', '[channel [channel ...]]', unsubscribeCmd('channel')),
  spec('psubscribe', -2, ['pubsub', 'noscript', 'loading', 'stale'], [], 'Listen for messages published to channels matching glob patterns.', 'pattern [pattern ...]', subscribeCmd('pattern')),
  spec('punsubscribe', -1, ['pubsub', 'noscript', 'loading', 'stale'], [], 'Stop listening to patterns (all when none is given).', '[pattern [pattern ...]]', unsubscribeCmd('pattern')),
  spec('ssubscribe', -2, ['pubsub', 'noscript', 'loading', 'stale'], [key('not_key', 1, range(-1))], 'Listen for messages published to shard channels.', 'shardchannel [shardchannel ...]', subscribeCmd('shard')),
  spec('sunsubscribe', -1, ['pubsub', 'noscript', 'loading', 'stale'], [key('not_key', 1, range(-1))], 'Stop listening to shard channels (all when none is given).', '[shardchannel [shardchannel ...]]', unsubscribeCmd('shard')),
  spec('publish', 3, ['pubsub', 'loading', 'stale', 'fast'], [], 'Post a message to a channel.', 'channel message', (ctx, argv) => {
    const hub = ctx.server.pubsub;
    if (hub === undefined) return ctx.out.error(NO_HUB);
    ctx.out.integer(hub.publishFromClient('channel', argv[1] as Buffer, argv[2] as Buffer));
  }),
  spec('spublish', 3, ['pubsub', 'loading', 'stale', 'fast'], [key('not_key', 1)], 'Post a message to a shard channel.', 'shardchannel message', (ctx, argv) => {
    const hub = ctx.server.pubsub;
    if (hub === undefined) return ctx.out.error(NO_HUB);
    ctx.out.integer(hub.publishFromClient('shard', argv[1] as Buffer, argv[2] as Buffer));
  }),
  spec('pubsub', -2, ['pubsub', 'loading', 'stale'], [], 'Inspect the state of pub/sub.', 'subcommand [arg ...]', pubsubCmd, ['channels', 'numsub', 'numpat', 'shardchannels', 'shardnumsub', 'help']),
];
