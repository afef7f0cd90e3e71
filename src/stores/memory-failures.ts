import type { CounterState, FailureLimit, LockedOut } from './store.js';

/**
 * Each subject's wrong codes across its challenges, in one process's memory: the count and
 * the end of the window, which starts at the first failure after a clear (the Lua
 * SUBJECT_FAILURES, with the same window). A limit of 0 counts and refuses nothing.
 */
export class SubjectFailures {
  readonly #counts = new Map<string, { count: number; ends: number }>();

  count(failures: FailureLimit): number {
    const record = this.#counts.get(failures.key);
    return record && failures.now < record.ends ? record.count : 0;
  }

  state(failures: FailureLimit): CounterState {
    const count = this.count(failures);
    return count === 0 ? { count: 0, resetInMs: 0 } : { count, resetInMs: this.#counts.get(failures.key)!.ends - failures.now };
  }

  lockedOut(failures: FailureLimit | undefined): LockedOut | undefined {
    if (!failures || failures.max === 0 || this.count(failures) < failures.max) return undefined;
    return { status: 'locked_out', retryAfterMs: this.#counts.get(failures.key)!.ends - failures.now };
  }

  add(failures: FailureLimit | undefined): void {
    if (!failures || failures.max === 0) return;
    const count = this.count(failures);
    const ends = count === 0 ? failures.now + failures.windowMs : this.#counts.get(failures.key)!.ends;
    this.#counts.set(failures.key, { count: count + 1, ends });
  }

  clear(failures: FailureLimit | undefined): void {
    if (failures && failures.max > 0) this.#counts.delete(failures.key);
  }

  sweep(now: number): void {
    for (const [key, record] of this.#counts) if (record.ends <= now) this.#counts.delete(key);
  }
}
