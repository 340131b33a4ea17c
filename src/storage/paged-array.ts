// A growable array of values by index, in fixed-size pages: growing adds a page and never
// copies the values already stored, where a JS array grows by copying all of them (and, past a
// million entries, the copy and the large allocation it makes pause the event loop). Owns the
// pages only; never interprets the values.

/** Entries per page (a power of two: index -> page by shift). */
const PAGE_ENTRIES_LOG2 = 12;
const PAGE_MASK = (1 << PAGE_ENTRIES_LOG2) - 1;

export class PagedArray<T> {
  private readonly pages: Array<Array<T | undefined>> = [];
  private len = 0;

  /** One past the highest index set (holes read as undefined). */
  get length(): number {
    return this.len;
  }

  get(i: number): T | undefined {
    return this.pages[i >>> PAGE_ENTRIES_LOG2]?.[i & PAGE_MASK];
  }

  /** Set entry `i`, at most `length` (entries are appended in order; a page grows as a JS array up to PAGE_ENTRIES). */
  set(i: number, v: T | undefined): void {
    if (i > this.len) throw new RangeError(`PagedArray.set(${i}) past the end (${this.len})`);
    const p = i >>> PAGE_ENTRIES_LOG2;
    if (p === this.pages.length) this.pages.push([]);
    (this.pages[p] as Array<T | undefined>)[i & PAGE_MASK] = v;
    if (i === this.len) this.len = i + 1;
  }

  /** Drop the entries from `n` on (pages wholly past it are freed). */
  truncate(n: number): void {
    if (n >= this.len) return;
    const keepPages = (n + PAGE_MASK) >>> PAGE_ENTRIES_LOG2;
    this.pages.length = keepPages;
    const last = this.pages[keepPages - 1];
    if (last !== undefined) last.length = ((n - 1) & PAGE_MASK) + 1;
    this.len = n;
  }
}
