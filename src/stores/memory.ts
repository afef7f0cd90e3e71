import type {
  ChallengeOwner,
  ChallengeRecord,
  ChallengeStore,
  ClosedChallenge,
  CounterHit,
  CounterState,
  DeliveryRecord,
  DeliveryStatus,
  FailedChallenge,
  FailureLimit,
  HostedCheckOutcome,
  LockedOut,
  ResendInput,
  ResendOutcome,
  StatusOutcome,
  VerifiedOutcome,
  VerifyOutcome,
  VerifyReceipt,
} from './store.js';
import { admitInSteps, cooldownAfter, DUE_FALLBACKS_TTL_MS, verifiedPart, type Admission, type AdmissionOutcome } from './store.js';

export interface MemoryStoreOptions {
  /** Clock in milliseconds for key expiry; share the one given to `createStepUp` in tests. */
  clock?: () => number;
}

interface Entry<T> {
  value: T;
  expiresAt: number;
}

/** A challenge as this store keeps it: once consumed, with the receipt of the verify that did. */
type StoredChallenge = ChallengeRecord & { receipt?: VerifyReceipt };

const SWEEP_EVERY = 1000;
const STATUS_RANK: Record<string, number> = { '': 0, sent: 1, delivered: 2, read: 3 };

/**
 * The RedisStore's semantics in one process's memory: for the demo, development and
 * unit tests. Node runs each method to completion without interleaving, which gives
 * the same atomicity as a Lua script. It loses everything on restart and is not shared
 * between processes, so `createStepUp` refuses it under NODE_ENV=production.
 */
export class MemoryStore implements ChallengeStore {
  readonly ephemeral = true;
  readonly #clock: () => number;
  readonly #challenges = new Map<string, Entry<StoredChallenge>>();
  readonly #used = new Map<string, Entry<true>>();
  readonly #facts = new Map<string, Entry<string>>();
  readonly #counters = new Map<string, Entry<number>>();
  /** Each subject's wrong codes: the count and the end of the window that began with the first. */
  readonly #failures = new Map<string, { count: number; ends: number }>();
  readonly #due = new Map<string, number>();
  /** The due set's expiry, as the RedisStore's key TTL. */
  #dueExpiresAt = 0;
  #operations = 0;

  constructor(options: MemoryStoreOptions = {}) {
    if (options.clock !== undefined && typeof options.clock !== 'function') {
      throw new TypeError('`clock` must be a function returning epoch milliseconds. Omit it to use Date.now.');
    }
    this.#clock = options.clock ?? Date.now;
  }

  // One process: the failure record needs no keeping alive beside the challenges.
  async create(record: ChallengeRecord, ttlMs: number): Promise<void> {
    this.#tick();
    this.#challenges.set(record.id, { value: { ...record }, expiresAt: this.#clock() + ttlMs });
  }

  admit(record: ChallengeRecord, ttlMs: number, admission: Admission): Promise<AdmissionOutcome> {
    return admitInSteps(this, record, ttlMs, admission);
  }

  async verify(id: string, owner: ChallengeOwner, digests: string[], failures?: FailureLimit, receipt?: VerifyReceipt): Promise<VerifyOutcome> {
    const found = this.#openForVerify(id, owner, digests);
    if ('status' in found) return found;
    const held = this.#lockedOut(failures);
    if (held) return held;
    const record = found;
    const matched = record.digest.split(' ').find((stored) => stored !== '' && digests.includes(stored));
    if (matched) return this.#consume(id, record, matched, receipt ?? { jti: '', verifiedAt: owner.now }, owner.now, failures);
    record.attempts += 1;
    return this.#afterFailure(record, failures);
  }

  async beginHostedCheck(id: string, owner: ChallengeOwner, failures?: FailureLimit, digests: string[] = []): Promise<HostedCheckOutcome> {
    const found = this.#openForVerify(id, owner, digests);
    if ('status' in found) return found;
    const held = this.#lockedOut(failures);
    if (held) return held;
    if (found.attempts >= found.maxAttempts) return { status: 'locked' };
    found.attempts += 1;
    return { status: 'check', record: { ...found } };
  }

  async finishHostedCheck(id: string, approved: boolean, failures?: FailureLimit, receipt?: VerifyReceipt & { digest: string }): Promise<VerifyOutcome> {
    const record = this.#live(this.#challenges, id);
    if (!record) return { status: 'not_found' };
    // A concurrent check consumed it first: an approved code gets that check's token back.
    if (record.receipt) return approved ? repeatedOf(record) : { status: 'not_found' };
    if (approved) {
      if (record.locked) return { status: 'locked' };
      const now = failures?.now ?? this.#clock();
      const kept = receipt ?? { jti: '', verifiedAt: now, digest: '' };
      return this.#consume(id, record, kept.digest, { jti: kept.jti, verifiedAt: kept.verifiedAt }, now, failures);
    }
    return this.#afterFailure(record, failures);
  }

