// The GEO commands (Redis geo.c) over sorted sets, with Redis 7.0's replies and error strings:
// a member's score is its 52-bit geohash (storage/geohash.ts); GEOADD logs the zadd ops ZADD
// would, the STORE forms replace their destination in one entry as ZRANGESTORE does. Reads go
// through ctx.store; writes only through ctx.write. Never mutates a SortedSet.

import type { CommandContext, CommandModule } from '../command-types.js';
import type { ReplyWriter } from '../../protocol/reply.js';
import type { SortedSet, ZEntry } from '../../storage/zset.js';
import { keyFromBytes, type Key } from '../../storage/types.js';
import { ERR_NOT_FLOAT, ERR_NOT_INTEGER, ERR_SYNTAX, isWord, parseInt64 } from './args.js';
import { parseScore } from './zset-args.js';
import { readZSet, replyPerMember, storeOps } from './zsets.js';
import { zaddOps } from '../../storage/collection-ops.js';
import { f80FromDouble, formatFixed, formatLongDoubleHuman } from './float80.js';
import { cellScores, decodeScore, distanceInShape, geoDistance, geoScore, searchCells, standardGeohash, validLonLat, type Shape } from '../../storage/geohash.js';
import { specIn, R, WD } from './spec.js';
import { key } from './key-specs.js';
import { partialSort } from './partial-sort.js';

const ERR_BAD_MEMBER = 'ERR could not decode requested zset member';
const ERR_UNIT = 'ERR unsupported unit provided. please use M, KM, FT, MI';

/** Metres per unit, as Redis's GEO units. */
const UNIT_METRES: ReadonlyArray<readonly [string, number]> = [['m', 1], ['km', 1000], ['ft', 0.3048], ['mi', 1609.34]];

function unitOf(b: Buffer): number | null {
  for (const [name, metres] of UNIT_METRES) if (isWord(b, name)) return metres;
  return null;
}

/** Redis's addReplyHumanLongDouble of a coordinate. */
function replyCoord(out: ReplyWriter, x: number): void {
  out.doubleText(formatLongDoubleHuman(f80FromDouble(x)));
}

/** A distance with four decimals (Redis's fixedpoint_d2string: llrint of d * 10^4), a bulk string. */
function replyDistance(out: ReplyWriter, d: number): void {
  if (d === 0) return out.bulk('0.0000');
  const scaled = d * 10000;
  let n = Math.round(scaled);
  // llrint rounds ties to even, Math.round up.
  if (n - scaled === 0.5 && n % 2 !== 0) n -= 1;
  const neg = n < 0;
  const digits = String(Math.abs(n)).padStart(5, '0');
  out.bulk(`${neg ? '-' : ''}${digits.slice(0, -4)}.${digits.slice(-4)}`);
}

/** printf("%f") of a double, as Redis's invalid-pair error prints it. */
function cFixed6(x: number): string {
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  return formatFixed(f80FromDouble(x), 6);
}

type Parsed<T> = T | { readonly error: string };

function isError<T>(p: Parsed<T>): p is { readonly error: string } {
  return typeof p === 'object' && p !== null && 'error' in p;
}

/** extractLongLatOrReply: two doubles inside Redis's limits. */
function parseLonLat(lonB: Buffer, latB: Buffer): Parsed<[number, number]> {
  const lon = parseScore(lonB);
  if (lon === null) return { error: ERR_NOT_FLOAT };
  const lat = parseScore(latB);
  if (lat === null) return { error: ERR_NOT_FLOAT };
  if (!validLonLat(lon, lat)) return { error: `ERR invalid longitude,latitude pair ${cFixed6(lon)},${cFixed6(lat)}` };
  return [lon, lat];
}

/** extractDistanceOrReply: radius and unit. */
function parseRadius(valueB: Buffer, unitB: Buffer): Parsed<{ radius: number; conversion: number }> {
  const radius = parseScore(valueB);
  if (radius === null) return { error: 'ERR need numeric radius' };
  if (radius < 0) return { error: 'ERR radius cannot be negative' };
  const conversion = unitOf(unitB);
  return conversion === null ? { error: ERR_UNIT } : { radius, conversion };
}

