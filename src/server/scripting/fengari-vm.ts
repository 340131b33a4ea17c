// The one place fengari (Lua 5.3 in JavaScript) is loaded. Lua 5.1, which Redis embeds, prints
// integral numbers without ".0"; fengari reads that option once, from FENGARICONF, when it is
// first loaded, so this module sets it just before. It also corrects one fengari bug scripts
// meet (see below). Owns that load; holds no VM.

import { createRequire } from 'node:module';

function parseConf(s: string | undefined): Record<string, unknown> {
  try {
    return s === undefined ? {} : (JSON.parse(s) as Record<string, unknown>);
  } catch {
    return {};
  }
}

process.env['FENGARICONF'] = JSON.stringify({ ...parseConf(process.env['FENGARICONF']), LUA_COMPAT_FLOATSTRING: true });
const require = createRequire(import.meta.url);
const fengari = require('fengari') as typeof import('fengari');

/**
 * fengari's lua_pcallk never records 'allowhook' in the call's CIST_OAH bit (its `&= ~OAH | v`
 * leaves the bit clear), so after an error a yieldable pcall caught inside a coroutine, the
 * coroutine runs with hooks off for good: a script run in slices would never yield or be killed
 * again. The two places that use the bit read the constant at run time; pointing it at
 * CIST_YPCALL, which every such call has, restores hooks on (no script's pcall runs inside a hook,
 * the only place they are off). test/server-script-busy.test.ts checks it.
 */
const lstate = require('fengari/src/lstate.js') as { CIST_OAH: number; CIST_YPCALL: number };
lstate.CIST_OAH = lstate.CIST_YPCALL;

export const { lua, lauxlib, lualib } = fengari;
