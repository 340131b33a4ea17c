// The HyperLogLog string format of Redis 7.0 (its hyperloglog.c header describes it), byte for
// byte: a 16-byte header ("HYLL", encoding, 3 unused bytes, the cached cardinality in 8 bytes
// little-endian whose top bit marks it stale), then 16384 6-bit registers either dense (packed
// from the low bits up) or sparse (ZERO / XZERO / VAL run-length opcodes). Owns the element hash
// (MurmurHash64A, seed 0xadc83b19), register updates with Redis's in-place sparse edits and its
// promotion to dense, merging and the cardinality estimator (Ertl's improved estimator). Pure
// byte work on copies: it never reads or writes the keyspace (commands/hyperloglog.ts does).

/** Registers: 2^14, addressed by the hash's low 14 bits. */
export const HLL_REGISTERS = 16384;
const HLL_P = 14;
/** Hash bits left after the index: a run of zeros counts at most HLL_Q + 1. */
const HLL_Q = 64 - HLL_P;
const HLL_REGISTER_BITS = 6;
const HLL_REGISTER_MAX = (1 << HLL_REGISTER_BITS) - 1;
export const HLL_HEADER_BYTES = 16;
/** A dense value's exact length: the header and 16384 * 6 bits. */
export const HLL_DENSE_BYTES = HLL_HEADER_BYTES + (HLL_REGISTERS * HLL_REGISTER_BITS) / 8;
const ENCODING_AT = 4;
const CARD_AT = 8;
/** The cached cardinality's most significant byte; its top bit set = stale. */
const CARD_STALE_AT = 15;
const ENC_DENSE = 0;
const ENC_SPARSE = 1;
/** Redis's default hll-sparse-max-bytes: a sparse value that would grow past it becomes dense. */
export const HLL_SPARSE_BYTES_DEFAULT = 3000;
/** The largest value (and run) a sparse VAL opcode holds. */
const VAL_VALUE_MAX = 32;
const VAL_RUN_MAX = 4;
const ZERO_RUN_MAX = 64;
const XZERO_RUN_MAX = 16384;
/** A sparse edit replaces one opcode by at most this many bytes (XZERO VAL XZERO). */
const EDIT_BYTES_MAX = 5;
/** Opcodes Redis looks at, from the one before the edit, to merge equal VALs. */
const MERGE_SCAN_OPCODES = 5;
/** 0.5 / ln 2: the estimator's constant for an infinite number of registers. */
const ALPHA_INF = 0.721347520444481703680;

// ---------------------------------------------------------------- the element hash

const M_HI = 0xc6a4a793;
const M_LO = 0x5bd1e995;
const SEED = 0xadc83b19;
const TWO_32 = 4294967296;

/** 64-bit words as two unsigned 32-bit halves: the result of mul64 and of the hash. */
let rHi = 0;
let rLo = 0;

/** (aHi:aLo * bHi:bLo) mod 2^64 into rHi:rLo, exactly, in 16-bit partial products. */
function mul64(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const a0 = aLo & 0xffff;
  const a1 = aLo >>> 16;
  const b0 = bLo & 0xffff;
  const b1 = bLo >>> 16;
  const mid = a0 * b1 + a1 * b0;
  const low = a0 * b0 + (mid % 65536) * 65536;
  rLo = low >>> 0;
  const hi = a1 * b1 + Math.floor(mid / 65536) + Math.floor(low / TWO_32);
  rHi = (hi + Math.imul(aHi, bLo) + Math.imul(aLo, bHi)) >>> 0;
}