/** extractBoxOrReply: width, height and unit. */
function parseBox(wB: Buffer, hB: Buffer, unitB: Buffer): Parsed<{ width: number; height: number; conversion: number }> {
  const width = parseScore(wB);
  if (width === null) return { error: 'ERR need numeric width' };
  const height = parseScore(hB);
  if (height === null) return { error: 'ERR need numeric height' };
  if (height < 0 || width < 0) return { error: 'ERR height or width cannot be negative' };
  const conversion = unitOf(unitB);
  return conversion === null ? { error: ERR_UNIT } : { width, height, conversion };
}

// ---------------------------------------------------------------- GEOADD

function geoaddCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out } = ctx;
  let nx = false;
  let xx = false;
  let ch = false;
  let at = 2;
  for (; at < argv.length; at++) {
    const a = argv[at] as Buffer;
    if (isWord(a, 'nx')) nx = true;
    else if (isWord(a, 'xx')) xx = true;
    else if (isWord(a, 'ch')) ch = true;
    else break;
  }
  const rest = argv.length - at;
  if (rest % 3 !== 0 || (xx && nx)) return out.error(ERR_SYNTAX);
  // With no triples left, ZADD (which GEOADD hands over to) refuses the empty element list.
  if (rest === 0) return out.error(ERR_SYNTAX);
  const pairs: Array<readonly [Key, number]> = [];
  for (let i = at; i < argv.length; i += 3) {
    const xy = parseLonLat(argv[i] as Buffer, argv[i + 1] as Buffer);
    if (isError(xy)) return out.error(xy.error);
    pairs.push([keyFromBytes(argv[i + 2] as Buffer), geoScore(xy[0], xy[1])]);
  }
  const key = keyFromBytes(argv[1] as Buffer);
  const z = readZSet(ctx, key);
  if (z === null) return;
  const r = zaddOps(key, z, { nx, xx, gt: false, lt: false, incr: false }, pairs, ctx.store.encodingLimits);
  if ('error' in r) return out.error(ERR_NOT_FLOAT);
  if (r.ops.length > 0) ctx.write(r.ops);
  out.integer(ch ? r.added + r.updated : r.added);
}

// ---------------------------------------------------------------- GEOPOS / GEODIST / GEOHASH

function geoposCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const z = readZSet(ctx, keyFromBytes(argv[1] as Buffer));
  if (z === null) return;
  ctx.out.array(argv.length - 2);
  for (let i = 2; i < argv.length; i++) {
    const s = z?.score(keyFromBytes(argv[i] as Buffer));
    if (s === undefined) {
      ctx.out.nullArray();
      continue;
    }
    const [lon, lat] = decodeScore(s);
    ctx.out.array(2);
    replyCoord(ctx.out, lon);
    replyCoord(ctx.out, lat);
  }
}

function geodistCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out } = ctx;
  let toMetres = 1;
  if (argv.length === 5) {
    const u = unitOf(argv[4] as Buffer);
    if (u === null) return out.error(ERR_UNIT);
    toMetres = u;
  } else if (argv.length > 5) {
    return out.error(ERR_SYNTAX);
  }
  const z = readZSet(ctx, keyFromBytes(argv[1] as Buffer));
  if (z === null) return;
  const s1 = z?.score(keyFromBytes(argv[2] as Buffer));
  const s2 = z?.score(keyFromBytes(argv[3] as Buffer));
  if (s1 === undefined || s2 === undefined) return out.nullBulk();
  const [lon1, lat1] = decodeScore(s1);
  const [lon2, lat2] = decodeScore(s2);
  replyDistance(out, geoDistance(lon1, lat1, lon2, lat2) / toMetres);
}

function geohashCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  replyPerMember(ctx, argv, (s) => ctx.out.bulk(standardGeohash(s)));
}

// ---------------------------------------------------------------- searches

/** How a search command takes its arguments (Redis's georadiusGeneric flags). */
interface SearchMode {
  readonly from: 'lonlat' | 'member' | 'search';
  /** GEORADIUS*_RO: no STORE / STOREDIST. */
  readonly readOnly: boolean;
  /** GEOSEARCHSTORE: destination at argv[1], source at argv[2], STOREDIST a flag. */
  readonly searchStore: boolean;
}

interface SearchOptions {
  withDist: boolean;
  withHash: boolean;
  withCoord: boolean;
  sort: 'none' | 'asc' | 'desc';
  any: boolean;
  count: number;
  storeKey: Key | null;
  storeDist: boolean;
  centre: [number, number] | null;
  radius: { radius: number; conversion: number } | null;
  box: { width: number; height: number; conversion: number } | null;
  fromMember: boolean;
  fromLonLat: boolean;
}

