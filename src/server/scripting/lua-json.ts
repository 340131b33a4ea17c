// cjson.encode / cjson.decode for scripts, with lua-cjson's rules (arrays are tables keyed
// 1..n, excessively sparse arrays and unsupported types refused, '/' escaped, numbers "%.14g",
// cjson.null). Owns only the conversion between JSON text and Lua values on the VM's stack.

import type { LuaState } from 'fengari';

import { lua } from './fengari-vm.js';

/** Registry field holding cjson.null (the prelude stores it there). */
export const JSON_NULL_FIELD = 'kv_json_null';
/** Nesting lua-cjson accepts by default (cjson.encode_max_depth / decode_max_depth change it). */
export const JSON_DEPTH_DEFAULT = 1000;

/** "%.14g", as lua-cjson prints numbers. */
export function formatG14(x: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const [m, e] = x.toExponential(13).split('e') as [string, string];
  const en = Number(e);
  const trim = (s: string): string => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (en < -4 || en >= 14) return `${trim(m)}e${en < 0 ? '-' : '+'}${String(Math.abs(en)).padStart(2, '0')}`;
  return trim(x.toFixed(Math.max(0, 13 - en)));
}

function escapeJson(b: Uint8Array): string {
  let s = '"';
  for (const c of b) {
    if (c === 0x22) s += '\\"';
    else if (c === 0x5c) s += '\\\\';
    else if (c === 0x2f) s += '\\/';
    else if (c === 0x0a) s += '\\n';
    else if (c === 0x0d) s += '\\r';
    else if (c === 0x09) s += '\\t';
    else if (c === 0x08) s += '\\b';
    else if (c === 0x0c) s += '\\f';
    else if (c < 0x20 || c === 0x7f) s += `\\u${c.toString(16).padStart(4, '0')}`;
    else s += String.fromCharCode(c);
  }
  return `${s}"`;
}

/** The value at `idx` as JSON text (latin1: one char per byte), or the error lua-cjson gives. */
export function jsonEncode(L: LuaState, idx: number, opts: JsonEncodeOptions): string | { error: string } {
  try {
    return encodeAt(L, lua.lua_absindex(L, idx), 0, opts);
  } catch (e) {
    if (e instanceof JsonError) return { error: e.message };
    throw e;
  }
}

class JsonError extends Error {}

/** lua-cjson's encoder settings (VM-wide): nesting limit, and whether NaN and infinities may be written. */
export interface JsonEncodeOptions {
  readonly depthMax: number;
  readonly invalidNumbers: boolean;
}

function typeName(L: LuaState, t: number): string {
  if (t === lua.LUA_TFUNCTION) return 'function';
  if (t === lua.LUA_TTABLE) return 'table';
  return 'userdata';
}

function isNull(L: LuaState, idx: number): boolean {
  lua.lua_getfield(L, lua.LUA_REGISTRYINDEX, JSON_NULL_FIELD);
  const same = lua.lua_rawequal(L, idx, -1);
  lua.lua_pop(L, 1);
  return same;
}

