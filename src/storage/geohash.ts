// The geohash arithmetic of Redis 7.0's GEO commands (its geohash.c / geohash_helper.c
// semantics): the 52-bit interleaved score of a (longitude, latitude) point within Redis's
// Web Mercator limits, its decoding to the cell centre, the neighbour cells covering a search
// shape, and the haversine distances with Redis's Earth radius. Pure functions of numbers; owns
// no data and never reads or writes a collection. 64-bit steps use BigInt so wrap-around and
// the odd cases (a score outside 52 bits) decode as Redis's uint64 arithmetic does.

/** Redis's coordinate limits (EPSG:900913): latitude cannot reach the poles. */
export const GEO_LAT_MIN = -85.05112878;
export const GEO_LAT_MAX = 85.05112878;
export const GEO_LONG_MIN = -180;
export const GEO_LONG_MAX = 180;
/** Bits per coordinate in a stored score (26 * 2 = 52, exact in a double). */
export const GEO_STEP_MAX = 26;

import { asinRounded, cosRounded, sinRounded } from './libm.js';

const EARTH_RADIUS_M = 6372797.560856;
const MERCATOR_MAX = 20037726.37;
const D_R = Math.PI / 180.0;
const U64_MASK = (1n << 64n) - 1n;
const ODD_BITS = 0xaaaaaaaaaaaaaaaan;
const EVEN_BITS = 0x5555555555555555n;

export interface HashBits {
  readonly bits: bigint;
  readonly step: number;
}

interface Range {
  readonly min: number;
  readonly max: number;
}

export interface Area {
  readonly lon: Range;
  readonly lat: Range;
}

const WGS84_LON: Range = { min: GEO_LONG_MIN, max: GEO_LONG_MAX };
const WGS84_LAT: Range = { min: GEO_LAT_MIN, max: GEO_LAT_MAX };
/** The standard geohash ranges, which GEOHASH's text uses. */
const STANDARD_LAT: Range = { min: -90, max: 90 };

const SPREAD: ReadonlyArray<readonly [bigint, bigint]> = [
  [16n, 0x0000ffff0000ffffn],
  [8n, 0x00ff00ff00ff00ffn],
  [4n, 0x0f0f0f0f0f0f0f0fn],
  [2n, 0x3333333333333333n],
  [1n, 0x5555555555555555n],
];

/** Spreads the bits of a uint32 to the even positions (magic-number interleave). */
function spread(v: bigint): bigint {
  let x = v;
  for (const [s, m] of SPREAD) x = ((x | (x << s)) & U64_MASK) & m;
  return x;
}

const SQUASH: ReadonlyArray<readonly [bigint, bigint]> = [
  [0n, 0x5555555555555555n],
  [1n, 0x3333333333333333n],
  [2n, 0x0f0f0f0f0f0f0f0fn],
  [4n, 0x00ff00ff00ff00ffn],
  [8n, 0x0000ffff0000ffffn],
  [16n, 0x00000000ffffffffn],
];

/** The even bits of `v` gathered into the low 32. */
function squash(v: bigint): bigint {
  let x = v;
  for (const [s, m] of SQUASH) x = (x | (x >> s)) & m;
  return x;
}

/** geohashEncode: null outside the WGS84 limits or `lat`'s own range. */
function encode(lonRange: Range, latRange: Range, lon: number, lat: number, step: number): HashBits | null {
  if (lon > GEO_LONG_MAX || lon < GEO_LONG_MIN || lat > GEO_LAT_MAX || lat < GEO_LAT_MIN) return null;
  if (lat < latRange.min || lat > latRange.max || lon < lonRange.min || lon > lonRange.max) return null;
  const scale = 2 ** step;
  // C converts the scaled offsets to uint32_t by truncation.
  const latOff = Math.trunc(((lat - latRange.min) / (latRange.max - latRange.min)) * scale);
  const lonOff = Math.trunc(((lon - lonRange.min) / (lonRange.max - lonRange.min)) * scale);
  return { bits: (spread(BigInt(latOff)) | (spread(BigInt(lonOff)) << 1n)) & U64_MASK, step };
}

/** The cell of `hash` (geohashDecode over Redis's ranges). */
export function decodeArea(hash: HashBits, latRange: Range = WGS84_LAT): Area {
  const lat32 = squash(hash.bits) & 0xffffffffn;
  const lon32 = squash(hash.bits >> 1n) & 0xffffffffn;
  const cells = 2 ** hash.step;
  const latScale = latRange.max - latRange.min;
  const lonScale = WGS84_LON.max - WGS84_LON.min;
  const ilat = Number(lat32);
  const ilon = Number(lon32);
  // uint32 arithmetic for the cell's upper edge, as C's (ilato + 1).
  const ilat1 = (ilat + 1) >>> 0;
  const ilon1 = (ilon + 1) >>> 0;
  return {
    lat: { min: latRange.min + (ilat / cells) * latScale, max: latRange.min + (ilat1 / cells) * latScale },
    lon: { min: WGS84_LON.min + (ilon / cells) * lonScale, max: WGS84_LON.min + (ilon1 / cells) * lonScale },
  };
}