/** A point found by a search, in scan order. */
interface Found {
  readonly member: Key;
  readonly score: number;
  readonly lon: number;
  readonly lat: number;
  dist: number;
}

/**
 * The options after the fixed arguments, in Redis's order of checks (the centre member is
 * looked up as its FROMMEMBER is met, so its error comes before later syntax errors).
 */
function parseSearchOptions(argv: readonly Buffer[], base: number, mode: SearchMode, z: SortedSet | undefined, o: SearchOptions): string | null {
  const search = mode.from === 'search';
  const n = argv.length - base;
  for (let i = 0; i < n; i++) {
    const a = argv[base + i] as Buffer;
    const arg = (k: number): Buffer => argv[base + i + k] as Buffer;
    if (isWord(a, 'withdist')) o.withDist = true;
    else if (isWord(a, 'withhash')) o.withHash = true;
    else if (isWord(a, 'withcoord')) o.withCoord = true;
    else if (isWord(a, 'any')) o.any = true;
    else if (isWord(a, 'asc')) o.sort = 'asc';
    else if (isWord(a, 'desc')) o.sort = 'desc';
    else if (isWord(a, 'count') && i + 1 < n) {
      const c = parseInt64(arg(1));
      if (c === null) return ERR_NOT_INTEGER;
      if (c <= 0n) return 'ERR COUNT must be > 0';
      o.count = c > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(c);
      i++;
    } else if ((isWord(a, 'store') || isWord(a, 'storedist')) && i + 1 < n && !mode.readOnly && !search) {
      o.storeKey = keyFromBytes(arg(1));
      o.storeDist = isWord(a, 'storedist');
      i++;
    } else if (isWord(a, 'storedist') && search && mode.searchStore) {
      o.storeDist = true;
    } else if (isWord(a, 'frommember') && i + 1 < n && search && !o.fromLonLat) {
      if (z !== undefined) {
        const s = z.score(keyFromBytes(arg(1)));
        if (s === undefined) return ERR_BAD_MEMBER;
        o.centre = decodeScore(s);
      }
      o.fromMember = true;
      i++;
    } else if (isWord(a, 'fromlonlat') && i + 2 < n && search && !o.fromMember) {
      const xy = parseLonLat(arg(1), arg(2));
      if (isError(xy)) return xy.error;
      o.centre = xy;
      o.fromLonLat = true;
      i += 2;
    } else if (isWord(a, 'byradius') && i + 2 < n && search && o.box === null) {
      const r = parseRadius(arg(1), arg(2));
      if (isError(r)) return r.error;
      o.radius = r;
      i += 2;
    } else if (isWord(a, 'bybox') && i + 3 < n && search && o.radius === null) {
      const b = parseBox(arg(1), arg(2), arg(3));
      if (isError(b)) return b.error;
      o.box = b;
      i += 3;
    } else {
      return ERR_SYNTAX;
    }
  }
  return null;
}

/** The checks after the options, in Redis's order. */
function checkSearchOptions(argv: readonly Buffer[], mode: SearchMode, o: SearchOptions): string | null {
  if (o.storeKey !== null && (o.withDist || o.withHash || o.withCoord)) {
    return `ERR ${mode.searchStore ? 'GEOSEARCHSTORE' : 'STORE option in GEORADIUS'} is not compatible with WITHDIST, WITHHASH and WITHCOORD options`;
  }
  const name = (argv[0] as Buffer).toString('latin1');
  if (mode.from === 'search' && !o.fromLonLat && !o.fromMember) return `ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for ${name}`;
  if (mode.from === 'search' && o.radius === null && o.box === null) return `ERR exactly one of BYRADIUS and BYBOX can be specified for ${name}`;
  if (o.any && o.count === 0) return 'ERR the ANY argument requires COUNT argument';
  return null;
}