  // One process holds every record: the slot tag that places a Redis key has no use here.
  async readFailures(_slotTag: string, failures: FailureLimit): Promise<CounterState> {
    const count = this.#failureCount(failures);
    return count === 0 ? { count: 0, resetInMs: 0 } : { count, resetInMs: this.#failures.get(failures.key)!.ends - failures.now };
  }

  async reserveResend(id: string, owner: ChallengeOwner, input: ResendInput): Promise<ResendOutcome> {
    const found = this.#open(id, owner);
    if ('status' in found) return found;
    const record = found;
    if (record.sends >= record.maxSends) return { status: 'exhausted', retryAfterMs: record.expiresAt - owner.now };
    if (owner.subject !== '' && owner.now < record.nextSendAt) return { status: 'cooldown', retryAfterMs: record.nextSendAt - owner.now };
    // A test number's fixed code stays valid: nothing is ever sent to it.
    record.digest = (input.keepEarlier || record.testNumber) && record.digest !== '' ? `${record.digest} ${input.digest}` : input.digest;
    record.sends += 1;
    record.nextSendAt = owner.now + cooldownAfter(input.cooldownMs, record.sends);
    return { status: 'ok', record: { ...record } };
  }

  async recordDelivery(id: string, delivery: DeliveryRecord): Promise<void> {
    const record = this.#live(this.#challenges, id);
    if (!record || record.receipt) return;
    if (delivery.messageFact) this.#putFact(delivery.messageFact.key, id, delivery.messageFact.ttlMs);
    Object.assign(record, { channel: delivery.channel, transport: delivery.transport, messageId: delivery.messageId, sentAt: delivery.sentAt, deliveryStatus: '' });
    if (delivery.hostedId) {
      record.digest = withoutDigest(record.digest, delivery.dropDigest);
      record.hostedIds = delivery.keepEarlier && record.hostedIds !== '' ? `${record.hostedIds} ${delivery.hostedId}` : delivery.hostedId;
    } else if (!delivery.keepEarlier) {
      record.hostedIds = '';
    }
  }

  async countHits(hits: CounterHit[]): Promise<CounterState[]> {
    this.#tick();
    const now = this.#clock();
    return hits.map(({ key, windowMs }) => {
      const count = this.#live(this.#counters, key);
      const entry = count === undefined
        ? { value: 1, expiresAt: now + Math.max(1, Math.ceil(windowMs)) }
        : { value: count + 1, expiresAt: this.#counters.get(key)!.expiresAt };
      this.#counters.set(key, entry);
      return { count: entry.value, resetInMs: entry.expiresAt - now };
    });
  }

  async readHits(keys: string[]): Promise<CounterState[]> {
    const now = this.#clock();
    return keys.map((key) => {
      const count = this.#live(this.#counters, key);
      return count === undefined ? { count: 0, resetInMs: 0 } : { count, resetInMs: this.#counters.get(key)!.expiresAt - now };
    });
  }

  async discardCode(id: string, digest: string): Promise<void> {
    const record = this.#live(this.#challenges, id);
    if (record && !record.receipt) record.digest = withoutDigest(record.digest, digest);
  }

  async applyStatus(id: string, messageId: string, status: DeliveryStatus): Promise<StatusOutcome> {
    const record = this.#live(this.#challenges, id);
    if (!record || record.receipt) return { status: 'gone' };
    if (record.messageId !== messageId) return { status: 'stale' };
    const current = record.deliveryStatus;
    if (current === 'failed') return { status: 'ignored' };
    const snapshot = { ...record };
    if (status === 'failed') {
      if ((STATUS_RANK[current] ?? 0) >= 2) return { status: 'ignored' };
      record.deliveryStatus = 'failed';
      return { status: 'failed', record: snapshot };
    }
    if ((STATUS_RANK[status] ?? 0) <= (STATUS_RANK[current] ?? 0)) return { status: 'ignored' };
    record.deliveryStatus = status;
    return { status: 'applied', record: snapshot };
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

  async setFact(key: string, value: string, ttlMs: number): Promise<void> {
    this.#putFact(key, value, ttlMs);
  }

  #putFact(key: string, value: string, ttlMs: number): void {
    this.#tick();
    this.#facts.set(key, { value, expiresAt: this.#clock() + ttlMs });
  }

  async getFact(key: string): Promise<string | undefined> {
    return this.#live(this.#facts, key);
  }

  async scheduleFallback(id: string, dueAt: number): Promise<void> {
    this.#expireDue();
    this.#due.set(id, dueAt);
    this.#dueExpiresAt = this.#clock() + DUE_FALLBACKS_TTL_MS;
  }

  async cancelFallback(id: string): Promise<void> {
    this.#due.delete(id);
  }

  async claimDueFallbacks(now: number, limit: number): Promise<string[]> {
    this.#expireDue();
    const due = [...this.#due].filter(([, at]) => at <= now).sort((a, b) => a[1] - b[1]).slice(0, limit).map(([id]) => id);
    for (const id of due) this.#due.delete(id);
    return due;
  }

  /** The same checks, in the same order, as the Lua scripts' prologue; a consumed challenge is not found. */
  #open(id: string, owner: ChallengeOwner): StoredChallenge | ClosedChallenge {
    const record = this.#owned(id, owner);
    if ('status' in record) return record;
    if (record.receipt) return { status: 'not_found' };
    return this.#usable(record, owner);
  }

  /** {@link #open} for a code: the owner's retry of the code that consumed the challenge is that verify's outcome again. */
  #openForVerify(id: string, owner: ChallengeOwner, digests: string[]): StoredChallenge | ClosedChallenge | VerifiedOutcome {
    const record = this.#owned(id, owner);
    if ('status' in record) return record;
    if (record.receipt) return owner.now < record.expiresAt && digests.includes(record.digest) ? repeatedOf(record) : { status: 'not_found' };
    return this.#usable(record, owner);
  }

  #owned(id: string, owner: ChallengeOwner): StoredChallenge | ClosedChallenge {
    const record = this.#live(this.#challenges, id);
    if (!record) return { status: 'not_found' };
    if (owner.subject !== '') {
      if (record.subject !== owner.subject) return { status: 'not_found' };
      if (record.bindingHash !== '' && !owner.bindingHashes.includes(record.bindingHash)) return { status: 'not_found' };
    }
    return record;
  }

  #usable(record: StoredChallenge, owner: ChallengeOwner): StoredChallenge | ClosedChallenge {
    if (record.locked) return { status: 'locked' };
    if (owner.now >= record.expiresAt) {
      record.digest = '';
      return { status: 'expired' };
    }
    return record;
  }