/** Redis's MurmurHash64A of `data` with its HLL seed, into rHi:rLo (its little-endian reading on every host). */
function murmur64a(data: Buffer): void {
  const len = data.length;
  mul64(0, len >>> 0, M_HI, M_LO);
  let hHi = rHi;
  let hLo = (rLo ^ SEED) >>> 0;
  const whole = len - (len & 7);
  for (let i = 0; i < whole; i += 8) {
    mul64(data.readUInt32LE(i + 4), data.readUInt32LE(i), M_HI, M_LO);
    const kHi = rHi;
    mul64(kHi, (rLo ^ (kHi >>> 15)) >>> 0, M_HI, M_LO);
    mul64((hHi ^ rHi) >>> 0, (hLo ^ rLo) >>> 0, M_HI, M_LO);
    hHi = rHi;
    hLo = rLo;
  }
  const rest = len & 7;
  if (rest > 0) {
    let tHi = 0;
    let tLo = 0;
    for (let j = rest - 1; j >= 0; j--) {
      const b = data[whole + j] as number;
      if (j >= 4) tHi |= b << ((j - 4) * 8);
      else tLo |= b << (j * 8);
    }
    mul64((hHi ^ tHi) >>> 0, (hLo ^ tLo) >>> 0, M_HI, M_LO);
    hHi = rHi;
    hLo = rLo;
  }
  mul64(hHi, (hLo ^ (hHi >>> 15)) >>> 0, M_HI, M_LO);
  rLo = (rLo ^ (rHi >>> 15)) >>> 0;
}

