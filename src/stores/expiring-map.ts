/** Values that expire on a clock, as Redis keys with a TTL do: gone once their time has come. */
export class ExpiringMap<T> {
  readonly #entries = new Map<string, { value: T; expiresAt: number }>();
  readonly #clock: () => number;

  constructor(clock: () => number) {
    this.#clock = clock;
  }

  get(key: string): T | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.#clock()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /** When a live key expires (epoch ms). */
  expiresAt(key: string): number | undefined {
    return this.get(key) === undefined ? undefined : this.#entries.get(key)!.expiresAt;
  }

  set(key: string, value: T, ttlMs: number): void {
    this.#entries.set(key, { value, expiresAt: this.#clock() + ttlMs });
  }

  setUntil(key: string, value: T, expiresAt: number): void {
    this.#entries.set(key, { value, expiresAt });
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  /** Drops what expired and was never read again. */
  sweep(now: number): void {
    for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(key);
  }
}
