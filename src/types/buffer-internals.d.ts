// Node's Buffer has fast, non-allocating-by-encoding slice/write methods per encoding
// (`latin1Slice`, `latin1Write`) that @types/node does not declare. They are stable since
// Node 0.x and used on the hot path (keys are latin1 binary strings, see storage/types.ts).
export {};
declare global {
  interface Buffer {
    latin1Slice(start: number, end: number): string;
    latin1Write(s: string, offset: number, length?: number): number;
  }
}
