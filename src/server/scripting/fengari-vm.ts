// The one place fengari (Lua 5.3 in JavaScript) is loaded. Lua 5.1, which Redis embeds, prints
// integral numbers without ".0"; fengari reads that option once, from FENGARICONF, when it is
// first loaded, so this module sets it just before. Owns that load; holds no VM.

import { createRequire } from 'node:module';

function parseConf(s: string | undefined): Record<string, unknown> {
  try {
    return s === undefined ? {} : (JSON.parse(s) as Record<string, unknown>);
  } catch {
    return {};
  }
}

process.env['FENGARICONF'] = JSON.stringify({ ...parseConf(process.env['FENGARICONF']), LUA_COMPAT_FLOATSTRING: true });
const fengari = createRequire(import.meta.url)('fengari') as typeof import('fengari');

export const { lua, lauxlib, lualib } = fengari;