/** Trailing zeros of a non-zero 32-bit word. */
function ctz32(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** The register an element goes to and its count (the run of zeros after the index bits, plus one: 1..51). */
export function elementRegister(element: Buffer): { index: number; count: number } {
  murmur64a(element);
  const index = rLo & (HLL_REGISTERS - 1);
  const low = rLo >>> HLL_P;
  let count: number;
  if (low !== 0) count = ctz32(low) + 1;
  else if (rHi !== 0) count = 32 - HLL_P + ctz32(rHi) + 1;
  else count = HLL_Q + 1;
  return { index, count };
}

// ---------------------------------------------------------------- validity and the header

/** Whether a string is a HyperLogLog as Redis checks before using one: magic, encoding, a dense value's length. */
export function isHll(v: Buffer): boolean {
  if (v.length < HLL_HEADER_BYTES) return false;
  if (v[0] !== 0x48 || v[1] !== 0x59 || v[2] !== 0x4c || v[3] !== 0x4c) return false; // "HYLL"
  const enc = v[ENCODING_AT] as number;
  if (enc > ENC_SPARSE) return false;
  return enc !== ENC_DENSE || v.length === HLL_DENSE_BYTES;
}

export function isDense(v: Buffer): boolean {
  return v[ENCODING_AT] === ENC_DENSE;
}

/** The cached cardinality, or null when it is stale. */
export function cachedCardinality(v: Buffer): bigint | null {
  if (((v[CARD_STALE_AT] as number) & 0x80) !== 0) return null;
  return v.readBigUInt64LE(CARD_AT);
}

// ---------------------------------------------------------------- registers

function denseGet(v: Uint8Array, at: number, index: number): number {
  const bit = index * HLL_REGISTER_BITS;
  const b = at + (bit >>> 3);
  const shift = bit & 7;
  // The last register may end in its byte: past the value reads as zero (Redis's sds terminator).
  const next = b + 1 < v.length ? (v[b + 1] as number) : 0;
  return (((v[b] as number) >>> shift) | (next << (8 - shift))) & HLL_REGISTER_MAX;
}

function denseSet(v: Uint8Array, at: number, index: number, value: number): void {
  const bit = index * HLL_REGISTER_BITS;
  const b = at + (bit >>> 3);
  const shift = bit & 7;
  v[b] = ((v[b] as number) & ~(HLL_REGISTER_MAX << shift)) | ((value << shift) & 0xff);
  if (shift > 8 - HLL_REGISTER_BITS) {
    v[b + 1] = ((v[b + 1] as number) & ~(HLL_REGISTER_MAX >>> (8 - shift))) | (value >>> (8 - shift));
  }
}

const isVal = (op: number): boolean => (op & 0x80) !== 0;
const isXzero = (op: number): boolean => (op & 0xc0) === 0x40;
const valOp = (value: number, run: number): number => 0x80 | ((value - 1) << 2) | (run - 1);
const valValue = (op: number): number => ((op >>> 2) & 0x1f) + 1;
const valRun = (op: number): number => (op & 3) + 1;
const zeroRun = (op: number): number => (op & 0x3f) + 1;

/**
 * Each opcode of a sparse body as (value, run), in order, until `visit` returns false. Returns
 * the registers covered (HLL_REGISTERS when the body is well formed), or -1 when a VAL would run
 * past the last register (Redis stops there).
 */
function walkSparse(v: Uint8Array, end: number, visit: (first: number, value: number, run: number) => void): number {
  let idx = 0;
  let p = HLL_HEADER_BYTES;
  while (p < end) {
    const op = v[p] as number;
    if (isVal(op)) {
      const run = valRun(op);
      if (idx + run > HLL_REGISTERS) return -1;
      visit(idx, valValue(op), run);
      idx += run;
      p++;
    } else if (isXzero(op)) {
      idx += (((op & 0x3f) << 8) | (p + 1 < end ? (v[p + 1] as number) : 0)) + 1;
      p += 2;
    } else {
      idx += zeroRun(op);
      p++;
    }
  }
  return idx;
}

/** Register values of any HLL (sparse or dense) merged into `max` (max per register); false when its sparse body is corrupt. */
export function mergeRegisters(max: Uint8Array, v: Buffer): boolean {
  if (isDense(v)) {
    for (let i = 0; i < HLL_REGISTERS; i++) {
      const r = denseGet(v, HLL_HEADER_BYTES, i);
      if (r > (max[i] as number)) max[i] = r;
    }
    return true;
  }
  const covered = walkSparse(v, v.length, (first, value, run) => {
    for (let i = first; i < first + run; i++) if (value > (max[i] as number)) max[i] = value;
  });
  return covered === HLL_REGISTERS;
}

/** Every register's value (PFDEBUG GETREG), or null for a corrupt sparse body. */
export function registers(v: Buffer): Uint8Array | null {
  const out = new Uint8Array(HLL_REGISTERS);
  return mergeRegisters(out, v) ? out : null;
}

/** PFDEBUG DECODE's text of a sparse body: `z:N`, `Z:N` and `v:value,run`, space-separated. */
export function decodeSparse(v: Buffer): string {
  const parts: string[] = [];
  let p = HLL_HEADER_BYTES;
  while (p < v.length) {
    const op = v[p] as number;
    if (isVal(op)) parts.push(`v:${valValue(op)},${valRun(op)}`);
    else if (isXzero(op)) parts.push(`Z:${(((op & 0x3f) << 8) | (v[p + 1] ?? 0)) + 1}`);
    else parts.push(`z:${zeroRun(op)}`);
    p += isXzero(op) ? 2 : 1;
  }
  return parts.join(' ');
}

// ---------------------------------------------------------------- the estimator

/** How many registers hold each value 0..63; `valid` false when a sparse body does not cover exactly 16384. */
function histogram(v: Buffer): { histo: Float64Array; valid: boolean } {
  const histo = new Float64Array(HLL_REGISTER_MAX + 1);
  if (isDense(v)) {
    for (let i = 0; i < HLL_REGISTERS; i++) histo[denseGet(v, HLL_HEADER_BYTES, i)]++;
    return { histo, valid: true };
  }
  // Redis sums every opcode (a VAL past the end included) and reports the body invalid after.
  let idx = 0;
  let p = HLL_HEADER_BYTES;
  while (p < v.length) {
    const op = v[p] as number;
    let run: number;
    if (isVal(op)) {
      run = valRun(op);
      histo[valValue(op)] += run;
      p++;
    } else {
      run = isXzero(op) ? (((op & 0x3f) << 8) | (v[p + 1] ?? 0)) + 1 : zeroRun(op);
      histo[0] += run;
      p += isXzero(op) ? 2 : 1;
    }
    idx += run;
  }
  return { histo, valid: idx === HLL_REGISTERS };
}

/** Ertl's sigma(x) = x + sum_k x^(2^k) 2^(k-1), summed until it no longer changes. */
function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  let prev: number;
  do {
    x *= x;
    prev = z;
    z += x * y;
    y += y;
  } while (prev !== z);
  return z;
}

