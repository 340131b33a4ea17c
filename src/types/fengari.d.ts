// The part of fengari's (Lua 5.3 in JavaScript) C API that server/scripting uses. fengari ships
// no type declarations; these follow its lua.js / lauxlib.js / lualib.js exports. Lua strings
// are byte arrays (Uint8Array); API functions also take JavaScript strings (encoded as UTF-8).
declare module 'fengari' {
  export interface LuaState {
    readonly __luaState: never;
  }
  export type LuaString = Uint8Array;
  export type LuaFunction = (L: LuaState) => number;
  export type LuaHook = (L: LuaState, ar: unknown) => void;
  /** What lua_getinfo fills in ('S': source; 'l': currentline). */
  export interface LuaDebug {
    source: LuaString | null;
    currentline: number;
  }

  export const lua: {
    readonly LUA_OK: number;
    readonly LUA_ERRRUN: number;
    readonly LUA_YIELD: number;
    readonly LUA_TNIL: number;
    readonly LUA_TBOOLEAN: number;
    readonly LUA_TNUMBER: number;
    readonly LUA_TSTRING: number;
    readonly LUA_TTABLE: number;
    readonly LUA_TFUNCTION: number;
    readonly LUA_REGISTRYINDEX: number;
    readonly LUA_MASKCOUNT: number;
    readonly LUA_MASKLINE: number;
    lua_absindex(L: LuaState, idx: number): number;
    lua_checkstack(L: LuaState, n: number): boolean;
    lua_close(L: LuaState): void;
    lua_createtable(L: LuaState, narr: number, nrec: number): void;
    lua_error(L: LuaState): never;
    lua_getfield(L: LuaState, idx: number, k: string | LuaString): number;
    lua_getglobal(L: LuaState, name: string | LuaString): number;
    lua_gettop(L: LuaState): number;
    lua_isinteger(L: LuaState, idx: number): boolean;
    lua_isyieldable(L: LuaState): boolean;
    lua_newthread(L: LuaState): LuaState;
    lua_resume(L: LuaState, from: LuaState | null, nargs: number): number;
    lua_status(L: LuaState): number;
    lua_yield(L: LuaState, n: number): void;
    lua_getstack(L: LuaState, level: number, ar: LuaDebug): boolean;
    lua_getinfo(L: LuaState, what: string, ar: LuaDebug): boolean;
    lua_Debug: new () => LuaDebug;
    lua_next(L: LuaState, idx: number): boolean;
    lua_pcall(L: LuaState, nargs: number, nresults: number, msgh: number): number;
    lua_pop(L: LuaState, n: number): void;
    lua_pushboolean(L: LuaState, b: boolean): void;
    lua_pushcfunction(L: LuaState, f: LuaFunction): void;
    lua_pushinteger(L: LuaState, n: number): void;
    lua_pushnil(L: LuaState): void;
    lua_pushnumber(L: LuaState, n: number): void;
    lua_pushstring(L: LuaState, s: string | LuaString): LuaString;
    lua_pushvalue(L: LuaState, idx: number): void;
    lua_rawget(L: LuaState, idx: number): number;
    lua_rawequal(L: LuaState, a: number, b: number): boolean;
    lua_rawgeti(L: LuaState, idx: number, n: number): number;
    lua_rawlen(L: LuaState, idx: number): number;
    lua_rawset(L: LuaState, idx: number): void;
    lua_rawseti(L: LuaState, idx: number, n: number): void;
    lua_setfield(L: LuaState, idx: number, k: string | LuaString): void;
    lua_setglobal(L: LuaState, name: string | LuaString): void;
    lua_sethook(L: LuaState, f: LuaHook | null, mask: number, count: number): void;
    lua_settop(L: LuaState, idx: number): void;
    lua_setupvalue(L: LuaState, funcindex: number, n: number): LuaString | null;
    lua_toboolean(L: LuaState, idx: number): boolean;
    lua_tointeger(L: LuaState, idx: number): number;
    lua_tolstring(L: LuaState, idx: number): LuaString | null;
    lua_tonumber(L: LuaState, idx: number): number;
    lua_type(L: LuaState, idx: number): number;
  };
  export const lauxlib: {
    luaL_newstate(): LuaState;
    luaL_loadbuffer(L: LuaState, s: LuaString, sz: number, name: string | LuaString): number;
    luaL_ref(L: LuaState, t: number): number;
    luaL_unref(L: LuaState, t: number, ref: number): void;
    luaL_where(L: LuaState, lvl: number): void;
    luaL_requiref(L: LuaState, modname: string | LuaString, openf: LuaFunction, glb: number): void;
  };
  export const lualib: {
    luaopen_base: LuaFunction;
    luaopen_table: LuaFunction;
    luaopen_string: LuaFunction;
    luaopen_math: LuaFunction;
    luaopen_debug: LuaFunction;
    luaopen_coroutine: LuaFunction;
  };
  export function to_luastring(s: string): LuaString;
}
