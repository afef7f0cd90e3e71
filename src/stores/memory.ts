import { admitInSteps } from './admit-in-steps.js';
import { ExpiringMap } from './expiring-map.js';
import { SubjectFailures } from './memory-failures.js';
import { cooldownAfter, verifiedPart } from './record-rules.js';
import {
  DUE_FALLBACKS_TTL_MS, type Admission, type AdmissionOutcome, type ChallengeOwner, type ChallengeRecord, type ChallengeStore, type ClosedChallenge, type CounterHit, type CounterState,
  type DeliveryRecord, type DeliveryStatus, type FailedChallenge, type FailureLimit, type HostedCheckOutcome, type ResendInput, type ResendOutcome, type StatusOutcome,
  type VerifiedOutcome, type VerifyOutcome, type VerifyReceipt,
} from './store.js';

export interface MemoryStoreOptions {
  /** Clock in milliseconds for key expiry; share the one given to `createStepUp` in tests. */
  clock?: () => number;
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
  readonly #challenges = new ExpiringMap<StoredChallenge>(() => this.#clock());
  readonly #used = new ExpiringMap<true>(() => this.#clock());
  readonly #facts = new ExpiringMap<string>(() => this.#clock());
  readonly #counters = new ExpiringMap<number>(() => this.#clock());
  readonly #failures = new SubjectFailures();
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
    this.#challenges.set(record.id, copyOf(record), ttlMs);
  }

  admit(record: ChallengeRecord, ttlMs: number, admission: Admission): Promise<AdmissionOutcome> {
    return admitInSteps(this, record, ttlMs, admission);
  }

  async verify(id: string, owner: ChallengeOwner, digests: string[], failures?: FailureLimit, receipt?: VerifyReceipt): Promise<VerifyOutcome> {
    const found = this.#openForVerify(id, owner, digests);
    if ('status' in found) return found;
    const held = this.#failures.lockedOut(failures);
    if (held) return held;
    const record = found;
    const matched = record.digests.find((stored) => digests.includes(stored));
    if (matched) return this.#consume(id, record, matched, receipt ?? { jti: '', verifiedAt: owner.now }, owner.now, failures);
    record.attempts += 1;
    return this.#afterFailure(record, failures);
  }

  async beginHostedCheck(id: string, owner: ChallengeOwner, failures?: FailureLimit, digests: string[] = []): Promise<HostedCheckOutcome> {
    const found = this.#openForVerify(id, owner, digests);
    if ('status' in found) return found;
    const held = this.#failures.lockedOut(failures);
    if (held) return held;
    if (found.attempts >= found.maxAttempts) return { status: 'locked' };
    found.attempts += 1;
    return { status: 'check', record: copyOf(found) };
  }

  async finishHostedCheck(id: string, approved: boolean, failures?: FailureLimit, receipt?: VerifyReceipt & { digest: string }): Promise<VerifyOutcome> {
    const record = this.#challenges.get(id);
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
    return this.#failures.state(failures);
  }

  async reserveResend(id: string, owner: ChallengeOwner, input: ResendInput): Promise<ResendOutcome> {
    const found = this.#open(id, owner);
    if ('status' in found) return found;
    const record = found;
    if (record.sends >= record.maxSends) return { status: 'exhausted', retryAfterMs: record.expiresAt - owner.now };
    if (owner.subject !== '' && owner.now < record.nextSendAt) return { status: 'cooldown', retryAfterMs: record.nextSendAt - owner.now };
    // A test number's fixed code stays valid: nothing is ever sent to it.
    record.digests = input.keepEarlier || record.testNumber ? [...record.digests, input.digest] : [input.digest];
    record.sends += 1;
    record.nextSendAt = owner.now + cooldownAfter(input.cooldownMs, record.sends);
    return { status: 'ok', record: copyOf(record) };
  }

  async recordDelivery(id: string, delivery: DeliveryRecord): Promise<void> {
    const record = this.#challenges.get(id);
    if (!record || record.receipt) return;
    if (delivery.messageFact) this.#putFact(delivery.messageFact.key, id, delivery.messageFact.ttlMs);
    Object.assign(record, { channel: delivery.channel, transport: delivery.transport, messageId: delivery.messageId, sentAt: delivery.sentAt, deliveryStatus: undefined });
    if (delivery.hostedId !== undefined) {
      record.digests = record.digests.filter((stored) => stored !== delivery.dropDigest);
      const send = { channel: delivery.channel, id: delivery.hostedId };
      record.hosted = delivery.keepEarlier ? [...record.hosted, send] : [send];
    } else if (!delivery.keepEarlier) {
      record.hosted = [];
    }
  }

  async countHits(hits: CounterHit[]): Promise<CounterState[]> {
    this.#tick();
    const now = this.#clock();
    return hits.map(({ key, windowMs }) => {
      const count = (this.#counters.get(key) ?? 0) + 1;
      const expiresAt = this.#counters.expiresAt(key) ?? now + Math.max(1, Math.ceil(windowMs));
      this.#counters.setUntil(key, count, expiresAt);
      return { count, resetInMs: expiresAt - now };
    });
  }

  async readHits(keys: string[]): Promise<CounterState[]> {
    const now = this.#clock();
    return keys.map((key) => {
      const count = this.#counters.get(key);
      return count === undefined ? { count: 0, resetInMs: 0 } : { count, resetInMs: this.#counters.expiresAt(key)! - now };
    });
  }

  async discardCode(id: string, digest: string): Promise<void> {
    const record = this.#challenges.get(id);
    if (record && !record.receipt) record.digests = record.digests.filter((stored) => stored !== digest);
  }

  async applyStatus(id: string, messageId: string, status: DeliveryStatus): Promise<StatusOutcome> {
    const record = this.#challenges.get(id);
    if (!record || record.receipt) return { status: 'gone' };
    if (record.messageId !== messageId) return { status: 'stale' };
    const current = record.deliveryStatus ?? '';
    if (current === 'failed') return { status: 'ignored' };
    const snapshot = copyOf(record);
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
    if (this.#used.get(key)) return false;
    this.#used.set(key, true, ttlMs);
    return true;
  }

  async setFact(key: string, value: string, ttlMs: number): Promise<void> {
    this.#putFact(key, value, ttlMs);
  }

  #putFact(key: string, value: string, ttlMs: number): void {
    this.#tick();
    this.#facts.set(key, value, ttlMs);
  }

  async getFact(key: string): Promise<string | undefined> {
    return this.#facts.get(key);
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
    if (record.receipt) return owner.now < record.expiresAt && record.digests.some((kept) => digests.includes(kept)) ? repeatedOf(record) : { status: 'not_found' };
    return this.#usable(record, owner);
  }

  #owned(id: string, owner: ChallengeOwner): StoredChallenge | ClosedChallenge {
    const record = this.#challenges.get(id);
    if (!record) return { status: 'not_found' };
    if (owner.subject !== '') {
      if (record.subject !== owner.subject) return { status: 'not_found' };
      if (record.binding !== undefined && !owner.bindingHashes.includes(record.binding)) return { status: 'not_found' };
    }
    return record;
  }

  #usable(record: StoredChallenge, owner: ChallengeOwner): StoredChallenge | ClosedChallenge {
    if (record.locked) return { status: 'locked' };
    if (owner.now >= record.expiresAt) {
      record.digests = [];
      return { status: 'expired' };
    }
    return record;
  }

  /**
   * Consumes a challenge: it keeps only what a retry needs (owner, the winning digest, the
   * receipt) and lives no longer than its code would have.
   */
  #consume(id: string, record: StoredChallenge, digest: string, receipt: VerifyReceipt, now: number, failures: FailureLimit | undefined): VerifiedOutcome {
    Object.assign(record, { digests: digest === '' ? [] : [digest], receipt: { ...receipt }, sealedPhone: '', sealedPayment: undefined, hosted: [] });
    // `now` is the caller's clock, the entry's expiry this store's: what is left of the challenge's life, on this store's clock.
    this.#challenges.setUntil(id, record, this.#clock() + Math.max(1, record.expiresAt - now));
    this.#failures.clear(failures);
    return { status: 'ok', record: verifiedPart(record), receipt: { ...receipt }, repeated: false };
  }

  #expireDue(): void {
    if (this.#due.size > 0 && this.#dueExpiresAt <= this.#clock()) this.#due.clear();
  }

  #afterFailure(record: ChallengeRecord, failures: FailureLimit | undefined): VerifyOutcome {
    this.#failures.add(failures);
    const about: FailedChallenge = { ...(record.testNumber ? { testNumber: true } : {}), purpose: record.purpose, channel: record.channel };
    if (record.attempts >= record.maxAttempts) {
      record.locked = true;
      record.digests = [];
      return { status: 'locked_now', ...about };
    }
    return { status: 'invalid', attemptsLeft: record.maxAttempts - record.attempts, ...about };
  }

  // Expired entries are dropped when read; a periodic sweep bounds what is never read again.
  #tick(): void {
    if (++this.#operations % SWEEP_EVERY !== 0) return;
    const now = this.#clock();
    for (const map of [this.#challenges, this.#used, this.#facts, this.#counters]) map.sweep(now);
    this.#failures.sweep(now);
  }
}

function repeatedOf(record: StoredChallenge): VerifiedOutcome {
  return { status: 'ok', record: verifiedPart(record), receipt: { ...record.receipt! }, repeated: true };
}

/** A record that shares no array with the one it copies: the caller's and the store's stay apart. */
function copyOf<T extends ChallengeRecord>(record: T): T {
  return { ...record, digests: [...record.digests], hosted: record.hosted.map((send) => ({ ...send })), otherFactors: [...record.otherFactors] };
}