/** The centre of a cell, clamped to the limits: [longitude, latitude]. */
function areaCentre(a: Area): [number, number] {
  let lon = (a.lon.min + a.lon.max) / 2;
  if (lon > GEO_LONG_MAX) lon = GEO_LONG_MAX;
  if (lon < GEO_LONG_MIN) lon = GEO_LONG_MIN;
  let lat = (a.lat.min + a.lat.max) / 2;
  if (lat > GEO_LAT_MAX) lat = GEO_LAT_MAX;
  if (lat < GEO_LAT_MIN) lat = GEO_LAT_MIN;
  return [lon, lat];
}

/** A score as C's (uint64_t) conversion of a double sees it on x86-64. */
function scoreBits(score: number): bigint {
  // Out of range: the compiled conversion gives 0 above, the "integer indefinite" value below.
  if (score >= 2 ** 64) return 0n;
  if (score <= -(2 ** 63)) return 1n << 63n;
  return BigInt(Math.trunc(score)) & U64_MASK;
}

/** Whether a coordinate pair is inside the limits GEOADD and the searches accept. */
export function validLonLat(lon: number, lat: number): boolean {
  return !(lon < GEO_LONG_MIN || lon > GEO_LONG_MAX || lat < GEO_LAT_MIN || lat > GEO_LAT_MAX);
}

/** The zset score GEOADD stores for a valid point. */
export function geoScore(lon: number, lat: number): number {
  const h = encode(WGS84_LON, WGS84_LAT, lon, lat, GEO_STEP_MAX);
  if (h === null) throw new Error('geoScore: coordinates outside the limits');
  return Number(align52(h));
}

/** The point a score stands for: [longitude, latitude] of its cell's centre. */
export function decodeScore(score: number): [number, number] {
  return areaCentre(decodeArea({ bits: scoreBits(score), step: GEO_STEP_MAX }));
}

const GEOHASH_ALPHABET = '0123456789bcdefghjkmnpqrstuvwxyz';

/** GEOHASH's 11-character standard geohash of a score (the last character stands for 0 bits). */
export function standardGeohash(score: number): string {
  const [lon, lat] = decodeScore(score);
  const h = encode(WGS84_LON, STANDARD_LAT, lon, lat, GEO_STEP_MAX);
  const bits = h === null ? 0n : h.bits;
  let s = '';
  for (let i = 0; i < 10; i++) s += GEOHASH_ALPHABET[Number((bits >> BigInt(52 - (i + 1) * 5)) & 0x1fn)];
  return s + GEOHASH_ALPHABET[0];
}

function align52(h: HashBits): bigint {
  return (h.bits << BigInt(52 - h.step * 2)) & U64_MASK;
}

/** The score range [min, max) holding every point of the cell `h`. */
export function cellScores(h: HashBits): { min: number; max: number } {
  return { min: Number(align52(h)), max: Number(align52({ bits: h.bits + 1n, step: h.step })) };
}

function move(h: HashBits, d: number, own: bigint, other: bigint): HashBits {
  if (d === 0) return h;
  let x = h.bits & own;
  const y = h.bits & other;
  const shift = BigInt(64 - h.step * 2);
  const zz = other >> shift;
  if (d > 0) x = (x + (zz + 1n)) & U64_MASK;
  else x = ((x | zz) - (zz + 1n)) & U64_MASK;
  x &= own >> shift;
  return { bits: x | y, step: h.step };
}

/** East/west moves change the longitude bits (odd), north/south the latitude bits (even). */
function neighbour(h: HashBits, dx: number, dy: number): HashBits {
  return move(move(h, dx, ODD_BITS, EVEN_BITS), dy, EVEN_BITS, ODD_BITS);
}

export type Shape =
  | { readonly type: 'radius'; readonly lon: number; readonly lat: number; readonly conversion: number; readonly radius: number }
  | { readonly type: 'box'; readonly lon: number; readonly lat: number; readonly conversion: number; readonly width: number; readonly height: number };

const deg = (rad: number): number => rad / D_R;
const rad = (d: number): number => d * D_R;