/** Ertl's tau(x) = (1 - x - sum_k (1 - x^(2^-k))^2 2^-k) / 3. */
function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  let prev: number;
  do {
    x = Math.sqrt(x);
    prev = z;
    y *= 0.5;
    const d = 1 - x;
    z -= d * d * y;
  } while (prev !== z);
  return z / 3;
}

/** The estimate from a register histogram (Ertl, "New cardinality estimation algorithms for HyperLogLog sketches"). */
function estimate(histo: Float64Array): number {
  const m = HLL_REGISTERS;
  let z = m * tau((m - (histo[HLL_Q + 1] as number)) / m);
  for (let j = HLL_Q; j >= 1; j--) {
    z += histo[j] as number;
    z *= 0.5;
  }
  z += m * sigma((histo[0] as number) / m);
  const e = (ALPHA_INF * m * m) / z;
  return Number.isFinite(e) ? Math.round(e) : 0;
}

/** The estimated cardinality of one HLL, or null when its sparse body is corrupt. */
export function countOf(v: Buffer): number | null {
  const { histo, valid } = histogram(v);
  return valid ? estimate(histo) : null;
}

/** The estimated cardinality of registers held one per byte (the union PFCOUNT of several keys builds). */
export function countOfRegisters(regs: Uint8Array): number {
  const histo = new Float64Array(256);
  for (let i = 0; i < HLL_REGISTERS; i++) histo[regs[i] as number]++;
  return estimate(histo);
}

// ---------------------------------------------------------------- a value being changed

/**
 * A copy of an HLL that one command changes (PFADD, PFMERGE, PFDEBUG, PFCOUNT's cache), with
 * Redis's exact edits so the resulting bytes are Redis's. `bytes()` is the value to log.
 */
export class HllBuilder {
  private buf: Buffer;
  private len: number;

  private constructor(buf: Buffer, len: number) {
    this.buf = buf;
    this.len = len;
  }

  /** Redis's new HLL: sparse, XZERO runs covering every register, cached cardinality 0 (valid). */
  static empty(): HllBuilder {
    const runs = Math.ceil(HLL_REGISTERS / XZERO_RUN_MAX);
    const b = Buffer.alloc(HLL_HEADER_BYTES + runs * 2 + EDIT_BYTES_MAX);
    b.write('HYLL', 0, 'latin1');
    b[ENCODING_AT] = ENC_SPARSE;
    let left = HLL_REGISTERS;
    let p = HLL_HEADER_BYTES;
    while (left > 0) {
      const run = Math.min(left, XZERO_RUN_MAX);
      b[p] = 0x40 | ((run - 1) >>> 8);
      b[p + 1] = (run - 1) & 0xff;
      p += 2;
      left -= run;
    }
    return new HllBuilder(b, p);
  }

  /** A working copy of a value isHll accepted. */
  static copyOf(v: Buffer): HllBuilder {
    const b = Buffer.alloc(v.length + (isDense(v) ? 1 : EDIT_BYTES_MAX));
    v.copy(b, 0);
    return new HllBuilder(b, v.length);
  }

  get dense(): boolean {
    return this.buf[ENCODING_AT] === ENC_DENSE;
  }

  /** The value's bytes now (a copy). */
  bytes(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }

  invalidateCache(): void {
    this.buf[CARD_STALE_AT] = (this.buf[CARD_STALE_AT] as number) | 0x80;
  }

  setCache(card: number): void {
    this.buf.writeBigUInt64LE(BigInt(card), CARD_AT);
  }

  /** Add an element: 1 when a register grew, 0 when none did, -1 when the sparse body is corrupt. */
  add(element: Buffer, sparseBytesMax: number): 1 | 0 | -1 {
    const { index, count } = elementRegister(element);
    return this.set(index, count, sparseBytesMax);
  }

