// A ValueSink for store and keyspace tests: keeps a copy of every value range it is handed
// (the range is only valid during the call).

import type { ValueSink } from '../../src/storage/api.js';

export class CopySink implements ValueSink {
  got: Buffer[] = [];
  bulkRange(src: Buffer, off: number, len: number): void {
    this.got.push(Buffer.from(src.subarray(off, off + len)));
  }
}
