// The server's side of users and permissions: builds the user table from the store's logged
// table (at start, after each logged ACL change, on replicas after each applied one), applies
// --requirepass and --aclfile to the default state, runs the permission check for dispatch
// (refusals go to ACL LOG) and disconnects the clients of users that no longer exist.
// Owns the AclTable and AclLog of one server; never writes to the log (the ACL command does).

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { ReplicatedStore } from '../storage/api.js';
import type { AclServices, ClientState, CommandSpec, CommandTableView } from './command-types.js';
import type { ClientRegistry } from './client-registry.js';
import type { ServerConfig } from './config.js';
import type { AclCheck } from './dispatch.js';
import { AclLog, AclTable, decodeUsers, parseAclFile, type AclDenial, type AclLogContext, type AclUser } from './acl.js';

export interface AclHostLog {
  info(msg: string): void;
  warn(msg: string): void;
}

export class ServerAcl implements AclServices {
  readonly table: AclTable;
  readonly log: AclLog;

  constructor(
    commands: CommandTableView,
    private readonly store: ReplicatedStore,
    private readonly cfg: ServerConfig,
    private readonly clients: ClientRegistry,
    private readonly logger: AclHostLog,
  ) {
    this.table = new AclTable(commands);
    this.log = new AclLog(() => cfg.acllogMaxLen);
    if (store.aclUsers !== null) this.applyLogged();
    else this.applyStartupFiles();
  }

  /**
   * No table in the log yet: the aclfile (when configured) and --requirepass make the starting
   * state. It is not logged: the first ACL change (or ACL LOAD) logs the whole table.
   */
  private applyStartupFiles(): void {
    if (this.cfg.aclfile !== null) {
      const f = this.readAclFile();
      if ('error' in f) this.logger.warn(`aclfile not loaded: ${f.error}`);
      else {
        const parsed = parseAclFile(f.text);
        const users = typeof parsed === 'string' ? `${this.cfg.aclfile}:${parsed}` : this.table.parseUsers(parsed);
        if (typeof users === 'string') this.logger.warn(`aclfile not loaded: ${users}`);
        else {
          this.table.replaceAll(users);
          this.logger.info(`loaded ${users.length} user(s) from ${this.cfg.aclfile}`);
        }
      }
    }
    this.requirePassChanged();
  }

  /** requirepass is the default user's password (Redis's ACLUpdateDefaultUserPassword): set on this node only. */
  requirePassChanged(): void {
    const pass = this.cfg.requirepass;
    const edited = this.table.edit('default', pass === null ? ['nopass'] : ['resetpass', `>${pass}`]);
    if (typeof edited !== 'string') this.table.defaultUser.assign(edited);
  }

  applyLogged(callerId = 0): void {
    const raw = this.store.aclUsers;
    if (raw === null) return;
    const entries = decodeUsers(raw);
    const users = entries === null ? 'not a user table' : this.table.parseUsers(entries);
    if (typeof users === 'string') {
      // The bytes passed the record's CRC, so a newer or buggy writer made them: keep serving with the table we have.
      this.logger.warn(`logged user table not applied: ${users}`);
      return;
    }
    this.disconnect(new Set(this.table.replaceAll(users)), callerId);
  }

  /**
   * Redis frees the clients of a deleted user, and the subscribers whose user may no longer
   * subscribe to one of their channels or patterns. The client that made the change gets its
   * reply first.
   */
  private disconnect(gone: ReadonlySet<AclUser>, callerId: number): void {
    for (const c of [...this.clients.all()]) {
      const u = c.client.user;
      if (u === undefined || (!gone.has(u) && (c.subs.total === 0 || !this.lostChannels(u, c.subs)))) continue;
      if (c.client.id === callerId) c.client.closeAfterReply = true;
      else c.destroy();
    }
  }

  private lostChannels(u: AclUser, subs: { readonly channels: ReadonlySet<string>; readonly patterns: ReadonlySet<string>; readonly shards: ReadonlySet<string> }): boolean {
    if (u.unrestricted) return false;
    for (const ch of subs.channels) if (!this.table.channelAllowed(u, ch, false)) return true;
    for (const ch of subs.shards) if (!this.table.channelAllowed(u, ch, false)) return true;
    for (const p of subs.patterns) if (!this.table.channelAllowed(u, p, true)) return true;
    return false;
  }

  readAclFile(): { readonly text: string } | { readonly error: string } {
    const path = this.cfg.aclfile;
    if (path === null) return { error: 'This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.' };
    try {
      return { text: readFileSync(path, 'utf8') };
    } catch (e) {
      return { error: `Error loading ACLs, opening file '${path}': ${(e as Error).message}` };
    }
  }

  writeAclFile(text: string): string | null {
    const path = this.cfg.aclfile;
    if (path === null) return 'This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.';
    try {
      // Write-temp then rename, as Redis does, so a crash leaves the old file or the new one.
      writeFileSync(`${path}.tmp`, text);
      renameSync(`${path}.tmp`, path);
      return null;
    } catch (e) {
      return `There was an error trying to save the ACLs. Please check the server logs for more information (${(e as Error).message})`;
    }
  }

  clientInfo(client: ClientState): string {
    const c = this.clients.get(client.id);
    return c === undefined ? '' : this.clients.line(c, Date.now(), client.id);
  }

  authRequired(): boolean {
    const d = this.table.defaultUser;
    return !d.nopass || !d.enabled;
  }

  /** The dispatcher's permission check: a refusal is logged (ACL LOG) and returned. */
  readonly check: AclCheck = (client: ClientState, spec: CommandSpec, argv: readonly Buffer[], context: AclLogContext): AclDenial | null => {
    const user = client.user as AclUser;
    const d = this.table.check(user, spec, argv);
    if (d !== null) this.log.add({ reason: d.reason, context, object: d.object, username: user.name, clientInfo: this.clientInfo(client) }, Date.now());
    return d;
  };
}