function encodeAt(L: LuaState, idx: number, depth: number, opts: JsonEncodeOptions): string {
  const t = lua.lua_type(L, idx);
  if (t === lua.LUA_TNIL) return 'null';
  if (t === lua.LUA_TBOOLEAN) return lua.lua_toboolean(L, idx) ? 'true' : 'false';
  if (t === lua.LUA_TNUMBER) {
    const x = lua.lua_tonumber(L, idx);
    if (Number.isFinite(x)) return formatG14(x);
    if (!opts.invalidNumbers) throw new JsonError('Cannot serialise number: must not be NaN or Inf');
    return Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf';
  }
  if (t === lua.LUA_TSTRING) return escapeJson(lua.lua_tolstring(L, idx) as Uint8Array);
  if (t !== lua.LUA_TTABLE || isNull(L, idx)) {
    if (t === lua.LUA_TTABLE) return 'null';
    throw new JsonError(`Cannot serialise ${typeName(L, t)}: type not supported`);
  }
  if (depth >= opts.depthMax) throw new JsonError(`Cannot serialise, excessive nesting (${depth + 1})`);
  if (!lua.lua_checkstack(L, 4)) throw new JsonError('Cannot serialise, excessive nesting');
  // lua-cjson: an array when every key is a positive integer, not too sparse.
  let max = 0;
  let items = 0;
  let isArray = true;
  lua.lua_pushnil(L);
  while (lua.lua_next(L, idx)) {
    lua.lua_pop(L, 1);
    items++;
    if (isArray && lua.lua_type(L, -1) === lua.LUA_TNUMBER) {
      const k = lua.lua_tonumber(L, -1);
      if (Number.isInteger(k) && k >= 1) {
        if (k > max) max = k;
        continue;
      }
    }
    isArray = false;
  }
  if (isArray && max > 0) {
    if (max > items * 2 && max > 10) throw new JsonError('Cannot serialise table: excessively sparse array');
    const parts: string[] = [];
    for (let i = 1; i <= max; i++) {
      lua.lua_rawgeti(L, idx, i);
      parts.push(encodeAt(L, lua.lua_gettop(L), depth + 1, opts));
      lua.lua_pop(L, 1);
    }
    return `[${parts.join(',')}]`;
  }
  const parts: string[] = [];
  lua.lua_pushnil(L);
  while (lua.lua_next(L, idx)) {
    const kt = lua.lua_type(L, -2);
    let key: string;
    if (kt === lua.LUA_TSTRING) key = escapeJson(lua.lua_tolstring(L, -2) as Uint8Array);
    else if (kt === lua.LUA_TNUMBER) key = `"${formatG14(lua.lua_tonumber(L, -2))}"`;
    else throw new JsonError('Cannot serialise table: table key must be a number or string');
    parts.push(`${key}:${encodeAt(L, lua.lua_gettop(L), depth + 1, opts)}`);
    lua.lua_pop(L, 1);
  }
  return `{${parts.join(',')}}`;
}

/** Push the Lua value of JSON `text`; null, or the error text. */
export function jsonDecode(L: LuaState, text: Buffer, depthMax: number): string | null {
  let v: unknown;
  try {
    v = JSON.parse(text.toString('utf8'));
  } catch (e) {
    return `cjson.decode: ${(e as Error).message}`;
  }
  const top = lua.lua_gettop(L);
  try {
    pushJson(L, v, 0, depthMax);
  } catch (e) {
    if (!(e instanceof JsonError)) throw e;
    lua.lua_settop(L, top);
    return e.message;
  }
  return null;
}

function pushJson(L: LuaState, v: unknown, depth: number, depthMax: number): void {
  if (depth > depthMax || !lua.lua_checkstack(L, 4)) throw new JsonError(`Found too many nested data structures (${depth}) at character 1`);
  if (v === null) {
    lua.lua_getfield(L, lua.LUA_REGISTRYINDEX, JSON_NULL_FIELD);
    return;
  }
  switch (typeof v) {
    case 'boolean':
      return lua.lua_pushboolean(L, v);
    case 'number':
      return lua.lua_pushnumber(L, v);
    case 'string':
      lua.lua_pushstring(L, Buffer.from(v, 'utf8'));
      return;
    default:
      break;
  }
  if (Array.isArray(v)) {
    lua.lua_createtable(L, v.length, 0);
    for (let i = 0; i < v.length; i++) {
      pushJson(L, v[i], depth + 1, depthMax);
      lua.lua_rawseti(L, -2, i + 1);
    }
    return;
  }
  const entries = Object.entries(v as Record<string, unknown>);
  lua.lua_createtable(L, 0, entries.length);
  for (const [k, x] of entries) {
    lua.lua_pushstring(L, Buffer.from(k, 'utf8'));
    pushJson(L, x, depth + 1, depthMax);
    lua.lua_rawset(L, -3);
  }
}
