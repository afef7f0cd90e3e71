import type {
  ChallengeOwner,
  ChallengeRecord,
  ChallengeStore,
  ClosedChallenge,
  ResendOutcome,
  VerifyOutcome,
} from './store.js';
import type { Transport } from '../channels/channel.js';

export interface MemoryStoreOptions {
  /** Clock in milliseconds for key expiry; share the one given to `createStepUp` in tests. */
  clock?: () => number;
}

interface Entry<T> {
  value: T;
  expiresAt: number;
}

const SWEEP_EVERY = 1000;

/**
 * The RedisStore's semantics in one process's memory: for the demo, development and
 * unit tests. Node runs each method to completion without interleaving, which gives
 * the same atomicity as a Lua script. It loses everything on restart and is not shared
 * between processes, so `createStepUp` refuses it under NODE_ENV=production.
 */
export class MemoryStore implements ChallengeStore {
  readonly ephemeral = true;
  readonly #clock: () => number;
  readonly #challenges = new Map<string, Entry<ChallengeRecord>>();
  readonly #used = new Map<string, Entry<true>>();
  #operations = 0;

  constructor(options: MemoryStoreOptions = {}) {
    if (options.clock !== undefined && typeof options.clock !== 'function') {
      throw new TypeError('`clock` must be a function returning epoch milliseconds. Omit it to use Date.now.');
    }
    this.#clock = options.clock ?? Date.now;
  }

  async create(record: ChallengeRecord, ttlMs: number): Promise<void> {
    this.#tick();
    this.#challenges.set(record.id, { value: { ...record }, expiresAt: this.#clock() + ttlMs });
  }

  async verify(id: string, owner: ChallengeOwner, digests: string[]): Promise<VerifyOutcome> {
    const found = this.#open(id, owner);
    if ('status' in found) return found;
    const record = found;
    if (record.digest !== '' && digests.includes(record.digest)) {
      this.#challenges.delete(id);
      return { status: 'ok', record: { ...record } };
    }
    record.attempts += 1;
    if (record.attempts >= record.maxAttempts) {
      record.locked = true;
      record.digest = '';
      return { status: 'locked_now' };
    }
    return { status: 'invalid', attemptsLeft: record.maxAttempts - record.attempts };
  }

  async reserveResend(id: string, owner: ChallengeOwner, input: { digest: string; cooldownMs: number }): Promise<ResendOutcome> {
    const found = this.#open(id, owner);
    if ('status' in found) return found;
    const record = found;
    if (record.sends >= record.maxSends) return { status: 'exhausted' };
    if (owner.now < record.nextSendAt) return { status: 'cooldown', retryAfterMs: record.nextSendAt - owner.now };
    record.digest = input.digest;
    record.sends += 1;
    record.nextSendAt = owner.now + input.cooldownMs;
    return { status: 'ok', record: { ...record } };
  }

  async recordDelivery(id: string, delivery: { channel: string; transport: Transport }): Promise<void> {
    const record = this.#live(this.#challenges, id);
    if (record) Object.assign(record, delivery);
  }

  async delete(id: string): Promise<void> {
    this.#challenges.delete(id);
  }

  async consumeOnce(key: string, ttlMs: number): Promise<boolean> {
    this.#tick();
    if (this.#live(this.#used, key)) return false;
    this.#used.set(key, { value: true, expiresAt: this.#clock() + ttlMs });
    return true;
  }

  /** The same checks, in the same order, as the Lua scripts' prologue. */
  #open(id: string, owner: ChallengeOwner): ChallengeRecord | ClosedChallenge {
    const record = this.#live(this.#challenges, id);
    if (!record || record.subject !== owner.subject) return { status: 'not_found' };
    if (record.bindingHash !== '' && !owner.bindingHashes.includes(record.bindingHash)) return { status: 'not_found' };
    if (record.locked) return { status: 'locked' };
    if (owner.now >= record.expiresAt) {
      record.digest = '';
      return { status: 'expired' };
    }
    return record;
  }

  #live<T>(map: Map<string, Entry<T>>, key: string): T | undefined {
    const entry = map.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.#clock()) {
      map.delete(key);
      return undefined;
    }
    return entry.value;
  }

  // Expired entries are dropped when read; a periodic sweep bounds what is never read again.
  #tick(): void {
    if (++this.#operations % SWEEP_EVERY !== 0) return;
    const now = this.#clock();
    for (const map of [this.#challenges, this.#used] as Map<string, Entry<unknown>>[]) {
      for (const [key, entry] of map) if (entry.expiresAt <= now) map.delete(key);
    }
  }
}
