// The Lua side of the script sandbox, run once per VM: the globals a script sees (Redis 7.0's
// set, with Lua 5.1 shims over fengari's 5.3), read-only library tables, the globals
// protection, the bit library and the error handler that turns any error into Redis's
// {err=, source=, line=} table. Owns that Lua text only; the engine (lua-engine.ts) runs it.

export const LUA_PRELUDE = String.raw`
local js = ...
local dbg = debug
local rawget, rawset, setmetatable, getmetatable, error, type, tostring, tonumber, next, select, pcall, xpcall =
      rawget, rawset, setmetatable, getmetatable, error, type, tostring, tonumber, next, select, pcall, xpcall
local mtype, floor, ceil = math.type, math.floor, math.ceil

local readonly = setmetatable({}, {__mode = 'k'})
local function ro_error() error('Attempt to modify a readonly table', 2) end
local locked_mt = setmetatable({}, {__newindex = ro_error, __metatable = false})
readonly[locked_mt] = true

-- A read-only view of t: reads and pairs go to t, writes fail as in Redis 7.0.
local function protect(t)
  local proxy = setmetatable({}, {
    __index = t, __newindex = ro_error, __metatable = locked_mt,
    __pairs = function() return next, t, nil end,
    __len = function() return #t end,
  })
  readonly[proxy] = true
  return proxy
end

-- Lua 5.1 numbers are doubles: results that 5.3 makes integers are made floats again, so that
-- arithmetic on them never wraps at fengari's 32-bit integers.
local function tofloat(n) if mtype(n) == 'integer' then return n + 0.0 end return n end

local function copy(t) local c = {} for k, v in next, t do c[k] = v end return c end

local m = copy(math)
m.floor = function(x) return tofloat(floor(x)) end
m.ceil = function(x) return tofloat(ceil(x)) end
m.pow = function(a, b) return a ^ b end
m.mod = math.fmod
m.ldexp = function(x, e) return x * 2.0 ^ e end
m.frexp = function(x)
  if x == 0 then return 0.0, 0 end
  local e = floor(math.log(math.abs(x), 2)) + 1
  return x / 2.0 ^ e, e
end
m.tointeger = nil
m.type = nil
m.ult = nil

local tb = copy(table)
tb.getn = function(t) return #t end
tb.maxn = function(t)
  local n = 0
  for k in next, t do if type(k) == 'number' and k > n then n = k end end
  return n
end

local str = copy(string)
str.gfind = string.gmatch

-- LuaBitOp (Redis's bit library) on 32-bit values; results are numbers (doubles), as in 5.1.
local function tobit(x)
  x = x % 4294967296
  if x >= 2147483648 then x = x - 4294967296 end
  return math.tointeger(x)
end
local function fold(op)
  return function(a, ...)
    local r = tobit(a)
    for i = 1, select('#', ...) do r = op(r, tobit((select(i, ...)))) end
    return r + 0.0
  end
end
local function rshift(x, n) return (x & 0xffffffff) >> (n & 31) end
local bit = {
  tobit = function(x) return tobit(x) + 0.0 end,
  bnot = function(x) return tobit(~tobit(x)) + 0.0 end,
  band = fold(function(a, b) return a & b end),
  bor = fold(function(a, b) return a | b end),
  bxor = fold(function(a, b) return a ~ b end),
  lshift = function(x, n) return tobit(tobit(x) << (tobit(n) & 31)) + 0.0 end,
  rshift = function(x, n) return tobit(rshift(tobit(x), tobit(n))) + 0.0 end,
  arshift = function(x, n)
    x = tobit(x); n = tobit(n) & 31
    if x >= 0 then return tobit(x >> n) + 0.0 end
    return tobit(~((~x) >> n)) + 0.0
  end,
  rol = function(x, n)
    x = tobit(x); n = tobit(n) & 31
    if n == 0 then return x + 0.0 end
    return tobit((x << n) | rshift(x, 32 - n)) + 0.0
  end,
  ror = function(x, n)
    x = tobit(x); n = tobit(n) & 31
    if n == 0 then return x + 0.0 end
    return tobit(rshift(x, n) | (x << (32 - n))) + 0.0
  end,
  bswap = function(x)
    x = tobit(x)
    local b0, b1, b2, b3 = x & 0xff, (x >> 8) & 0xff, (x >> 16) & 0xff, rshift(x, 24) & 0xff
    return tobit((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) + 0.0
  end,
  tohex = function(x, n)
    x = tobit(x)
    n = n and tobit(n) or 8
    local digits = '0123456789abcdef'
    if n < 0 then n = -n; digits = '0123456789ABCDEF' end
    if n > 8 then n = 8 end
    local s = ''
    for i = 0, n - 1 do
      local d = rshift(x, 4 * i) & 15
      s = digits:sub(d + 1, d + 1) .. s
    end
    return s
  end,
}

local null = setmetatable({}, {__tostring = function() return 'null' end, __newindex = ro_error, __metatable = locked_mt})
readonly[null] = true
dbg.getregistry().kv_json_null = null
local cjson = { null = null, encode = js.json_encode, decode = js.json_decode,
  encode_keep_buffer = function() end,
  encode_max_depth = js.json_encode_max_depth, decode_max_depth = js.json_decode_max_depth,
  encode_invalid_numbers = js.json_encode_invalid_numbers, decode_invalid_numbers = function() end }

local redis = {
  call = js.call, pcall = js.pcall, sha1hex = js.sha1hex,
  error_reply = js.error_reply, status_reply = js.status_reply,
  log = js.log, setresp = js.setresp, set_repl = js.set_repl,
  replicate_commands = function() return true end,
  breakpoint = function() return false end,
  debug = function() end,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REPL_NONE = 0, REPL_AOF = 1, REPL_SLAVE = 2, REPL_REPLICA = 2, REPL_ALL = 3,
  REDIS_VERSION = js.REDIS_VERSION, REDIS_VERSION_NUM = js.REDIS_VERSION_NUM,
}

local G = {}
local env
local base_tonumber = tonumber
G.assert = assert; G.error = error; G.ipairs = ipairs; G.next = next; G.pairs = pairs
G.pcall = pcall; G.xpcall = xpcall; G.rawequal = rawequal; G.rawget = rawget; G.rawlen = rawlen
G.select = select; G.tostring = tostring; G.type = type; G.getmetatable = getmetatable
G.unpack = table.unpack; G.gcinfo = function() return collectgarbage('count') end
G.collectgarbage = collectgarbage
G.tonumber = function(x, base)
  local n
  if base == nil then n = base_tonumber(x) else n = base_tonumber(x, base) end
  if mtype(n) == 'integer' then return n + 0.0 end
  return n
end
G.setmetatable = function(t, mt)
  if readonly[t] then error('Attempt to modify a readonly table', 0) end
  return setmetatable(t, mt)
end
G.rawset = function(t, k, v)
  if readonly[t] then error('Attempt to modify a readonly table', 0) end
  return rawset(t, k, v)
end
G.loadstring = function(s, name)
  local f = load(s, name, 't', env)
  return f
end
G._VERSION = 'Lua 5.1'
G.string = protect(str); G.table = protect(tb); G.math = protect(m)
G.coroutine = protect(copy(coroutine))
G.bit = protect(bit); G.cjson = protect(cjson); G.redis = protect(redis)

-- Reads go to G as a table (no function call for a global that exists); a miss reaches G's
-- own __index, which raises Redis's error.
setmetatable(G, {
  __index = function(_, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end,
})
env = setmetatable({}, {
  __index = G,
  __newindex = ro_error,
  __metatable = locked_mt,
  __pairs = function() return next, G, nil end,
})
readonly[env] = true
G._G = env

-- Redis's __redis__err__handler: every error becomes {err=, source=, line=}.
local function handler(err)
  -- The frame that failed: past the function that raised (error, redis.call) and the sandbox's own.
  local level = 2
  local i = dbg.getinfo(level, 'nSl')
  while i and (i.what == 'C' or i.what == 'J' or i.source == '=prelude') and level < 10 do
    level = level + 1
    i = dbg.getinfo(level, 'nSl')
  end
  if type(err) ~= 'table' then err = {err = 'ERR ' .. tostring(err)} end
  if i then
    rawset(err, 'source', i.source)
    rawset(err, 'line', i.currentline)
  end
  return err
end

-- Function libraries (FUNCTION LOAD): their chunk and the functions it defines share fenv. While
-- a library loads, fenv offers only the load API (Redis 7.0's library globals: redis with
-- register_function, log and the version); when a function runs, the script globals.
local loading = false
local function missing(k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 3)
end
local lredis = setmetatable({
  register_function = js.register_function, log = js.log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = js.REDIS_VERSION, REDIS_VERSION_NUM = js.REDIS_VERSION_NUM,
}, {__index = function(_, k) missing(k) end})
lredis = protect(lredis)
local fenv = setmetatable({}, {
  __index = function(_, k)
    if loading then
      if k == 'redis' then return lredis end
      missing(k)
    end
    local v = rawget(G, k)
    if v == nil then missing(k) end
    return v
  end,
  __newindex = ro_error,
  __metatable = locked_mt,
})
readonly[fenv] = true
local functions = { env = fenv, set_loading = function(b) loading = b end }

-- The body a script runs in, as a coroutine the host resumes in slices: xpcall can be yielded
-- across (the count hook yields), and the handler adds where the error happened.
local function run(h, f, ...)
  local ok, r = xpcall(f, h, ...)
  return ok, r
end

return env, G, handler, functions, run
`;
