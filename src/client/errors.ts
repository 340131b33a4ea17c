// The client's typed errors and the one function that turns a server error line into one of
// them. Owns the mapping from wire error codes (READONLY, TOOSTALE, NOTPRIMARY, TRYAGAIN,
// SESSIONLOST, NOQUORUM, NOAUTH/WRONGPASS) to classes; it never decides whether to retry.

import { formatAddress, parseAddress } from '../net/address.js';

/** Base class of every error KvClient throws. `code` is the server's first word, or a client code. */
export class KvError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An error reply the client does not interpret (WRONGTYPE, ERR syntax error, …): the command ran and failed. */
export class ReplyError extends KvError {}

/** A redirect: the node that answered is not the one to ask. `primary` is "host:port" when the server named it. */
abstract class RedirectError extends KvError {
  readonly primary: string | undefined;
  constructor(code: string, message: string, primary: string | undefined) {
    super(code, message);
    this.primary = primary;
  }
}
/** A write reached a replica (`-READONLY ... primary=H:P`). The write did not run. */
export class ReadOnlyError extends RedirectError {}
/** A replica is beyond its staleness bound, or has not yet applied the session's position. The read did not run. */
export class TooStaleError extends RedirectError {}
/** A quorum request reached a replica (`-NOTPRIMARY ... primary=H:P`). It did not run. */
export class NotPrimaryError extends RedirectError {}
/** The node is changing role (`-TRYAGAIN`), or no node could be reached in time. The command did not run. */
export class TryAgainError extends KvError {}

/**
 * The command may or may not have taken effect: its connection failed or timed out after it was
 * sent, and it is not safe to send again (INCR would count twice). The caller must decide.
 */
export class OutcomeUnknownError extends KvError {
  readonly command: string;
  constructor(command: string, message: string, options?: { cause?: unknown }) {
    super('OUTCOMEUNKNOWN', message, options);
    this.command = command;
  }
}

/**
 * `-NOQUORUM`: a majority of the configured members did not confirm in time. For a write the
 * outcome is unknown (it may still commit); `outcomeUnknown` is false when the server says the
 * request could not be served at all (e.g. quorum mode needs --cluster).
 */
export class NoQuorumError extends KvError {
  readonly outcomeUnknown: boolean;
  constructor(message: string) {
    super('NOQUORUM', message);
    this.outcomeUnknown = /outcome unknown/i.test(message);
  }
}

/**
 * `-SESSIONLOST`: the session's position is not in the cluster's history any more, because a
 * failover discarded one of this client's acknowledged async writes. Reads refuse to return older
 * data until the application accepts the loss with `client.resetSession()`.
 */
export class SessionLostError extends KvError {
  readonly token: string | undefined;
  constructor(message: string, token: string | undefined) {
    super('SESSIONLOST', message);
    this.token = token;
  }
}

/** `-NOAUTH` / `-WRONGPASS`: the password is missing or wrong. Never retried. */
export class AuthError extends KvError {}

/** Every attempt failed and the operation's deadline passed, with no attempt of unknown outcome. */
export class UnavailableError extends KvError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNAVAILABLE', message, options);
  }
}

/** The "host:port" a redirect names: the last host:port-shaped word, possibly written primary=host:port. */
export function redirectAddress(message: string): string | undefined {
  const words = message.split(/\s+/);
  for (let i = words.length - 1; i > 0; i--) {
    const w = (words[i] as string).replace(/^[a-z_]+=/, '').replace(/[.,;)]+$/, '');
    const a = parseAddress(w);
    if (a !== null) return formatAddress(a.host, a.port);
  }
  return undefined;
}

/** The typed error for a server error line (e.g. "READONLY You can't write ... primary=127.0.0.1:4001"). */
export function errorFromReply(message: string): KvError {
  const code = /^\S+/.exec(message)?.[0] ?? 'ERR';
  switch (code) {
    case 'READONLY':
      return new ReadOnlyError(code, message, redirectAddress(message));
    case 'TOOSTALE':
      return new TooStaleError(code, message, redirectAddress(message));
    case 'NOTPRIMARY':
      return new NotPrimaryError(code, message, redirectAddress(message));
    case 'TRYAGAIN':
    case 'LOADING':
      return new TryAgainError(code, message);
    case 'NOQUORUM':
      return new NoQuorumError(message);
    case 'SESSIONLOST':
      return new SessionLostError(message, /position (\d+:\d+)/.exec(message)?.[1]);
    case 'NOAUTH':
    case 'WRONGPASS':
      return new AuthError(code, message);
    default:
      return new ReplyError(code, message);
  }
}
