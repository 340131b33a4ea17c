// Redis Cluster hash slots: CRC16 (XMODEM: polynomial 0x1021, initial value 0, no reflection)
// of the key, or of its hash tag (the bytes between the first '{' and the first '}' after it,
// when there are any), modulo 16384. Owns that arithmetic only; it never decides which node
// serves a slot (one kv-ts group serves them all: see commands.ts).

/** Hash slots of a Redis Cluster (CLUSTER KEYSLOT's modulus). */
export const CLUSTER_SLOTS = 16384;
/** The last slot (CLUSTER SLOTS' range end). */
export const CLUSTER_SLOT_LAST = CLUSTER_SLOTS - 1;

const CRC16_POLY = 0x1021;

/** CRC16 of every byte value, built once from the polynomial (MSB first). */
const CRC16_TABLE: Uint16Array = (() => {
  const t = new Uint16Array(256);
  for (let b = 0; b < 256; b++) {
    let crc = b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ CRC16_POLY) & 0xffff : (crc << 1) & 0xffff;
    t[b] = crc;
  }
  return t;
})();

/**
 * CRC16/XMODEM of bytes [start, end) of `buf`: a byte array, or a binary string (one char per
 * byte, as the keyspace's keys: storage/types.ts Key).
 */
export function crc16(buf: Uint8Array | string, start = 0, end = buf.length): number {
  let crc = 0;
  if (typeof buf === 'string') {
    for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ (CRC16_TABLE[((crc >>> 8) ^ buf.charCodeAt(i)) & 0xff] as number);
  } else {
    for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ (CRC16_TABLE[((crc >>> 8) ^ (buf[i] as number)) & 0xff] as number);
  }
  return crc;
}


/**
 * The slot of `key`. Only the first '{' counts; if a '}' follows it with at least one byte in
 * between, only those bytes are hashed; otherwise (no '{', no '}' after it, or "{}") the whole key is.
 */
export function keySlot(key: Uint8Array | string): number {
  // '{' and '}' as a byte or as a binary string's char: indexOf finds either.
  const open = typeof key === 'string' ? key.indexOf('{') : key.indexOf(0x7b);
  if (open >= 0) {
    const close = typeof key === 'string' ? key.indexOf('}', open + 1) : key.indexOf(0x7d, open + 1);
    if (close > open + 1) return crc16(key, open + 1, close) & CLUSTER_SLOT_LAST;
  }
  return crc16(key) & CLUSTER_SLOT_LAST;
}
