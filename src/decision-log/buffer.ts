/** One event, already masked and serialised. */
export interface EncodedEvent {
  json: string;
  bytes: number;
}

/**
 * FIFO of encoded events bounded by count and bytes. Going over either bound evicts the oldest
 * events; every eviction is returned to the caller so none goes uncounted.
 */
export class EventBuffer {
  private items: (EncodedEvent | undefined)[] = [];
  private head = 0;
  private totalBytes = 0;

  constructor(private readonly limits: { maxEvents: number; maxBytes: number }) {}

  get count(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** Appends; returns how many old events were evicted to make room. */
  push(event: EncodedEvent): number {
    this.items.push(event);
    this.totalBytes += event.bytes;
    return this.evict();
  }

  /** Puts a failed batch back in front (it is older than anything queued since); returns evictions. */
  requeue(batch: readonly EncodedEvent[]): number {
    this.items = [...batch, ...this.items.slice(this.head)];
    this.head = 0;
    for (const e of batch) this.totalBytes += e.bytes;
    return this.evict();
  }

  /** Removes and returns the oldest events that fit: at most maxEvents and maxBytes of JSON array text, never fewer than one. */
  take(maxEvents: number, maxBytes: number): EncodedEvent[] {
    const out: EncodedEvent[] = [];
    let size = 2; // "[" and "]"
    while (this.count > 0 && out.length < maxEvents) {
      const next = this.items[this.head]!;
      const add = next.bytes + (out.length > 0 ? 1 : 0);
      if (out.length > 0 && size + add > maxBytes) break;
      out.push(next);
      size += add;
      this.shift();
    }
    return out;
  }

  /** Empties the buffer; returns how many events it held. */
  clear(): number {
    const n = this.count;
    this.items = [];
    this.head = 0;
    this.totalBytes = 0;
    return n;
  }

  private evict(): number {
    let evicted = 0;
    while (this.count > 0 && (this.count > this.limits.maxEvents || this.totalBytes > this.limits.maxBytes)) {
      this.shift();
      evicted++;
    }
    return evicted;
  }

  private shift(): void {
    const e = this.items[this.head]!;
    this.items[this.head] = undefined; // let the string be collected
    this.head++;
    this.totalBytes -= e.bytes;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