  /** Raise register `index` to `count` if it is lower: 1 when it did, 0 when not, -1 for a corrupt sparse body. */
  set(index: number, count: number, sparseBytesMax: number): 1 | 0 | -1 {
    if (this.dense) {
      if (count <= denseGet(this.buf, HLL_HEADER_BYTES, index)) return 0;
      denseSet(this.buf, HLL_HEADER_BYTES, index, count);
      return 1;
    }
    return this.sparseSet(index, count, sparseBytesMax);
  }

  /**
   * The sparse form converted to dense, header (and cached cardinality) kept: Redis's
   * conversion. False, with nothing changed, when the body does not cover exactly 16384 registers.
   */
  toDense(): boolean {
    if (this.dense) return true;
    const d = Buffer.alloc(HLL_DENSE_BYTES + 1);
    this.buf.copy(d, 0, 0, HLL_HEADER_BYTES);
    d[ENCODING_AT] = ENC_DENSE;
    const covered = walkSparse(this.buf, this.len, (first, value, run) => {
      for (let i = first; i < first + run; i++) denseSet(d, HLL_HEADER_BYTES, i, value);
    });
    if (covered !== HLL_REGISTERS) return false;
    this.buf = d;
    this.len = HLL_DENSE_BYTES;
    return true;
  }

  private byteAt(i: number): number {
    return i < this.len ? (this.buf[i] as number) : 0;
  }

  /** Room for `extra` more bytes past len (the sparse body grows a few bytes per edit). */
  private reserve(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    const b = Buffer.alloc(Math.max(this.buf.length * 2, this.len + extra));
    this.buf.copy(b, 0, 0, this.len);
    this.buf = b;
  }

  /** Redis's sparse update: the opcode covering `index` is rewritten in place, then equal VALs nearby merged. */
  private sparseSet(index: number, count: number, sparseBytesMax: number): 1 | 0 | -1 {
    if (count > VAL_VALUE_MAX) return this.promote(index, count);
    const buf = this.buf;
    // Find the opcode covering the register, and the one before it.
    let p = HLL_HEADER_BYTES;
    let first = 0;
    let prev = -1;
    let span = 0;
    while (p < this.len) {
      const op = buf[p] as number;
      let opLen = 1;
      if (isVal(op)) span = valRun(op);
      else if (isXzero(op)) {
        span = (((op & 0x3f) << 8) | this.byteAt(p + 1)) + 1;
        opLen = 2;
      } else span = zeroRun(op);
      if (index <= first + span - 1) break;
      prev = p;
      p += opLen;
      first += span;
    }
    if (span === 0 || p >= this.len) return -1;
    const op = buf[p] as number;
    if (isVal(op)) {
      if (valValue(op) >= count) return 0;
      if (valRun(op) === 1) {
        buf[p] = valOp(count, 1);
        return this.updated(prev);
      }
    } else if (!isXzero(op) && zeroRun(op) === 1) {
      buf[p] = valOp(count, 1);
      return this.updated(prev);
    }
    // Split the opcode: what comes before the register, the register, what comes after.
    const seq: number[] = [];
    const last = first + span - 1;
    const zeros = (n: number): void => {
      if (n > ZERO_RUN_MAX) seq.push(0x40 | ((n - 1) >>> 8), (n - 1) & 0xff);
      else seq.push(n - 1);
    };
    if (isVal(op)) {
      const cur = valValue(op);
      if (index !== first) seq.push(valOp(cur, index - first));
      seq.push(valOp(count, 1));
      if (index !== last) seq.push(valOp(cur, last - index));
    } else {
      if (index !== first) zeros(index - first);
      seq.push(valOp(count, 1));
      if (index !== last) zeros(last - index);
    }
    const oldLen = isXzero(op) ? 2 : 1;
    const delta = seq.length - oldLen;
    if (delta > 0 && this.len + delta > sparseBytesMax) return this.promote(index, count);
    this.reserve(EDIT_BYTES_MAX);
    const b = this.buf;
    if (delta !== 0) b.copy(b, p + oldLen + delta, p + oldLen, this.len);
    this.len += delta;
    for (let i = 0; i < seq.length; i++) b[p + i] = seq[i] as number;
    return this.updated(prev);
  }