  /**
   * Consumes a challenge: it keeps only what a retry needs (owner, the winning digest, the
   * receipt) and lives no longer than its code would have.
   */
  #consume(id: string, record: StoredChallenge, digest: string, receipt: VerifyReceipt, now: number, failures: FailureLimit | undefined): VerifiedOutcome {
    Object.assign(record, { digest, receipt: { ...receipt }, sealedPhone: '', sealedPayment: '', hostedIds: '' });
    // `now` is the caller's clock, the entry's expiry this store's: what is left of the challenge's life, on this store's clock.
    this.#challenges.get(id)!.expiresAt = this.#clock() + Math.max(1, record.expiresAt - now);
    this.#clearFailures(failures);
    return { status: 'ok', record: verifiedPart(record), receipt: { ...receipt }, repeated: false };
  }

  #expireDue(): void {
    if (this.#due.size > 0 && this.#dueExpiresAt <= this.#clock()) this.#due.clear();
  }

  // The Lua SUBJECT_FAILURES, with the same window: it starts at the first failure after a clear.
  #failureCount(failures: FailureLimit): number {
    const record = this.#failures.get(failures.key);
    return record && failures.now < record.ends ? record.count : 0;
  }

  #lockedOut(failures: FailureLimit | undefined): LockedOut | undefined {
    if (!failures || failures.max === 0 || this.#failureCount(failures) < failures.max) return undefined;
    return { status: 'locked_out', retryAfterMs: this.#failures.get(failures.key)!.ends - failures.now };
  }

  #clearFailures(failures: FailureLimit | undefined): void {
    if (failures && failures.max > 0) this.#failures.delete(failures.key);
  }

  #afterFailure(record: ChallengeRecord, failures: FailureLimit | undefined): VerifyOutcome {
    if (failures && failures.max > 0) {
      const count = this.#failureCount(failures);
      const ends = count === 0 ? failures.now + failures.windowMs : this.#failures.get(failures.key)!.ends;
      this.#failures.set(failures.key, { count: count + 1, ends });
    }
    const about: FailedChallenge = { ...(record.testNumber ? { testNumber: true } : {}), purpose: record.purpose, channel: record.channel };
    if (record.attempts >= record.maxAttempts) {
      record.locked = true;
      record.digest = '';
      return { status: 'locked_now', ...about };
    }
    return { status: 'invalid', attemptsLeft: record.maxAttempts - record.attempts, ...about };
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
    for (const map of [this.#challenges, this.#used, this.#facts, this.#counters] as Map<string, Entry<unknown>>[]) {
      for (const [key, entry] of map) if (entry.expiresAt <= now) map.delete(key);
    }
    for (const [key, record] of this.#failures) if (record.ends <= now) this.#failures.delete(key);
  }
}

function repeatedOf(record: StoredChallenge): VerifiedOutcome {
  return { status: 'ok', record: verifiedPart(record), receipt: { ...record.receipt! }, repeated: true };
}

/** The space-separated live digests without `digest` (the Lua scripts' drop_digest). */
function withoutDigest(digests: string, digest: string | undefined): string {
  return digests.split(' ').filter((stored) => stored !== '' && stored !== digest).join(' ');
}