/** The members inside `shape`, scanning Redis's cells in its order; stops at `limit` (0: none). */
function pointsInShape(z: SortedSet, shape: Shape, limit: number): Found[] {
  const found: Found[] = [];
  const cells = searchCells(shape);
  let last = 0;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells[i];
    if (cell === null || cell === undefined) continue;
    // Large radii make neighbouring cells coincide; each is scanned once (Redis compares with
    // the last scanned neighbour only, never with the centre).
    const prev = cells[last];
    if (last !== 0 && prev && prev.bits === cell.bits && prev.step === cell.step) continue;
    if (limit > 0 && found.length >= limit) break;
    const { min, max } = cellScores(cell);
    for (const [member, score] of z.rangeByScore({ min, minEx: false, max, maxEx: true })) {
      const [lon, lat] = decodeScore(score);
      const dist = distanceInShape(shape, lon, lat);
      if (dist !== null) found.push({ member, score, lon, lat, dist });
      if (limit > 0 && found.length >= limit) break;
    }
    last = i;
  }
  return found;
}

function replyFound(out: ReplyWriter, found: readonly Found[], o: SearchOptions): void {
  const extras = (o.withDist ? 1 : 0) + (o.withHash ? 1 : 0) + (o.withCoord ? 1 : 0);
  out.array(found.length);
  for (const f of found) {
    if (extras > 0) out.array(extras + 1);
    out.bulkLatin1(f.member);
    if (o.withDist) replyDistance(out, f.dist);
    if (o.withHash) out.integer(Math.trunc(f.score));
    if (o.withCoord) {
      out.array(2);
      replyCoord(out, f.lon);
      replyCoord(out, f.lat);
    }
  }
}

/** GEORADIUS, GEORADIUSBYMEMBER (and _RO), GEOSEARCH and GEOSEARCHSTORE (georadiusGeneric). */
function searchGeneric(mode: SearchMode) {
  return (ctx: CommandContext, argv: readonly Buffer[]): void => {
    const { out } = ctx;
    const z = readZSet(ctx, keyFromBytes(argv[mode.searchStore ? 2 : 1] as Buffer));
    if (z === null) return;
    const o: SearchOptions = { withDist: false, withHash: false, withCoord: false, sort: 'none', any: false, count: 0, storeKey: null, storeDist: false, centre: null, radius: null, box: null, fromMember: false, fromLonLat: false };
    let base: number;
    if (mode.from === 'lonlat') {
      base = 6;
      const xy = parseLonLat(argv[2] as Buffer, argv[3] as Buffer);
      if (isError(xy)) return out.error(xy.error);
      o.centre = xy;
      const r = parseRadius(argv[4] as Buffer, argv[5] as Buffer);
      if (isError(r)) return out.error(r.error);
      o.radius = r;
    } else if (mode.from === 'member') {
      base = 5;
      // Without a source key Redis still parses the options, to pick the reply.
      if (z !== undefined) {
        const s = z.score(keyFromBytes(argv[2] as Buffer));
        if (s === undefined) return out.error(ERR_BAD_MEMBER);
        o.centre = decodeScore(s);
        const r = parseRadius(argv[3] as Buffer, argv[4] as Buffer);
        if (isError(r)) return out.error(r.error);
        o.radius = r;
      }
    } else {
      base = mode.searchStore ? 3 : 2;
      if (mode.searchStore) o.storeKey = keyFromBytes(argv[1] as Buffer);
    }
    const err = parseSearchOptions(argv, base, mode, z, o) ?? checkSearchOptions(argv, mode, o);
    if (err !== null) return out.error(err);
    if (z === undefined) {
      if (o.storeKey === null) return out.array(0);
      return storeFound(ctx, o.storeKey, []);
    }
    if (o.count !== 0 && o.sort === 'none' && !o.any) o.sort = 'asc';
    const [lon, lat] = o.centre as [number, number];
    const shape: Shape = o.box !== null ? { type: 'box', lon, lat, ...o.box } : { type: 'radius', lon, lat, ...(o.radius as { radius: number; conversion: number }) };
    const found = pointsInShape(z, shape, o.any ? o.count : 0);
    const returned = o.count === 0 || found.length < o.count ? found.length : o.count;
    if (o.sort !== 'none') {
      const sign = o.sort === 'asc' ? 1 : -1;
      const cmp = (a: Found, b: Found): number => (a.dist > b.dist ? sign : a.dist === b.dist ? 0 : -sign);
      // Redis sorts a whole result with glibc's qsort (a stable merge sort) and the first COUNT
      // of a larger one with its pqsort: equal distances keep the order each leaves them in.
      if (returned === found.length) found.sort(cmp);
      else partialSort(found, cmp, 0, returned - 1);
    }
    found.length = returned;
    for (const f of found) f.dist /= shape.conversion;
    if (o.storeKey === null) return replyFound(out, found, o);
    storeFound(ctx, o.storeKey, found.map((f): ZEntry => [f.member, o.storeDist ? f.dist : f.score]));
  };
}