  /** After a sparse edit: merge adjacent equal VALs (Redis scans five opcodes from the one before the edit). */
  private updated(prev: number): 1 {
    const b = this.buf;
    let p = prev >= 0 ? prev : HLL_HEADER_BYTES;
    let scan = MERGE_SCAN_OPCODES;
    while (p < this.len && scan-- > 0) {
      const op = b[p] as number;
      if (isXzero(op)) {
        p += 2;
        continue;
      }
      if (!isVal(op)) {
        p++;
        continue;
      }
      if (p + 1 < this.len && isVal(b[p + 1] as number)) {
        const next = b[p + 1] as number;
        const run = valRun(op) + valRun(next);
        if (valValue(op) === valValue(next) && run <= VAL_RUN_MAX) {
          b[p + 1] = valOp(valValue(op), run);
          b.copy(b, p, p + 1, this.len);
          this.len--;
          continue;
        }
      }
      p++;
    }
    this.invalidateCache();
    return 1;
  }

  /** A register the sparse form cannot hold (or that would make it too long): convert, then set it dense. */
  private promote(index: number, count: number): 1 | -1 {
    if (!this.toDense()) return -1;
    denseSet(this.buf, HLL_HEADER_BYTES, index, count);
    return 1;
  }
}

// ---------------------------------------------------------------- self test

/** Standard error of 16384 registers: 1.04 / sqrt(m). */
const RELATIVE_ERROR = 1.04 / Math.sqrt(HLL_REGISTERS);
/** The self test's register round trips and the largest cardinality it checks. */
export const SELFTEST_ROUNDS = 1000;
export const SELFTEST_ELEMENTS_MAX = 1_000_000;

/**
 * PFSELFTEST: dense registers keep exactly what is written without touching their neighbours;
 * sparse and dense forms fed the same elements agree, sparse stays sparse while small, and the
 * estimate at each power of ten is within six standard errors. Null when all hold, else the failure.
 * `random` gives 32-bit values.
 */
export function selfTest(random: () => number, sparseBytesMax: number): string | null {
  const dense = Buffer.alloc(HLL_DENSE_BYTES + 1);
  const expected = new Uint8Array(HLL_REGISTERS);
  for (let round = 0; round < SELFTEST_ROUNDS; round++) {
    for (let i = 0; i < HLL_REGISTERS; i++) {
      const r = random() & HLL_REGISTER_MAX;
      expected[i] = r;
      denseSet(dense, HLL_HEADER_BYTES, i, r);
    }
    for (let i = 0; i < HLL_REGISTERS; i++) {
      const got = denseGet(dense, HLL_HEADER_BYTES, i);
      if (got !== expected[i]) return `TESTFAILED Register ${i} should be ${expected[i] as number} but is ${got}`;
    }
  }
  const d = HllBuilder.copyOf(Buffer.concat([Buffer.from('HYLL'), Buffer.alloc(HLL_DENSE_BYTES - 4)]));
  const s = HllBuilder.empty();
  const ele = Buffer.alloc(8);
  const seedHi = random() >>> 0;
  const seedLo = random() >>> 0;
  let checkpoint = 1;
  for (let j = 1; j <= SELFTEST_ELEMENTS_MAX; j++) {
    ele.writeUInt32LE((j ^ seedLo) >>> 0, 0);
    ele.writeUInt32LE(seedHi, 4);
    d.add(ele, sparseBytesMax);
    s.add(ele, sparseBytesMax);
    if (j !== checkpoint) continue;
    if (j < sparseBytesMax / 2 && s.dense) return 'TESTFAILED sparse encoding not used';
    const cd = countOf(d.bytes());
    if (cd !== countOf(s.bytes())) return 'TESTFAILED dense/sparse disagree';
    const maxErr = j === 10 ? 1 : Math.ceil(RELATIVE_ERROR * 6 * checkpoint);
    const absErr = Math.abs(checkpoint - (cd ?? 0));
    if (absErr > maxErr) return `TESTFAILED Too big error. card:${checkpoint} abserr:${absErr}`;
    checkpoint *= 10;
  }
  return null;
}