function estimateSteps(rangeM: number, lat: number): number {
  if (rangeM === 0) return 26;
  let range = rangeM;
  let step = 1;
  while (range < MERCATOR_MAX) {
    range *= 2;
    step++;
  }
  step -= 2;
  if (lat > 66 || lat < -66) {
    step--;
    if (lat > 80 || lat < -80) step--;
  }
  return Math.min(26, Math.max(1, step));
}

/** [minLon, minLat, maxLon, maxLat] around the shape's centre. */
function boundingBox(s: Shape): [number, number, number, number] {
  const half = s.type === 'radius' ? [s.radius, s.radius] : [s.height / 2, s.width / 2];
  const height = s.conversion * (half[0] as number);
  const width = s.conversion * (half[1] as number);
  const latDelta = deg(height / EARTH_RADIUS_M);
  const lonDeltaTop = deg(width / EARTH_RADIUS_M / cosRounded(rad(s.lat + latDelta)));
  const lonDeltaBottom = deg(width / EARTH_RADIUS_M / cosRounded(rad(s.lat - latDelta)));
  const south = s.lat < 0;
  const minLon = south ? s.lon - lonDeltaBottom : s.lon - lonDeltaTop;
  const maxLon = south ? s.lon + lonDeltaBottom : s.lon + lonDeltaTop;
  return [minLon, s.lat - latDelta, maxLon, s.lat + latDelta];
}

/**
 * The cells a search scans, in Redis's order (centre, N, S, E, W, NE, NW, SE, SW), null for a
 * neighbour the bounding box cannot reach.
 */
export function searchCells(s: Shape): Array<HashBits | null> {
  const [minLon, minLat, maxLon, maxLat] = boundingBox(s);
  const radiusM = (s.type === 'radius' ? s.radius : Math.sqrt((s.width / 2) * (s.width / 2) + (s.height / 2) * (s.height / 2))) * s.conversion;
  let steps = estimateSteps(radiusM, s.lat);
  const centreAt = (st: number): HashBits => encode(WGS84_LON, WGS84_LAT, s.lon, s.lat, st) as HashBits;
  let hash = centreAt(steps);
  // A neighbour nearer than the box's edge means the cells are too small to cover it.
  const tooSmall =
    decodeArea(neighbour(hash, 0, 1)).lat.max < maxLat ||
    decodeArea(neighbour(hash, 0, -1)).lat.min > minLat ||
    decodeArea(neighbour(hash, 1, 0)).lon.max < maxLon ||
    decodeArea(neighbour(hash, -1, 0)).lon.min > minLon;
  if (steps > 1 && tooSmall) {
    steps--;
    hash = centreAt(steps);
  }
  const area = decodeArea(hash);
  const dropS = steps >= 2 && area.lat.min < minLat;
  const dropN = steps >= 2 && area.lat.max > maxLat;
  const dropW = steps >= 2 && area.lon.min < minLon;
  const dropE = steps >= 2 && area.lon.max > maxLon;
  const cell = (dx: number, dy: number, drop: boolean): HashBits | null => (drop ? null : neighbour(hash, dx, dy));
  return [
    hash,
    cell(0, 1, dropN),
    cell(0, -1, dropS),
    cell(1, 0, dropE),
    cell(-1, 0, dropW),
    cell(1, 1, dropN || dropE),
    cell(-1, 1, dropN || dropW),
    cell(1, -1, dropS || dropE),
    cell(-1, -1, dropS || dropW),
  ];
}

function latDistance(lat1: number, lat2: number): number {
  return EARTH_RADIUS_M * Math.abs(rad(lat2) - rad(lat1));
}

/** Haversine distance in metres between two points (degrees). */
export function geoDistance(lon1: number, lat1: number, lon2: number, lat2: number): number {
  const v = sinRounded((rad(lon2) - rad(lon1)) / 2);
  if (v === 0.0) return latDistance(lat1, lat2);
  const lat1r = rad(lat1);
  const lat2r = rad(lat2);
  const u = sinRounded((lat2r - lat1r) / 2);
  const a = u * u + cosRounded(lat1r) * cosRounded(lat2r) * v * v;
  return 2.0 * EARTH_RADIUS_M * asinRounded(Math.sqrt(a));
}

/** The point's distance from the shape's centre in metres, or null when it is outside the shape. */
export function distanceInShape(s: Shape, lon: number, lat: number): number | null {
  if (s.type === 'radius') {
    const d = geoDistance(s.lon, s.lat, lon, lat);
    return d > s.radius * s.conversion ? null : d;
  }
  if (latDistance(lat, s.lat) > (s.height * s.conversion) / 2) return null;
  if (geoDistance(lon, lat, s.lon, lat) > (s.width * s.conversion) / 2) return null;
  return geoDistance(s.lon, s.lat, lon, lat);
}