/** The STORE forms: replace `dst` with the result (delete it when empty) in one entry; reply the count. */
function storeFound(ctx: CommandContext, dst: Key, entries: readonly ZEntry[]): void {
  // Redis builds the result as a skiplist, then converts it to a listpack when it fits.
  const ops = storeOps(ctx.store, dst, entries, 'whole');
  if (ops.length > 0) ctx.write(ops);
  ctx.out.integer(entries.length);
}

// ---------------------------------------------------------------- table

const spec = specIn('geo');

const RADIUS_TAIL = 'm|km|ft|mi [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC|DESC]';
const SEARCH_TAIL = 'FROMMEMBER member|FROMLONLAT longitude latitude BYRADIUS radius m|km|ft|mi|BYBOX width height m|km|ft|mi [ASC|DESC] [COUNT count [ANY]]';

export const geoCommands: CommandModule = [
  spec({ name: 'geoadd', keySpecs: [key('RW update', 1)], arity: -5, flags: WD, summary: 'Add members with their coordinates to a geospatial index (a sorted set)', syntax: 'key [NX|XX] [CH] longitude latitude member [longitude latitude member ...]', handler: geoaddCommand }),
  spec({ name: 'geopos', keySpecs: [key('RO access', 1)], arity: -2, flags: R, summary: 'Longitude and latitude of members', syntax: 'key [member ...]', handler: geoposCommand }),
  spec({ name: 'geodist', keySpecs: [key('RO access', 1)], arity: -4, flags: R, summary: 'Distance between two members', syntax: 'key member1 member2 [m|km|ft|mi]', handler: geodistCommand }),
  spec({ name: 'geohash', keySpecs: [key('RO access', 1)], arity: -2, flags: R, summary: 'Standard geohash strings of members', syntax: 'key [member ...]', handler: geohashCommand }),
  spec({ name: 'georadius', keySpecs: [key('RO access', 1), key('OW update', { keyword: 'STORE', startfrom: 6 }), key('OW update', { keyword: 'STOREDIST', startfrom: 6 })], arity: -6, flags: WD, summary: 'Members within a radius of a point, optionally stored', syntax: `key longitude latitude radius ${RADIUS_TAIL} [STORE key] [STOREDIST key]`, handler: searchGeneric({ from: 'lonlat', readOnly: false, searchStore: false }) }),
  spec({ name: 'georadius_ro', keySpecs: [key('RO access', 1)], arity: -6, flags: R, summary: 'Members within a radius of a point', syntax: `key longitude latitude radius ${RADIUS_TAIL}`, handler: searchGeneric({ from: 'lonlat', readOnly: true, searchStore: false }) }),
  spec({ name: 'georadiusbymember', keySpecs: [key('RO access', 1), key('OW update', { keyword: 'STORE', startfrom: 5 }), key('OW update', { keyword: 'STOREDIST', startfrom: 5 })], arity: -5, flags: WD, summary: 'Members within a radius of a member, optionally stored', syntax: `key member radius ${RADIUS_TAIL} [STORE key] [STOREDIST key]`, handler: searchGeneric({ from: 'member', readOnly: false, searchStore: false }) }),
  spec({ name: 'georadiusbymember_ro', keySpecs: [key('RO access', 1)], arity: -5, flags: R, summary: 'Members within a radius of a member', syntax: `key member radius ${RADIUS_TAIL}`, handler: searchGeneric({ from: 'member', readOnly: true, searchStore: false }) }),
  spec({ name: 'geosearch', keySpecs: [key('RO access', 1)], arity: -7, flags: R, summary: 'Members within a radius or box of a member or point', syntax: `key ${SEARCH_TAIL} [WITHCOORD] [WITHDIST] [WITHHASH]`, handler: searchGeneric({ from: 'search', readOnly: true, searchStore: false }) }),
  spec({ name: 'geosearchstore', keySpecs: [key('OW update', 1), key('RO access', 2)], arity: -8, flags: WD, summary: 'Store the members within a radius or box of a member or point', syntax: `destination source ${SEARCH_TAIL} [STOREDIST]`, handler: searchGeneric({ from: 'search', readOnly: false, searchStore: true }) }),
];
