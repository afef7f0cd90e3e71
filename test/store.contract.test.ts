// Both stores keep one contract: a challenge opens only for its subject and binding, a
// right digest consumes it exactly once, wrong digests count and lock, resends rotate the
// digest without resetting attempts, and one-time marks are set once. The RedisStore also
// gives every key a bounded TTL and a Cluster hash tag, and refuses unsafe client setups.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, RedisStore } from '../src/index.js';
import type { ChallengeOwner, ChallengeRecord, ChallengeStore } from '../src/store/index.js';
import { DUE_FALLBACKS_TTL_MS, systemOwner, verifiedPart, type DeliveryRecord } from '../src/stores/store.js';
import * as scripts from '../src/stores/redis-scripts.js';
import { redisFixture, uniquePrefix, type RedisFixture } from './core.fixtures.js';
import { connectCluster, redisUrl } from './support/redis.js';

const T0 = 1_900_000_000_000;
/** What a wrong code's outcome names of a challenge made by `challengeRecord()`. */
const FAILED = { purpose: 'payment', channel: 'whatsapp' } as const;
const TTL_MS = 10 * 60_000;
/** What a consuming verify leaves in the challenge (the token id and its time), and what a store without one reports. */
const RECEIPT = { jti: 'jti-first', verifiedAt: T0 + 1_000 } as const;
const NO_RECEIPT = { jti: '', verifiedAt: T0 + 1_000 } as const;
/** The outcome of the verify that consumed `record`, and of a retry of its right code. */
const consumedBy = (record: ChallengeRecord, receipt: { jti: string; verifiedAt: number } = NO_RECEIPT) => ({ status: 'ok', record: verifiedPart(record), receipt, repeated: false });
const repeatOf = (record: ChallengeRecord, receipt: { jti: string; verifiedAt: number } = NO_RECEIPT) => ({ status: 'ok', record: verifiedPart(record), receipt, repeated: true });

/** A valid record; every field can be overridden. */
function challengeRecord(overrides: Partial<ChallengeRecord> = {}): ChallengeRecord {
  return {
    id: randomBytes(16).toString('base64url'),
    subject: 'usér-1',
    purpose: 'payment',
    bindingHash: '',
    txn: 'txnhash-abc',
    channel: 'whatsapp',
    transport: 'whatsapp',
    digest: 'p1:right',
    hostedIds: '',
    attempts: 0,
    maxAttempts: 3,
    sends: 1,
    maxSends: 3,
    createdAt: T0,
    expiresAt: T0 + 300_000,
    nextSendAt: T0 + 30_000,
    messageId: '',
    sentAt: 0,
    deliveryStatus: '',
    sealedPhone: 'p1.iv.sealed.tag',
    sealedPayment: '',
    to: '+34 •••••••78',
    locale: 'pt-BR',
    otherFactors: 'pwd',
    testNumber: false,
    locked: false,
    ...overrides,
  };
}

function owner(record: ChallengeRecord, overrides: Partial<ChallengeOwner> = {}): ChallengeOwner {
  return { subject: record.subject, bindingHashes: [], now: T0 + 1_000, ...overrides };
}

export function describeStoreContract(name: string, makeStore: () => ChallengeStore): void {
  describe(`ChallengeStore contract: ${name}`, () => {
    let store: ChallengeStore;
    beforeAll(() => {
      store = makeStore();
    });

    async function created(overrides: Partial<ChallengeRecord> = {}): Promise<ChallengeRecord> {
      const record = challengeRecord(overrides);
      await store.create(record, TTL_MS);
      return record;
    }

    describe('create and verify', () => {
      it('a right digest returns what the token needs of the record as created and consumes it, keeping the receipt', async () => {
        const record = await created();
        expect(await store.verify(record.id, owner(record), ['p2:other', 'p1:right'], undefined, RECEIPT)).toEqual(consumedBy(record, RECEIPT));
        expect(await store.reserveResend(record.id, owner(record), { digest: 'p1:new', cooldownMs: 1, keepEarlier: false })).toEqual({ status: 'not_found' });
        expect(await store.applyStatus(record.id, 'SM1', 'failed')).toEqual({ status: 'gone' });
      });

      it("a consumed challenge: the owner's retry of the right code gets the first receipt (repeated), anything else is not_found and counts nothing", async () => {
        const failures = { key: `failures:retry-${randomBytes(4).toString('hex')}`, max: 1, windowMs: 60_000, now: T0 + 1_000 };
        const record = await created({ bindingHash: 'bind-A' });
        const bound = owner(record, { bindingHashes: ['bind-A'] });
        expect(await store.verify(record.id, bound, ['p1:right'], failures, RECEIPT)).toEqual(consumedBy(record, RECEIPT));
        // Another receipt offered by the retry is not taken: the first one stands.
        expect(await store.verify(record.id, bound, ['p2:other', 'p1:right'], failures, { jti: 'jti-second', verifiedAt: T0 + 2_000 })).toEqual(repeatOf(record, RECEIPT));
        for (let i = 0; i < 3; i++) expect(await store.verify(record.id, bound, ['p1:wrong'], failures, RECEIPT)).toEqual({ status: 'not_found' });
        expect(await store.readFailures(record.id.slice(0, 4), failures)).toEqual({ count: 0, resetInMs: 0 });
        expect(await store.verify(record.id, owner(record, { bindingHashes: ['bind-B'] }), ['p1:right'], failures)).toEqual({ status: 'not_found' });
        expect(await store.verify(record.id, { ...bound, subject: 'someone-else' }, ['p1:right'], failures)).toEqual({ status: 'not_found' });
        expect(await store.beginHostedCheck(record.id, bound, failures, ['p1:right'])).toEqual(repeatOf(record, RECEIPT));
        expect(await store.beginHostedCheck(record.id, bound, failures)).toEqual({ status: 'not_found' });
        // Not past the challenge's life.
        expect(await store.verify(record.id, { ...bound, now: record.expiresAt }, ['p1:right'], failures)).toEqual({ status: 'not_found' });
      });

      it('a record with empty optional fields (txn, bindingHash, otherFactors) round-trips unchanged', async () => {
        const record = await created({ txn: '', bindingHash: '', otherFactors: '', transport: 'sms', channel: 'sms', locale: 'en' });
        expect(await store.verify(record.id, owner(record, { bindingHashes: ['any'] }), ['p1:right'])).toEqual(consumedBy(record));
      });

      it('an unknown id is not_found', async () => {
        expect(await store.verify(randomBytes(16).toString('base64url'), owner(challengeRecord()), ['p1:right'])).toEqual({ status: 'not_found' });
      });

      it('create replaces an earlier record with the same id', async () => {
        const first = await created({ digest: 'p1:first' });
        const second = challengeRecord({ id: first.id, digest: 'p1:second', attempts: 0 });
        await store.verify(first.id, owner(first), ['p1:wrong']);
        await store.create(second, TTL_MS);
        expect(await store.verify(first.id, owner(first), ['p1:first'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
        expect(await store.verify(first.id, owner(first), ['p1:second'])).toMatchObject({ status: 'ok' });
      });
    });

    describe('wrong digests', () => {
      it('count an attempt each, attemptsLeft falling, then lock at maxAttempts (locked_now, then locked)', async () => {
        const record = await created({ maxAttempts: 3 });
        expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
        expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'invalid', attemptsLeft: 1, ...FAILED });
        expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'locked_now', ...FAILED });
        expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'locked' });
      });

      it('a locked challenge has no digest: the right one no longer opens it, and resend is refused', async () => {
        const record = await created({ maxAttempts: 1 });
        expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'locked_now', ...FAILED });
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'locked' });
        expect(await store.reserveResend(record.id, owner(record, { now: T0 + 60_000 }), { digest: 'p1:new', cooldownMs: 1, keepEarlier: false })).toEqual({ status: 'locked' });
      });

      it('an empty stored digest never matches an empty candidate', async () => {
        const record = await created({ digest: '' });
        expect(await store.verify(record.id, owner(record), [''])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
      });
    });

    describe('owner checks', () => {
      it('another subject gets not_found and costs no attempt', async () => {
        const record = await created();
        expect(await store.verify(record.id, owner(record, { subject: 'user-2' }), ['p1:right'])).toEqual({ status: 'not_found' });
        expect(await store.verify(record.id, owner(record, { subject: 'user-2' }), ['p1:wrong'])).toEqual({ status: 'not_found' });
        expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
      });

      it('a bound challenge is not_found for another binding or none, without costing an attempt', async () => {
        const record = await created({ bindingHash: 'bind-A' });
        expect(await store.verify(record.id, owner(record, { bindingHashes: ['bind-B'] }), ['p1:right'])).toEqual({ status: 'not_found' });
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'not_found' });
        expect(await store.reserveResend(record.id, owner(record, { bindingHashes: ['bind-B'], now: T0 + 60_000 }), { digest: 'p1:x', cooldownMs: 1, keepEarlier: false })).toEqual({ status: 'not_found' });
        expect(await store.verify(record.id, owner(record, { bindingHashes: ['bind-A'] }), ['p1:wrong'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
      });

      it('a bound challenge opens when any of the caller binding hashes matches (pepper rotation)', async () => {
        const record = await created({ bindingHash: 'bind-A' });
        expect(await store.verify(record.id, owner(record, { bindingHashes: ['bind-new', 'bind-A'] }), ['p1:right'])).toMatchObject({ status: 'ok' });
      });

      it('an unbound challenge accepts any binding', async () => {
        const record = await created({ bindingHash: '' });
        expect(await store.verify(record.id, owner(record, { bindingHashes: ['whatever'] }), ['p1:right'])).toMatchObject({ status: 'ok' });
      });
    });

    describe('the subject\'s failures (R-D2, R-J2): checked, counted and cleared by the verify step itself', () => {
      const limit = (max = 3) => ({ key: `failures:${randomBytes(8).toString('hex')}`, max, windowMs: 60_000, now: T0 + 1_000 });

      it('wrong digests count on the subject\'s counter across its challenges; at max even the right digest is locked_out, before any compare or count', async () => {
        const failures = limit(3);
        const first = await created();
        const second = await created({ id: first.id.slice(0, 4) + randomBytes(16).toString('base64url') });
        expect(await store.verify(first.id, owner(first), ['p1:wrong'], failures)).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
        expect(await store.verify(second.id, owner(second), ['p1:wrong'], failures)).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
        expect(await store.readFailures(first.id.slice(0, 4), failures)).toMatchObject({ count: 2 });
        expect(await store.verify(first.id, owner(first), ['p1:wrong'], failures)).toEqual({ status: 'invalid', attemptsLeft: 1, ...FAILED });
        const refused = await store.verify(second.id, owner(second), ['p1:right'], failures);
        expect(refused).toMatchObject({ status: 'locked_out' });
        expect((refused as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
        expect((refused as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(60_000);
        // Nothing moved: the counter stays at max and the challenge kept its attempts and its code.
        expect(await store.readFailures(first.id.slice(0, 4), failures)).toMatchObject({ count: 3 });
        expect(await store.verify(second.id, owner(second), ['p1:right'])).toMatchObject({ status: 'ok' });
      });

      it('a right digest clears the count', async () => {
        const failures = limit(3);
        const first = await created();
        expect(await store.verify(first.id, owner(first), ['p1:wrong'], failures)).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
        expect(await store.verify(first.id, owner(first), ['p1:wrong'], failures)).toEqual({ status: 'invalid', attemptsLeft: 1, ...FAILED });
        expect(await store.verify(first.id, owner(first), ['p1:right'], failures)).toMatchObject({ status: 'ok' });
        expect(await store.readFailures(first.id.slice(0, 4), failures)).toEqual({ count: 0, resetInMs: 0 });
      });

      it('a refused owner or a missing challenge counts nothing; a lock counts its failure', async () => {
        const failures = limit(5);
        const record = await created({ maxAttempts: 1 });
        expect(await store.verify(record.id, owner(record, { subject: 'someone-else' }), ['p1:wrong'], failures)).toEqual({ status: 'not_found' });
        expect(await store.verify(record.id.slice(0, 4) + randomBytes(16).toString('base64url'), owner(record), ['p1:wrong'], failures)).toEqual({ status: 'not_found' });
        expect(await store.readFailures(record.id.slice(0, 4), failures)).toEqual({ count: 0, resetInMs: 0 });
        expect(await store.verify(record.id, owner(record), ['p1:wrong'], failures)).toEqual({ status: 'locked_now', ...FAILED });
        expect(await store.readFailures(record.id.slice(0, 4), failures)).toMatchObject({ count: 1 });
      });

      it('hosted checks: begin refuses a subject at max before reserving an attempt; finish counts a refusal and clears on approval', async () => {
        const failures = limit(2);
        const record = await created({ hostedIds: 'mc=V1', digest: '' });
        expect(await store.beginHostedCheck(record.id, owner(record), failures)).toMatchObject({ status: 'check' });
        expect(await store.finishHostedCheck(record.id, false, failures)).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
        expect(await store.readFailures(record.id.slice(0, 4), failures)).toMatchObject({ count: 1 });
        expect(await store.beginHostedCheck(record.id, owner(record), failures)).toMatchObject({ status: 'check' });
        expect(await store.finishHostedCheck(record.id, true, failures)).toMatchObject({ status: 'ok' });
        expect(await store.readFailures(record.id.slice(0, 4), failures)).toEqual({ count: 0, resetInMs: 0 });

        const other = await created({ hostedIds: 'mc=V2', digest: '' });
        for (let i = 0; i < 2; i++) {
          expect(await store.beginHostedCheck(other.id, owner(other), failures)).toMatchObject({ status: 'check' });
          expect(await store.finishHostedCheck(other.id, false, failures)).toMatchObject({ status: 'invalid' });
        }
        expect(await store.beginHostedCheck(other.id, owner(other), failures)).toMatchObject({ status: 'locked_out' });
        // The refused begin reserved nothing: the challenge still has the attempt it had.
        expect(await store.verify(other.id, owner(other), ['p1:wrong'])).toEqual({ status: 'locked_now', ...FAILED });
      });
    });

    describe('expiry', () => {
      it('at owner.now >= expiresAt verify is expired, even with the right digest, and the digest is cleared', async () => {
        const record = await created();
        expect(await store.verify(record.id, owner(record, { now: record.expiresAt }), ['p1:right'])).toEqual({ status: 'expired' });
        expect(await store.verify(record.id, owner(record, { now: record.expiresAt + 1_000 }), ['p1:right'])).toEqual({ status: 'expired' });
        // A caller whose clock is behind still cannot use the code: it is gone.
        expect(await store.verify(record.id, owner(record, { now: record.expiresAt - 1 }), ['p1:right'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
      });

      it('one millisecond before expiresAt the right digest still verifies', async () => {
        const record = await created();
        expect(await store.verify(record.id, owner(record, { now: record.expiresAt - 1 }), ['p1:right'])).toMatchObject({ status: 'ok' });
      });

      it('resend of an expired challenge is expired', async () => {
        const record = await created();
        expect(await store.reserveResend(record.id, owner(record, { now: record.expiresAt }), { digest: 'p1:new', cooldownMs: 1, keepEarlier: false })).toEqual({ status: 'expired' });
      });
    });

    describe('reserveResend', () => {
      it('inside the cooldown answers cooldown with the exact retryAfterMs, changing nothing', async () => {
        const record = await created({ nextSendAt: T0 + 30_000 });
        expect(await store.reserveResend(record.id, owner(record, { now: T0 + 10_000 }), { digest: 'p1:new', cooldownMs: 30_000, keepEarlier: false })).toEqual({ status: 'cooldown', retryAfterMs: 20_000 });
        expect(await take(record.id)).toMatchObject({ sends: 1, digest: 'p1:right' });
      });

      it('after the cooldown replaces the digest (the old one no longer verifies, R-C5), counts the send and restarts the cooldown', async () => {
        const record = await created({ nextSendAt: T0 + 30_000 });
        const now = T0 + 30_000;
        const outcome = await store.reserveResend(record.id, owner(record, { now }), { digest: 'p1:new', cooldownMs: 45_000, keepEarlier: false });
        expect(outcome).toEqual({ status: 'ok', record: { ...record, digest: 'p1:new', sends: 2, nextSendAt: now + 45_000 } });
        expect(await store.verify(record.id, owner(record, { now }), ['p1:right'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
        expect(await store.verify(record.id, owner(record, { now }), ['p1:new'])).toMatchObject({ status: 'ok' });
      });

      it('at maxSends answers exhausted (even inside a cooldown)', async () => {
        const record = await created({ sends: 2, maxSends: 3, nextSendAt: T0 });
        expect(await store.reserveResend(record.id, owner(record, { now: T0 }), { digest: 'p1:2', cooldownMs: 30_000, keepEarlier: false })).toMatchObject({ status: 'ok', record: { sends: 3 } });
        expect(await store.reserveResend(record.id, owner(record, { now: T0 + 1 }), { digest: 'p1:3', cooldownMs: 30_000, keepEarlier: false })).toEqual({ status: 'exhausted', retryAfterMs: record.expiresAt - (T0 + 1) });
        expect(await store.reserveResend(record.id, owner(record, { now: T0 + 60_000 }), { digest: 'p1:3', cooldownMs: 30_000, keepEarlier: false })).toEqual({ status: 'exhausted', retryAfterMs: record.expiresAt - (T0 + 60_000) });
      });

      it('never resets attempts: failures before the resend still count after it', async () => {
        const record = await created({ maxAttempts: 3, nextSendAt: T0 });
        expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
        expect(await store.reserveResend(record.id, owner(record), { digest: 'p1:new', cooldownMs: 1, keepEarlier: false })).toMatchObject({ status: 'ok', record: { attempts: 1 } });
        expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'invalid', attemptsLeft: 1, ...FAILED });
        expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'locked_now', ...FAILED });
      });

      it('another subject or an unknown id is not_found', async () => {
        const record = await created({ nextSendAt: T0 });
        expect(await store.reserveResend(record.id, owner(record, { subject: 'other' }), { digest: 'p1:new', cooldownMs: 1, keepEarlier: false })).toEqual({ status: 'not_found' });
        expect(await store.reserveResend(randomBytes(16).toString('base64url'), owner(record), { digest: 'p1:new', cooldownMs: 1, keepEarlier: false })).toEqual({ status: 'not_found' });
        expect(await take(record.id)).toMatchObject({ sends: 1, digest: 'p1:right' });
      });
    });

    describe('recordDelivery', () => {
      it('changes the channel, transport and last message of a live challenge', async () => {
        const record = await created();
        await store.recordDelivery(record.id, { channel: 'sms-backup', transport: 'sms', messageId: 'SM1', sentAt: T0, keepEarlier: false });
        expect(await take(record.id)).toEqual({ ...record, channel: 'sms-backup', transport: 'sms', messageId: 'SM1', sentAt: T0 });
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual(consumedBy({ ...record, channel: 'sms-backup', transport: 'sms' }));
      });

      it('never recreates a deleted challenge', async () => {
        const record = await created();
        await store.delete(record.id);
        await store.recordDelivery(record.id, { channel: 'sms-backup', transport: 'sms', messageId: 'SM1', sentAt: T0, keepEarlier: false });
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'not_found' });
      });

      it('never changes or revives a consumed challenge', async () => {
        const record = await created();
        expect(await store.verify(record.id, owner(record), ['p1:right'], undefined, RECEIPT)).toMatchObject({ status: 'ok', repeated: false });
        await store.recordDelivery(record.id, { channel: 'sms-backup', transport: 'sms', messageId: 'SM1', sentAt: T0, keepEarlier: false });
        await store.discardCode(record.id, 'p1:right');
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual(repeatOf(record, RECEIPT));
        expect(await store.applyStatus(record.id, 'SM1', 'delivered')).toEqual({ status: 'gone' });
      });
    });

    describe('delete', () => {
      it('removes a challenge; deleting an unknown id is harmless', async () => {
        const record = await created();
        await store.delete(record.id);
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'not_found' });
        await expect(store.delete(record.id)).resolves.toBeUndefined();
      });
    });

    describe('consumeOnce', () => {
      it('is true the first time and false after, per key', async () => {
        const key = randomBytes(16).toString('base64url');
        expect(await store.consumeOnce(key, 60_000)).toBe(true);
        expect(await store.consumeOnce(key, 60_000)).toBe(false);
        expect(await store.consumeOnce(`${key}x`, 60_000)).toBe(true);
      });

      it('of many concurrent calls for one key exactly one is true', async () => {
        const key = randomBytes(16).toString('base64url');
        const results = await Promise.all(Array.from({ length: 20 }, () => store.consumeOnce(key, 60_000)));
        expect(results.filter(Boolean)).toHaveLength(1);
      });
    });

    // ---- issue #3: hosted checks, kept codes, delivery bookkeeping, facts, due fallbacks ----

    /** Reads a whole record (a hosted check's first step returns it, one attempt counted: taken back here). */
    async function take(id: string): Promise<ChallengeRecord> {
      const outcome = await store.beginHostedCheck(id, systemOwner(T0 + 1_000));
      if (outcome.status !== 'check') throw new Error(`expected the record of ${id}, got ${outcome.status}`);
      return { ...outcome.record, attempts: outcome.record.attempts - 1 };
    }

    const resendInput = (digest: string, keepEarlier: boolean) => ({ digest, cooldownMs: 1_000, keepEarlier });
    const delivery = (messageId: string, extra: Partial<DeliveryRecord> = {}): DeliveryRecord => ({
      channel: 'wa', transport: 'whatsapp', messageId, sentAt: T0 + 500, keepEarlier: false, ...extra,
    });

    describe('hosted checks: beginHostedCheck reserves an attempt, finishHostedCheck decides', () => {
      it('begin counts an attempt before the provider is asked and returns the record with it', async () => {
        const record = await created({ maxAttempts: 3, hostedIds: 'mc=V1', digest: '' });
        expect(await store.beginHostedCheck(record.id, owner(record))).toEqual({ status: 'check', record: { ...record, attempts: 1 } });
        expect(await store.finishHostedCheck(record.id, false)).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
        expect(await store.beginHostedCheck(record.id, owner(record))).toMatchObject({ status: 'check', record: { attempts: 2 } });
      });

      it('begin is locked once attempts reach maxAttempts, even if no finish ever came', async () => {
        const record = await created({ maxAttempts: 2 });
        expect(await store.beginHostedCheck(record.id, owner(record))).toMatchObject({ status: 'check' });
        expect(await store.beginHostedCheck(record.id, owner(record))).toMatchObject({ status: 'check', record: { attempts: 2 } });
        expect(await store.beginHostedCheck(record.id, owner(record))).toEqual({ status: 'locked' });
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toMatchObject({ status: 'ok' });
      });

      it('of 8 concurrent begins with maxAttempts 5, exactly 5 reserve an attempt and 3 are locked', async () => {
        const record = await created({ maxAttempts: 5 });
        const outcomes = await Promise.all(Array.from({ length: 8 }, () => store.beginHostedCheck(record.id, owner(record))));
        expect(outcomes.filter((outcome) => outcome.status === 'check')).toHaveLength(5);
        expect(outcomes.filter((outcome) => outcome.status === 'locked')).toHaveLength(3);
        const attempts = outcomes.flatMap((outcome) => (outcome.status === 'check' ? [outcome.record.attempts] : [])).sort();
        expect(attempts).toEqual([1, 2, 3, 4, 5]);
      });

      it('begin keeps the owner, binding, lock and expiry checks of verify, without costing an attempt', async () => {
        const record = await created({ bindingHash: 'bind-A', maxAttempts: 3 });
        expect(await store.beginHostedCheck(record.id, owner(record, { subject: 'user-2', bindingHashes: ['bind-A'] }))).toEqual({ status: 'not_found' });
        expect(await store.beginHostedCheck(record.id, owner(record, { bindingHashes: ['bind-B'] }))).toEqual({ status: 'not_found' });
        expect(await store.beginHostedCheck(record.id, owner(record))).toEqual({ status: 'not_found' });
        expect(await store.beginHostedCheck(record.id, owner(record, { bindingHashes: ['bind-A'], now: record.expiresAt }))).toEqual({ status: 'expired' });
        expect(await store.beginHostedCheck(randomBytes(16).toString('base64url'), owner(record))).toEqual({ status: 'not_found' });
        const locked = await created({ locked: true });
        expect(await store.beginHostedCheck(locked.id, owner(locked))).toEqual({ status: 'locked' });
        expect(await store.beginHostedCheck(record.id, owner(record, { bindingHashes: ['bind-A'] }))).toMatchObject({ status: 'check', record: { attempts: 1 } });
      });

      it('finish approved consumes the challenge once, keeping the approved code\'s digest: its retry repeats the receipt, a refused finish or another code is not_found', async () => {
        const record = await created({ hostedIds: 'mc=V1', digest: '' });
        expect(await store.beginHostedCheck(record.id, owner(record))).toMatchObject({ status: 'check' });
        expect(await store.finishHostedCheck(record.id, true, undefined, { ...RECEIPT, digest: 'p1:typed' })).toEqual(consumedBy(record, RECEIPT));
        expect(await store.finishHostedCheck(record.id, true)).toEqual(repeatOf(record, RECEIPT));
        expect(await store.finishHostedCheck(record.id, false)).toEqual({ status: 'not_found' });
        expect(await store.verify(record.id, owner(record), ['p1:typed'])).toEqual(repeatOf(record, RECEIPT));
        expect(await store.beginHostedCheck(record.id, owner(record), undefined, ['p1:typed'])).toEqual(repeatOf(record, RECEIPT));
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'not_found' });
      });

      it('of two concurrent finishHostedCheck(approved) exactly one consumes (R-C3); the other gets its receipt', async () => {
        const record = await created();
        await store.beginHostedCheck(record.id, owner(record));
        await store.beginHostedCheck(record.id, owner(record));
        const outcomes = await Promise.all(['jti-a', 'jti-b'].map((jti) => store.finishHostedCheck(record.id, true, undefined, { jti, verifiedAt: T0 + 1_000, digest: 'p1:right' })));
        expect(outcomes.filter((outcome) => outcome.status === 'ok' && !outcome.repeated)).toHaveLength(1);
        expect(new Set(outcomes.map((outcome) => outcome.status === 'ok' && outcome.receipt.jti)).size).toBe(1);
      });

      it('of 20 concurrent finishHostedCheck(approved) exactly one consumes; all carry one token id', async () => {
        const record = await created();
        const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => store.finishHostedCheck(record.id, true, undefined, { jti: `jti-${i}`, verifiedAt: T0 + 1_000, digest: 'p1:right' })));
        expect(outcomes.filter((outcome) => outcome.status === 'ok' && !outcome.repeated)).toHaveLength(1);
        expect(outcomes.filter((outcome) => outcome.status === 'ok' && outcome.repeated)).toHaveLength(19);
        expect(new Set(outcomes.map((outcome) => outcome.status === 'ok' && outcome.receipt.jti)).size).toBe(1);
      });

      it('a wrong code on the last reserved attempt is locked_now: the challenge locks and keeps no digest', async () => {
        const record = await created({ maxAttempts: 2 });
        await store.beginHostedCheck(record.id, owner(record));
        expect(await store.finishHostedCheck(record.id, false)).toEqual({ status: 'invalid', attemptsLeft: 1, ...FAILED });
        await store.beginHostedCheck(record.id, owner(record));
        expect(await store.finishHostedCheck(record.id, false)).toEqual({ status: 'locked_now', ...FAILED });
        expect(await store.beginHostedCheck(record.id, owner(record))).toEqual({ status: 'locked' });
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'locked' });
        expect(await store.finishHostedCheck(record.id, true)).toEqual({ status: 'locked' });
      });

      it('finish on a missing key is not_found, approved or not', async () => {
        const id = randomBytes(16).toString('base64url');
        expect(await store.finishHostedCheck(id, true)).toEqual({ status: 'not_found' });
        expect(await store.finishHostedCheck(id, false)).toEqual({ status: 'not_found' });
      });

      it('finish approved on a locked record is locked and consumes nothing', async () => {
        const record = await created({ locked: true, attempts: 3, maxAttempts: 3, digest: '' });
        expect(await store.finishHostedCheck(record.id, true)).toEqual({ status: 'locked' });
        expect(await store.finishHostedCheck(record.id, true)).toEqual({ status: 'locked' });
      });

      it('a code verified through a hosted check cannot then be verified by digest (single use across both paths)', async () => {
        const record = await created();
        await store.beginHostedCheck(record.id, owner(record));
        expect(await store.finishHostedCheck(record.id, true)).toMatchObject({ status: 'ok' });
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'not_found' });
      });
    });

    describe('reserveResend: keeping earlier codes, test numbers, the system owner', () => {
      it('keepEarlier true keeps the earlier digests valid beside the new one: the old and the new both verify', async () => {
        const old = await created({ nextSendAt: T0 });
        expect(await store.reserveResend(old.id, owner(old), resendInput('p1:new', true))).toMatchObject({ status: 'ok', record: { digest: 'p1:right p1:new', sends: 2 } });
        expect(await store.verify(old.id, owner(old), ['p1:right'])).toMatchObject({ status: 'ok' });
        const fresh = await created({ nextSendAt: T0 });
        await store.reserveResend(fresh.id, owner(fresh), resendInput('p1:new', true));
        expect(await store.verify(fresh.id, owner(fresh), ['p1:new'])).toMatchObject({ status: 'ok' });
      });

      it('keepEarlier true accumulates every code sent: the first of three still verifies', async () => {
        const record = await created({ nextSendAt: T0, maxSends: 3 });
        await store.reserveResend(record.id, owner(record), resendInput('p1:second', true));
        await store.reserveResend(record.id, owner(record, { now: T0 + 5_000 }), resendInput('p1:third', true));
        expect(await take(record.id)).toMatchObject({ digest: 'p1:right p1:second p1:third', sends: 3 });
        expect(await store.verify(record.id, owner(record, { now: T0 + 5_000 }), ['p1:right'])).toMatchObject({ status: 'ok' });
      });

      it('keepEarlier false replaces every earlier digest, the kept ones included (R-C5)', async () => {
        const record = await created({ nextSendAt: T0, maxSends: 3 });
        await store.reserveResend(record.id, owner(record), resendInput('p1:second', true));
        expect(await store.reserveResend(record.id, owner(record, { now: T0 + 5_000 }), resendInput('p1:third', false))).toMatchObject({ status: 'ok', record: { digest: 'p1:third' } });
        expect(await store.verify(record.id, owner(record, { now: T0 + 5_000 }), ['p1:right'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
        expect(await store.verify(record.id, owner(record, { now: T0 + 5_000 }), ['p1:second'])).toEqual({ status: 'invalid', attemptsLeft: 1, ...FAILED });
        expect(await store.verify(record.id, owner(record, { now: T0 + 5_000 }), ['p1:third'])).toMatchObject({ status: 'ok' });
      });

      it('a testNumber record keeps its first (fixed) digest on resend even with keepEarlier false', async () => {
        const record = await created({ nextSendAt: T0, testNumber: true, digest: 'p1:fixed' });
        expect(await store.reserveResend(record.id, owner(record), resendInput('p1:random', false))).toMatchObject({ status: 'ok', record: { digest: 'p1:fixed p1:random', testNumber: true } });
        expect(await store.verify(record.id, owner(record), ['p1:fixed'])).toMatchObject({ status: 'ok', record: { testNumber: true } });
      });

      it('exhausted answers retryAfterMs = expiresAt − now, for the user and for the system owner alike', async () => {
        const record = await created({ sends: 3, maxSends: 3, nextSendAt: T0 + 60_000 });
        const now = T0 + 12_345;
        expect(await store.reserveResend(record.id, owner(record, { now }), resendInput('p1:x', false))).toEqual({ status: 'exhausted', retryAfterMs: record.expiresAt - now });
        expect(await store.reserveResend(record.id, systemOwner(now), resendInput('p1:x', false))).toEqual({ status: 'exhausted', retryAfterMs: record.expiresAt - now });
      });

      it('the system owner (subject \'\') skips the owner, binding and cooldown checks', async () => {
        const record = await created({ subject: 'someone', bindingHash: 'bind-A', nextSendAt: T0 + 60_000 });
        const now = T0 + 1_000;
        expect(await store.reserveResend(record.id, owner(record, { now }), resendInput('p1:user', false))).toEqual({ status: 'not_found' });
        expect(await store.reserveResend(record.id, owner(record, { now, bindingHashes: ['bind-A'] }), resendInput('p1:user', false))).toEqual({ status: 'cooldown', retryAfterMs: 59_000 });
        expect(await store.reserveResend(record.id, systemOwner(now), resendInput('p1:system', false))).toEqual({
          status: 'ok', record: { ...record, digest: 'p1:system', sends: 2, nextSendAt: now + 1_000 },
        });
      });

      it('the system owner still meets the lock, the expiry, the send cap and a missing challenge', async () => {
        const locked = await created({ locked: true, digest: '' });
        const expired = await created();
        const capped = await created({ sends: 3, maxSends: 3 });
        expect(await store.reserveResend(locked.id, systemOwner(T0 + 1_000), resendInput('p1:x', false))).toEqual({ status: 'locked' });
        expect(await store.reserveResend(expired.id, systemOwner(expired.expiresAt), resendInput('p1:x', false))).toEqual({ status: 'expired' });
        expect(await store.reserveResend(capped.id, systemOwner(T0 + 1_000), resendInput('p1:x', false))).toEqual({ status: 'exhausted', retryAfterMs: capped.expiresAt - (T0 + 1_000) });
        expect(await store.reserveResend(randomBytes(16).toString('base64url'), systemOwner(T0 + 1_000), resendInput('p1:x', false))).toEqual({ status: 'not_found' });
        expect(await store.verify(expired.id, owner(expired, { now: expired.expiresAt - 1 }), ['p1:right'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
      });

      it('a hosted resend (empty digest) with keepEarlier false leaves no digest', async () => {
        const record = await created({ nextSendAt: T0 });
        expect(await store.reserveResend(record.id, owner(record), resendInput('', false))).toMatchObject({ status: 'ok', record: { digest: '' } });
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
      });
    });

    describe('recordDelivery: messages, hosted ids, dropped digests', () => {
      it('with hostedId drops dropDigest (our unsent code) and sets hostedIds; keepEarlier false replaces earlier hosted ids', async () => {
        const record = await created({ digest: 'p1:right p1:ours', hostedIds: 'mc=V0' });
        await store.recordDelivery(record.id, delivery('V1', { channel: 'mc', transport: 'sms', hostedId: 'mc=V1', dropDigest: 'p1:ours' }));
        expect(await take(record.id)).toEqual({ ...record, channel: 'mc', transport: 'sms', messageId: 'V1', sentAt: T0 + 500, digest: 'p1:right', hostedIds: 'mc=V1' });
      });

      it('with hostedId and keepEarlier true appends to the earlier hosted ids', async () => {
        const record = await created({ digest: 'p1:ours', hostedIds: '' });
        await store.recordDelivery(record.id, delivery('V1', { hostedId: 'mc=V1', dropDigest: 'p1:ours', keepEarlier: true }));
        await store.recordDelivery(record.id, delivery('V2', { hostedId: 'mc-sms=V2', dropDigest: 'p1:other', keepEarlier: true }));
        expect(await take(record.id)).toMatchObject({ digest: '', hostedIds: 'mc=V1 mc-sms=V2', messageId: 'V2' });
      });

      it('dropping the only digest leaves none: our unsent code does not verify', async () => {
        const record = await created({ digest: 'p1:right' });
        await store.recordDelivery(record.id, delivery('V1', { hostedId: 'mc=V1', dropDigest: 'p1:right' }));
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED, channel: 'wa' });
        expect(await take(record.id)).toMatchObject({ digest: '', hostedIds: 'mc=V1' });
      });

      it('discardCode takes one unsent digest out and keeps the others; a missing challenge is a no-op, never recreated', async () => {
        const record = await created({ digest: 'p1:old p1:unsent' });
        await store.discardCode(record.id, 'p1:unsent');
        expect(await store.verify(record.id, owner(record), ['p1:unsent'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
        expect(await take(record.id)).toMatchObject({ digest: 'p1:old' });
        const last = await created({ digest: 'p1:only' });
        await store.discardCode(last.id, 'p1:only');
        expect(await take(last.id)).toMatchObject({ digest: '' });
        await store.discardCode('missing-challenge-id-000', 'p1:old');
        expect(await store.verify('missing-challenge-id-000', owner(record), ['p1:old'])).toEqual({ status: 'not_found' });
      });

      it('without hostedId, keepEarlier false clears the hosted ids (their codes are replaced); keepEarlier true keeps them', async () => {
        const cleared = await created({ hostedIds: 'mc=V1' });
        await store.recordDelivery(cleared.id, delivery('SM1', { channel: 'sms', transport: 'sms' }));
        expect(await take(cleared.id)).toMatchObject({ hostedIds: '', digest: 'p1:right', channel: 'sms', transport: 'sms', messageId: 'SM1' });
        const kept = await created({ hostedIds: 'mc=V1' });
        await store.recordDelivery(kept.id, delivery('SM1', { keepEarlier: true }));
        expect(await take(kept.id)).toMatchObject({ hostedIds: 'mc=V1', digest: 'p1:right' });
      });

      it('resets deliveryStatus to \'\' for the new message', async () => {
        const record = await created({ messageId: 'wamid.1', deliveryStatus: 'failed', sentAt: T0 });
        await store.recordDelivery(record.id, delivery('SM2', { sentAt: T0 + 9_000 }));
        expect(await take(record.id)).toMatchObject({ messageId: 'SM2', sentAt: T0 + 9_000, deliveryStatus: '' });
      });

      it('with messageFact, the message\'s fact names the challenge; a challenge that is gone gets no record', async () => {
        const record = await created();
        const key = `msg:wamid.${randomBytes(8).toString('hex')}`;
        await store.recordDelivery(record.id, { ...delivery('wamid.F'), messageFact: { key, ttlMs: 60_000 } });
        expect(await store.getFact(key)).toBe(record.id);
        expect(await take(record.id)).toMatchObject({ messageId: 'wamid.F', deliveryStatus: '' });
        await store.recordDelivery('missing-challenge-id-001', { ...delivery('wamid.G'), messageFact: { key: `${key}x`, ttlMs: 60_000 } });
        expect(await store.verify('missing-challenge-id-001', owner(record), ['p1:right'])).toEqual({ status: 'not_found' });
      });
    });

    describe('applyStatus: forward only, failed once', () => {
      async function withMessage(overrides: Partial<ChallengeRecord> = {}): Promise<ChallengeRecord> {
        return created({ messageId: 'wamid.A', sentAt: T0, ...overrides });
      }

      it('sent, delivered, read are applied in order and return the record as it was', async () => {
        const record = await withMessage();
        expect(await store.applyStatus(record.id, 'wamid.A', 'sent')).toEqual({ status: 'applied', record });
        expect(await store.applyStatus(record.id, 'wamid.A', 'delivered')).toEqual({ status: 'applied', record: { ...record, deliveryStatus: 'sent' } });
        expect(await store.applyStatus(record.id, 'wamid.A', 'read')).toEqual({ status: 'applied', record: { ...record, deliveryStatus: 'delivered' } });
        expect(await take(record.id)).toMatchObject({ deliveryStatus: 'read' });
      });

      it('a status may skip ahead (delivered from nothing), but a repeated or backward one is ignored', async () => {
        const record = await withMessage();
        expect(await store.applyStatus(record.id, 'wamid.A', 'delivered')).toMatchObject({ status: 'applied' });
        expect(await store.applyStatus(record.id, 'wamid.A', 'delivered')).toEqual({ status: 'ignored' });
        expect(await store.applyStatus(record.id, 'wamid.A', 'sent')).toEqual({ status: 'ignored' });
        expect(await store.applyStatus(record.id, 'wamid.A', 'read')).toMatchObject({ status: 'applied' });
        expect(await store.applyStatus(record.id, 'wamid.A', 'delivered')).toEqual({ status: 'ignored' });
        expect(await take(record.id)).toMatchObject({ deliveryStatus: 'read' });
      });

      it("failed from '' is answered 'failed' exactly once; repeated, it is ignored", async () => {
        const record = await withMessage();
        expect(await store.applyStatus(record.id, 'wamid.A', 'failed')).toEqual({ status: 'failed', record });
        expect(await store.applyStatus(record.id, 'wamid.A', 'failed')).toEqual({ status: 'ignored' });
        expect(await take(record.id)).toMatchObject({ deliveryStatus: 'failed' });
      });

      it("failed after sent is answered 'failed'", async () => {
        const record = await withMessage();
        await store.applyStatus(record.id, 'wamid.A', 'sent');
        expect(await store.applyStatus(record.id, 'wamid.A', 'failed')).toEqual({ status: 'failed', record: { ...record, deliveryStatus: 'sent' } });
      });

      it('failed after delivered or read is ignored (the code arrived)', async () => {
        for (const reached of ['delivered', 'read'] as const) {
          const record = await withMessage();
          await store.applyStatus(record.id, 'wamid.A', reached);
          expect(await store.applyStatus(record.id, 'wamid.A', 'failed')).toEqual({ status: 'ignored' });
          expect(await take(record.id)).toMatchObject({ deliveryStatus: reached });
        }
      });

      it('nothing moves a failed message on: sent, delivered or read after failed are ignored', async () => {
        const record = await withMessage();
        await store.applyStatus(record.id, 'wamid.A', 'failed');
        for (const status of ['sent', 'delivered', 'read', 'failed'] as const) {
          expect(await store.applyStatus(record.id, 'wamid.A', status)).toEqual({ status: 'ignored' });
        }
        expect(await take(record.id)).toMatchObject({ deliveryStatus: 'failed' });
      });

      it("of 10 concurrent failed reports exactly one is 'failed', the rest ignored", async () => {
        const record = await withMessage();
        const outcomes = await Promise.all(Array.from({ length: 10 }, () => store.applyStatus(record.id, 'wamid.A', 'failed')));
        expect(outcomes.filter((outcome) => outcome.status === 'failed')).toHaveLength(1);
        expect(outcomes.filter((outcome) => outcome.status === 'ignored')).toHaveLength(9);
      });

      it('a report for another message than the latest is stale and changes nothing; a missing challenge is gone', async () => {
        const record = await withMessage();
        expect(await store.applyStatus(record.id, 'wamid.OLD', 'failed')).toEqual({ status: 'stale' });
        expect(await store.applyStatus(record.id, 'wamid.A', 'failed')).toMatchObject({ status: 'failed' });
        expect(await store.applyStatus(randomBytes(16).toString('base64url'), 'wamid.A', 'failed')).toEqual({ status: 'gone' });
        await store.delete(record.id);
        expect(await store.applyStatus(record.id, 'wamid.A', 'delivered')).toEqual({ status: 'gone' });
      });

      it('a new delivery makes the earlier message stale and starts the new one afresh', async () => {
        const record = await withMessage();
        await store.applyStatus(record.id, 'wamid.A', 'failed');
        await store.recordDelivery(record.id, delivery('SM1', { channel: 'sms', transport: 'sms' }));
        expect(await store.applyStatus(record.id, 'wamid.A', 'delivered')).toEqual({ status: 'stale' });
        expect(await store.applyStatus(record.id, 'SM1', 'failed')).toMatchObject({ status: 'failed', record: { messageId: 'SM1', channel: 'sms', deliveryStatus: '' } });
      });
    });

    describe('facts', () => {
      it('getFact returns what setFact stored, undefined for an unknown key, and a later set replaces', async () => {
        const key = `msg:${randomBytes(8).toString('hex')}`;
        expect(await store.getFact(key)).toBeUndefined();
        await store.setFact(key, 'challenge-1', 60_000);
        expect(await store.getFact(key)).toBe('challenge-1');
        await store.setFact(key, 'challenge-2', 60_000);
        expect(await store.getFact(key)).toBe('challenge-2');
        expect(await store.getFact(`${key}x`)).toBeUndefined();
      });
    });

    describe('admit: a start\'s counters, reads and facts, and the challenge only when no limit refuses it (R-I1)', () => {
      const unique = (what: string) => `${what}:${randomBytes(8).toString('hex')}`;
      const failureLimit = (max: number) => ({ key: unique('failures'), max, windowMs: 60_000, now: T0 + 1_000 });

      it('under every limit: counts each hit, reads counters and facts, and creates the challenge', async () => {
        const [phone, ip, read, fact] = [unique('phone'), unique('ip'), unique('verifiedIn'), unique('nowa')];
        await store.countHits([{ key: read, windowMs: 60_000 }]);
        await store.setFact(fact, '1', 60_000);
        const record = challengeRecord();
        const outcome = await store.admit(record, TTL_MS, {
          hits: [{ key: phone, windowMs: 60_000, max: 1 }, { key: ip, windowMs: 30_000 }], reads: [read, unique('unread')], facts: [fact, unique('unknown')], failures: failureLimit(3),
        });
        expect(outcome).toEqual({
          created: true,
          failures: { count: 0, resetInMs: 0 },
          hits: [{ count: 1, resetInMs: 60_000 }, { count: 1, resetInMs: 30_000 }],
          reads: [{ count: 1, resetInMs: expect.any(Number) }, { count: 0, resetInMs: 0 }],
          facts: ['1', undefined],
        });
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toMatchObject({ status: 'ok' });
      });

      it('a hit past its max: nothing is stored, and every counter still moved', async () => {
        const [phone, ip] = [unique('phone'), unique('ip')];
        const admission = { hits: [{ key: phone, windowMs: 60_000, max: 1 }, { key: ip, windowMs: 60_000, max: 5 }], reads: [], facts: [], failures: failureLimit(0) };
        expect(await store.admit(challengeRecord(), TTL_MS, admission)).toMatchObject({ created: true });
        const refused = challengeRecord();
        expect(await store.admit(refused, TTL_MS, admission)).toMatchObject({ created: false, hits: [{ count: 2 }, { count: 2 }] });
        expect(await store.verify(refused.id, owner(refused), ['p1:right'])).toEqual({ status: 'not_found' });
        expect((await store.readHits([phone, ip])).map(({ count }) => count)).toEqual([2, 2]);
      });

      it('a hit without max counts and never refuses', async () => {
        const key = unique('sentTo');
        for (let sends = 1; sends <= 3; sends++) {
          expect(await store.admit(challengeRecord(), TTL_MS, { hits: [{ key, windowMs: 60_000 }], reads: [], facts: [], failures: failureLimit(0) }))
            .toMatchObject({ created: true, hits: [{ count: sends }] });
        }
      });

      it('a subject at its failure limit: nothing is stored, the counters still moved, and the count says how long', async () => {
        const failures = failureLimit(2);
        const first = await created();
        for (let i = 0; i < 2; i++) await store.verify(first.id, owner(first), ['p1:wrong'], failures);
        const counter = unique('subject');
        const refused = challengeRecord({ id: first.id.slice(0, 4) + randomBytes(16).toString('base64url') });
        const outcome = await store.admit(refused, TTL_MS, { hits: [{ key: counter, windowMs: 60_000, max: 5 }], reads: [], facts: [], failures });
        expect(outcome).toMatchObject({ created: false, failures: { count: 2 }, hits: [{ count: 1 }] });
        expect(outcome.failures.resetInMs).toBeGreaterThan(0);
        expect(outcome.failures.resetInMs).toBeLessThanOrEqual(60_000);
        expect(await store.verify(refused.id, owner(refused), ['p1:right'])).toEqual({ status: 'not_found' });
        // Under the limit the same subject's challenge is stored, and its wrong codes count on the same record.
        const under = challengeRecord({ id: first.id.slice(0, 4) + randomBytes(16).toString('base64url') });
        expect(await store.admit(under, TTL_MS, { hits: [], reads: [], facts: [], failures: { ...failures, max: 3 } })).toMatchObject({ created: true, failures: { count: 2 } });
        expect(await store.verify(under.id, owner(under), ['p1:wrong'], { ...failures, max: 3 })).toMatchObject({ status: 'invalid' });
        expect(await store.readFailures(under.id.slice(0, 4), failures)).toMatchObject({ count: 3 });
      });
    });

    describe('due fallbacks', () => {
      // Every test starts with no due entry left by another one.
      beforeEach(async () => {
        await store.claimDueFallbacks(Number.MAX_SAFE_INTEGER, 10_000);
      });

      it('hands out only the entries due at now, oldest first, at most limit, and each once', async () => {
        await store.scheduleFallback('c3 m3', T0 + 3_000);
        await store.scheduleFallback('c1 m1', T0 + 1_000);
        await store.scheduleFallback('late m9', T0 + 9_000);
        await store.scheduleFallback('c2 m2', T0 + 2_000);
        expect(await store.claimDueFallbacks(T0 + 500, 10)).toEqual([]);
        expect(await store.claimDueFallbacks(T0 + 3_000, 2)).toEqual(['c1 m1', 'c2 m2']);
        expect(await store.claimDueFallbacks(T0 + 3_000, 10)).toEqual(['c3 m3']);
        expect(await store.claimDueFallbacks(T0 + 3_000, 10)).toEqual([]);
        expect(await store.claimDueFallbacks(T0 + 9_000, 10)).toEqual(['late m9']);
      });

      it('cancelFallback removes an entry; cancelling an unknown one is harmless', async () => {
        await store.scheduleFallback('c1 m1', T0 + 1_000);
        await store.scheduleFallback('c2 m2', T0 + 1_000);
        await store.cancelFallback('c1 m1');
        await expect(store.cancelFallback('never scheduled')).resolves.toBeUndefined();
        expect(await store.claimDueFallbacks(T0 + 1_000, 10)).toEqual(['c2 m2']);
      });

      it('scheduling the same entry again moves its due time instead of adding a second one', async () => {
        await store.scheduleFallback('c1 m1', T0 + 1_000);
        await store.scheduleFallback('c1 m1', T0 + 5_000);
        expect(await store.claimDueFallbacks(T0 + 1_000, 10)).toEqual([]);
        expect(await store.claimDueFallbacks(T0 + 5_000, 10)).toEqual(['c1 m1']);
      });

      it('two concurrent claimers never get the same entry, and together get every due one', async () => {
        const entries = Array.from({ length: 40 }, (_, index) => `c${index} m${index}`);
        for (const [index, entry] of entries.entries()) await store.scheduleFallback(entry, T0 + index);
        const [a, b] = await Promise.all([store.claimDueFallbacks(T0 + 100, 25), store.claimDueFallbacks(T0 + 100, 25)]);
        expect(a.filter((entry) => b.includes(entry))).toEqual([]);
        expect([...a, ...b].sort()).toEqual([...entries].sort());
      });
    });

    it('of many concurrent verifies with the right digest exactly one consumes (R-C3); the others repeat its receipt', async () => {
      const record = await created({ maxAttempts: 5 });
      const outcomes = await Promise.all(Array.from({ length: 30 }, (_, i) => store.verify(record.id, owner(record), ['p1:right'], undefined, { jti: `jti-${i}`, verifiedAt: T0 + 1_000 })));
      expect(outcomes.filter((outcome) => outcome.status === 'ok' && !outcome.repeated)).toHaveLength(1);
      expect(outcomes.filter((outcome) => outcome.status === 'ok' && outcome.repeated)).toHaveLength(29);
      expect(new Set(outcomes.map((outcome) => outcome.status === 'ok' && outcome.receipt.jti)).size).toBe(1);
    });

    it('of many concurrent wrong verifies the attempts count exactly (one locked_now)', async () => {
      const record = await created({ maxAttempts: 5 });
      const outcomes = await Promise.all(Array.from({ length: 8 }, () => store.verify(record.id, owner(record), ['p1:wrong'])));
      const statuses = outcomes.map((outcome) => outcome.status).sort();
      expect(statuses).toEqual(['invalid', 'invalid', 'invalid', 'invalid', 'locked', 'locked', 'locked', 'locked_now']);
      const left = outcomes.flatMap((outcome) => (outcome.status === 'invalid' ? [outcome.attemptsLeft] : [])).sort();
      expect(left).toEqual([1, 2, 3, 4]);
    });
  });
}

// ---- MemoryStore ------------------------------------------------------------------

describeStoreContract('MemoryStore', () => new MemoryStore());

describe('MemoryStore specifics', () => {
  it('drops a challenge and a one-time mark when its TTL passes on the injected clock', async () => {
    let now = T0;
    const store = new MemoryStore({ clock: () => now });
    const record = challengeRecord({ expiresAt: T0 + 10 * 60_000 });
    await store.create(record, 60_000);
    expect(await store.consumeOnce('jti-1', 60_000)).toBe(true);
    now += 59_999;
    expect(await store.consumeOnce('jti-1', 60_000)).toBe(false);
    now += 1;
    expect(await store.verify(record.id, owner(record, { now }), ['p1:right'])).toEqual({ status: 'not_found' });
    expect(await store.consumeOnce('jti-1', 60_000)).toBe(true);
  });

  it('drops a fact when its TTL passes on the injected clock', async () => {
    let now = T0;
    const store = new MemoryStore({ clock: () => now });
    await store.setFact('nowa:abc', '1', 30_000);
    now += 29_999;
    expect(await store.getFact('nowa:abc')).toBe('1');
    now += 1;
    expect(await store.getFact('nowa:abc')).toBeUndefined();
    await store.setFact('nowa:abc', '1', 30_000);
    expect(await store.getFact('nowa:abc')).toBe('1');
  });

  it('forgets due fallbacks a day after the last schedule, as the RedisStore key TTL does (R-J11)', async () => {
    let now = T0;
    const store = new MemoryStore({ clock: () => now });
    await store.scheduleFallback('c1 m1', T0 + 1_000);
    now += DUE_FALLBACKS_TTL_MS - 1;
    await store.scheduleFallback('c2 m2', T0 + 2_000);
    now += DUE_FALLBACKS_TTL_MS - 1;
    expect(await store.claimDueFallbacks(now, 1)).toEqual(['c1 m1']);
    now += 1;
    expect(await store.claimDueFallbacks(now, 10)).toEqual([]);
  });

  it('is marked ephemeral and refuses a clock that is not a function', () => {
    expect(new MemoryStore().ephemeral).toBe(true);
    expect(() => new MemoryStore({ clock: 5 as unknown as () => number })).toThrow(/`clock` must be a function/);
  });
});

// ---- RedisStore -------------------------------------------------------------------

let fixture: RedisFixture;
let fixturePromise: Promise<RedisFixture> | undefined;
const otherClients: Redis[] = [];

describe('RedisStore', () => {
  beforeAll(async () => {
    fixturePromise ??= redisFixture('contract');
    fixture = await fixturePromise;
  });
  afterAll(async () => {
    await fixture?.close();
    for (const client of otherClients) client.disconnect();
  });

  describeStoreContract('RedisStore', () => fixture.store);

  describe('RedisStore specifics', () => {
    it('a challenge\'s hash leaves out its id (the key names it) and the fields that hold their default; every operation reads them back as the defaults', async () => {
      const { client, prefix } = fixture;
      const store = new RedisStore({ client, prefix: `${prefix}lean:` });
      const hashOf = (record: ChallengeRecord) => client.hgetall(`${prefix}lean:{${record.id.slice(0, 4)}}ch:${record.id}`);
      const fresh = challengeRecord({ txn: '', otherFactors: '', nextSendAt: T0 });
      await store.create(fresh, TTL_MS);
      expect(Object.keys(await hashOf(fresh)).sort()).toEqual(['chn', 'cre', 'dig', 'exp', 'loc', 'max', 'msnd', 'nxt', 'phn', 'pur', 'snd', 'sub', 'to', 'trp']);
      expect(await store.reserveResend(fresh.id, owner(fresh), { digest: 'p1:new', cooldownMs: 1_000, keepEarlier: false }))
        .toEqual({ status: 'ok', record: { ...fresh, digest: 'p1:new', sends: 2, nextSendAt: T0 + 2_000 } });

      // The same fields, holding other values, are kept and read back.
      const full = challengeRecord({ bindingHash: 'b1', hostedIds: 'mc=V1', attempts: 1, messageId: 'wamid.A', sentAt: T0, deliveryStatus: 'sent', sealedPayment: 'p1.x.y.z', testNumber: true, nextSendAt: T0 });
      await store.create(full, TTL_MS);
      expect(Object.keys(await hashOf(full))).toEqual(expect.arrayContaining(['bnd', 'txn', 'hid', 'att', 'mid', 'sat', 'dst', 'pay', 'ofa', 'tst']));
      expect(await store.beginHostedCheck(full.id, owner(full, { bindingHashes: ['b1'] }))).toEqual({ status: 'check', record: { ...full, attempts: 2 } });
      expect(await store.applyStatus(full.id, 'wamid.A', 'delivered')).toEqual({ status: 'applied', record: { ...full, attempts: 2 } });

      // A new message has no status yet and, without keepEarlier, no hosted ids: both fields go rather than hold ''.
      await store.recordDelivery(full.id, { channel: 'sms', transport: 'sms', messageId: 'SM2', sentAt: T0 + 1, keepEarlier: false });
      const afterSend = await hashOf(full);
      expect(afterSend).toMatchObject({ chn: 'sms', trp: 'sms', mid: 'SM2' });
      expect(Object.keys(afterSend)).not.toContain('dst');
      expect(Object.keys(afterSend)).not.toContain('hid');
      expect(await store.applyStatus(full.id, 'SM2', 'sent')).toEqual({
        status: 'applied', record: { ...full, attempts: 2, channel: 'sms', transport: 'sms', messageId: 'SM2', sentAt: T0 + 1, deliveryStatus: '', hostedIds: '' },
      });
    });

    it('R-J11: every key it creates has a PTTL > 0 and no longer than the TTL it was given, across every operation', async () => {
      const { client, prefix } = fixture;
      const store = new RedisStore({ client, prefix: `${prefix}ttl:` });
      const record = challengeRecord({ nextSendAt: T0 });
      await store.create(record, 90_000);
      await store.verify(record.id, owner(record), ['p1:wrong']);
      await store.reserveResend(record.id, owner(record), { digest: 'p1:new', cooldownMs: 1_000, keepEarlier: false });
      await store.recordDelivery(record.id, { channel: 'sms', transport: 'sms', messageId: 'SM1', sentAt: T0, keepEarlier: false });
      await store.verify(record.id, owner(record, { now: record.expiresAt }), ['p1:new']);
      await store.consumeOnce('some-jti', 45_000);
      const keys = await scan(client, `${prefix}ttl:*`);
      expect(keys).toHaveLength(2);
      for (const key of keys) {
        const pttl = await client.pttl(key);
        const bound = key.includes(':jti:') ? 45_000 : 90_000;
        expect(pttl, key).toBeGreaterThan(0);
        expect(pttl, key).toBeLessThanOrEqual(bound);
      }
    });

    it('names the challenge key <prefix>{<tag>}ch:<id> (the tag: the id\'s first 4 characters, its subject\'s) and the one-time mark <prefix>jti:{<key>}: one hash tag each, fixing the Cluster slot', async () => {
      const { client, prefix } = fixture;
      const store = new RedisStore({ client, prefix: `${prefix}names:` });
      const record = challengeRecord();
      await store.create(record, 60_000);
      await store.consumeOnce('the-jti', 60_000);
      const keys = (await scan(client, `${prefix}names:*`)).sort();
      expect(keys).toEqual([`${prefix}names:{${record.id.slice(0, 4)}}ch:${record.id}`, `${prefix}names:jti:{the-jti}`].sort());
      for (const key of keys) expect(key.match(/[{}]/g)).toEqual(['{', '}']);
    });

    it('create keeps the subject\'s failure record in the challenge\'s slot at least as long as the challenge, so that verify\'s two keys exist together (a migrating Cluster slot serves a two-key script only then)', async () => {
      const { client, prefix } = fixture;
      const store = new RedisStore({ client, prefix: `${prefix}keep:` });
      const failures = { key: 'failures:subject-hash', max: 0, windowMs: 0, now: T0 };
      const long = challengeRecord();
      await store.create(long, 90_000, failures);
      const failuresKey = `${prefix}keep:{${long.id.slice(0, 4)}}lim:failures:subject-hash`;
      expect(await client.hgetall(failuresKey)).toEqual({ n: '0' });
      expect(await client.pttl(failuresKey)).toBeGreaterThan(89_000);
      // A shorter challenge does not shorten it; a right code (max 0: nothing counted) does not remove it.
      await store.create(challengeRecord({ id: long.id.slice(0, 4) + randomBytes(16).toString('base64url') }), 10_000, failures);
      expect(await client.pttl(failuresKey)).toBeGreaterThan(89_000);
      expect(await store.verify(long.id, owner(long), ['p1:right'], failures)).toMatchObject({ status: 'ok' });
      expect(await client.exists(failuresKey)).toBe(1);
    });

    it('recordDelivery on a deleted or consumed challenge leaves no key behind (no key without a TTL)', async () => {
      const { client, prefix } = fixture;
      const store = new RedisStore({ client, prefix: `${prefix}gone:` });
      const deleted = challengeRecord();
      const consumed = challengeRecord();
      await store.create(deleted, 60_000);
      await store.create(consumed, 60_000);
      await store.delete(deleted.id);
      expect(await store.verify(consumed.id, owner(consumed), ['p1:right'])).toMatchObject({ status: 'ok' });
      await store.recordDelivery(deleted.id, { channel: 'sms', transport: 'sms', messageId: 'SM1', sentAt: T0, keepEarlier: false });
      await store.recordDelivery(consumed.id, { channel: 'sms', transport: 'sms', messageId: 'SM1', sentAt: T0, keepEarlier: false });
      await store.recordDelivery(challengeRecord().id, { channel: 'sms', transport: 'sms', messageId: 'SM1', sentAt: T0, keepEarlier: false });
      // The consumed challenge stays for a retry, no longer than its code would have lived.
      const left = await scan(client, `${prefix}gone:*`);
      expect(left).toEqual([`${prefix}gone:{${consumed.id.slice(0, 4)}}ch:${consumed.id}`]);
      const ttl = await client.pttl(left[0]!);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(consumed.expiresAt - owner(consumed).now);
      expect(await client.hget(left[0]!, 'mid')).toBeNull();
    });

    it('a locked or expired challenge keeps no digest at rest', async () => {
      const { client, prefix } = fixture;
      const store = new RedisStore({ client, prefix: `${prefix}wipe:` });
      const locked = challengeRecord({ maxAttempts: 1 });
      const expired = challengeRecord();
      await store.create(locked, 60_000);
      await store.create(expired, 60_000);
      expect(await store.verify(locked.id, owner(locked), ['p1:wrong'])).toEqual({ status: 'locked_now', ...FAILED });
      expect(await store.verify(expired.id, owner(expired, { now: expired.expiresAt }), ['p1:wrong'])).toEqual({ status: 'expired' });
      expect(await client.hget(`${prefix}wipe:{${locked.id.slice(0, 4)}}ch:${locked.id}`, 'dig')).toBe('');
      expect(await client.hget(`${prefix}wipe:{${locked.id.slice(0, 4)}}ch:${locked.id}`, 'lck')).toBe('1');
      expect(await client.hget(`${prefix}wipe:{${expired.id.slice(0, 4)}}ch:${expired.id}`, 'dig')).toBe('');
    });

    it('R-J11: facts and the due-fallback set carry a PTTL > 0 and within their bound', async () => {
      const { client, prefix } = fixture;
      const store = new RedisStore({ client, prefix: `${prefix}facts:` });
      await store.setFact('msg:wamid.1', 'challenge-1', 45_000);
      await store.setFact('nowa:hash', '1', 30 * 86_400_000);
      await store.scheduleFallback('challenge-1 wamid.1', Date.now() + 60_000);
      const keys = (await scan(client, `${prefix}facts:*`)).sort();
      expect(keys).toEqual([`${prefix}facts:fact:{msg:wamid.1}`, `${prefix}facts:fact:{nowa:hash}`, `${prefix}facts:{fallbacks}`]);
      const bounds: Record<string, number> = {
        [`${prefix}facts:fact:{msg:wamid.1}`]: 45_000,
        [`${prefix}facts:fact:{nowa:hash}`]: 30 * 86_400_000,
        [`${prefix}facts:{fallbacks}`]: 86_400_000,
      };
      for (const key of keys) {
        const pttl = await client.pttl(key);
        expect(pttl, key).toBeGreaterThan(0);
        expect(pttl, key).toBeLessThanOrEqual(bounds[key]!);
      }
    });

    it('a fact is gone once its PTTL has passed', async () => {
      const { client, prefix } = fixture;
      const store = new RedisStore({ client, prefix: `${prefix}factttl:` });
      await store.setFact('short', 'x', 5);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await store.getFact('short')).toBeUndefined();
    });

    it('two RedisStore instances on one redis (two clients, one prefix) never claim the same due fallback', async () => {
      const { prefix } = fixture;
      const clients = [new Redis(redisUrl(), { autoResendUnfulfilledCommands: false }), new Redis(redisUrl(), { autoResendUnfulfilledCommands: false })];
      otherClients.push(...clients);
      const [a, b] = clients.map((client) => new RedisStore({ client, prefix: `${prefix}due2:` })) as [RedisStore, RedisStore];
      for (let round = 0; round < 5; round++) {
        const entries = Array.from({ length: 30 }, (_, index) => `r${round}c${index} m`);
        await Promise.all(entries.map((entry, index) => (index % 2 === 0 ? a : b).scheduleFallback(entry, T0 + index)));
        const claims = await Promise.all([a.claimDueFallbacks(T0 + 1_000, 20), b.claimDueFallbacks(T0 + 1_000, 20), a.claimDueFallbacks(T0 + 1_000, 20), b.claimDueFallbacks(T0 + 1_000, 20)]);
        const all = claims.flat();
        expect(new Set(all).size, `round ${round}`).toBe(all.length);
        expect(all.sort()).toEqual([...entries].sort());
      }
    });

    it('the due-fallback set is shared by instances with one prefix and apart for another prefix', async () => {
      const { client, prefix } = fixture;
      const a = new RedisStore({ client, prefix: `${prefix}dueA:` });
      const a2 = new RedisStore({ client, prefix: `${prefix}dueA:` });
      const b = new RedisStore({ client, prefix: `${prefix}dueB:` });
      await a.scheduleFallback('c1 m1', T0);
      expect(await b.claimDueFallbacks(T0, 10)).toEqual([]);
      expect(await a2.claimDueFallbacks(T0, 10)).toEqual(['c1 m1']);
      expect(await a.claimDueFallbacks(T0, 10)).toEqual([]);
    });

    it('keeps stores with different prefixes apart', async () => {
      const { client, prefix } = fixture;
      const a = new RedisStore({ client, prefix: `${prefix}a:` });
      const b = new RedisStore({ client, prefix: `${prefix}b:` });
      const record = challengeRecord();
      await a.create(record, 60_000);
      expect(await b.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'not_found' });
      expect(await b.consumeOnce('k', 60_000)).toBe(true);
      expect(await a.consumeOnce('k', 60_000)).toBe(true);
      expect(await a.verify(record.id, owner(record), ['p1:right'])).toMatchObject({ status: 'ok' });
    });

    it('R-J12: rejects a prefix containing { or } at construction', () => {
      for (const prefix of ['app{x}:', 'app{', 'app}:']) {
        expect(() => new RedisStore({ client: fixture.client, prefix })).toThrow(/`prefix`.*'\{' or '\}'/);
      }
    });

    it("R-J12: rejects an ioredis client whose keyPrefix contains braces", () => {
      const client = new Redis(redisUrl(), { lazyConnect: true, keyPrefix: 'app{1}:' });
      otherClients.push(client);
      expect(() => new RedisStore({ client })).toThrow(/keyPrefix/);
    });

    it("R-J4: rejects a Cluster client created with scaleReads: 'slave' (replica reads)", () => {
      const port = Number(new URL(redisUrl()).port);
      const cluster = new Cluster([{ host: '127.0.0.1', port }], { lazyConnect: true, scaleReads: 'slave' });
      expect(() => new RedisStore({ client: cluster })).toThrow(/scaleReads: 'master'/);
      const primaries = new Cluster([{ host: '127.0.0.1', port }], { lazyConnect: true, scaleReads: 'master', redisOptions: { autoResendUnfulfilledCommands: false } });
      expect(() => new RedisStore({ client: primaries, prefix: fixture.prefix })).not.toThrow();
      cluster.disconnect();
      primaries.disconnect();
    });

    it('R-J8: rejects a client that would resend unfulfilled commands after a reconnect (the ioredis default)', () => {
      const port = Number(new URL(redisUrl()).port);
      const resending = new Redis(redisUrl(), { lazyConnect: true });
      const cluster = new Cluster([{ host: '127.0.0.1', port }], { lazyConnect: true, scaleReads: 'master' });
      otherClients.push(resending);
      expect(() => new RedisStore({ client: resending })).toThrow(/autoResendUnfulfilledCommands: false/);
      expect(() => new RedisStore({ client: cluster })).toThrow(/autoResendUnfulfilledCommands: false.*redisOptions/);
      cluster.disconnect();
    });

    it('R-J8: a connection dropped right after the verify script ran counts the attempt exactly once and answers store_unavailable', async () => {
      // A TCP proxy that forwards everything, except that it can cut the client off instead of
      // passing on Redis's next answer: the script has run, its reply is lost.
      let dropNextReply = false;
      const sockets = new Set<Socket>();
      const proxy = createNetServer((downstream) => {
        const upstream = connect(Number(new URL(redisUrl()).port), '127.0.0.1');
        sockets.add(downstream).add(upstream);
        downstream.on('data', (chunk) => upstream.write(chunk));
        upstream.on('data', (chunk) => {
          if (dropNextReply) {
            dropNextReply = false;
            downstream.destroy();
            upstream.destroy();
            return;
          }
          downstream.write(chunk);
        });
        for (const socket of [downstream, upstream]) socket.on('error', () => undefined).on('close', () => { downstream.destroy(); upstream.destroy(); });
      });
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      const proxied = new Redis((proxy.address() as AddressInfo).port, '127.0.0.1', {
        enableOfflineQueue: false, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false, retryStrategy: () => 100,
      });
      proxied.on('error', () => undefined);
      otherClients.push(proxied);
      try {
        await once(proxied, 'ready');
        const store = new RedisStore({ client: proxied, prefix: `${fixture.prefix}rj8:` });
        const record = challengeRecord({ digest: 'p1:right' });
        await store.create(record, 60_000);
        await store.verify(record.id, owner(record), ['p1:warm-up']); // scripts loaded, one attempt counted
        dropNextReply = true;
        await expect(store.verify(record.id, owner(record), ['p1:wrong'])).rejects.toMatchObject({ code: 'store_unavailable' });
        // Whatever the client does after reconnecting, Redis ran the script once: two attempts in all.
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(await fixture.client.hget(`${fixture.prefix}rj8:{${record.id.slice(0, 4)}}ch:${record.id}`, 'att')).toBe('2');
      } finally {
        proxied.disconnect();
        for (const socket of sockets) socket.destroy();
        proxy.close();
      }
    });

    it('with enableAutoPipelining, the verify script (and a start\'s admission) goes out on its own; other commands still auto-pipeline, and no other client changes', async () => {
      const client = new Redis(redisUrl(), { enableOfflineQueue: false, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false, enableAutoPipelining: true, autoPipeliningIgnoredCommands: ['hgetall'] });
      const bystander = new Redis(redisUrl(), { lazyConnect: true, enableAutoPipelining: true });
      otherClients.push(client, bystander);
      await once(client, 'ready');
      const store = new RedisStore({ client, prefix: `${fixture.prefix}ap:` });
      expect(client.options.autoPipeliningIgnoredCommands).toEqual(['hgetall', 'stepupVerify', 'stepupBeginHosted', 'stepupFinishHosted', 'stepupAdmit', 'stepupRecordSent']);
      // ioredis's default list is one array for all its clients: ours was a copy.
      expect(bystander.options.autoPipeliningIgnoredCommands).toEqual([]);
      const record = challengeRecord({ digest: 'p1:right' });
      await store.create(record, 60_000);

      const verified = store.verify(record.id, owner(record), ['p1:right']);
      expect(client.autoPipelineQueueSize).toBe(0);
      const other = client.get(`${fixture.prefix}ap:unrelated`);
      expect(client.autoPipelineQueueSize).toBe(1);
      await expect(verified).resolves.toMatchObject({ status: 'ok' });
      await other;
    });

    it("R-J4: rejects a Sentinel client created with role: 'slave'; role 'master' is accepted", () => {
      const sentinel = (role: 'master' | 'slave') => {
        const client = new Redis({ sentinels: [{ host: '127.0.0.1', port: 1 }], name: 'mymaster', role, lazyConnect: true, autoResendUnfulfilledCommands: false });
        otherClients.push(client);
        return client;
      };
      expect(() => new RedisStore({ client: sentinel('slave') })).toThrow(/role: 'master'/);
      expect(() => new RedisStore({ client: sentinel('master'), prefix: fixture.prefix })).not.toThrow();
    });

    it('rejects missing options, a non-ioredis client, unknown options and an out-of-range timeoutMs, naming the option', () => {
      expect(() => new RedisStore(undefined as never)).toThrow(/RedisStore needs options/);
      expect(() => new RedisStore({ client: {} as never })).toThrow(/`client` must be an ioredis client/);
      expect(() => new RedisStore({ client: fixture.client, keyPrefix: 'x' } as never)).toThrow(/`keyPrefix`/);
      expect(() => new RedisStore({ client: fixture.client, timeoutMs: 10 })).toThrow(/`timeoutMs`/);
    });
  });
});

// ---- RedisStore on Redis Cluster ----------------------------------------------------
// The same contract on the suite's shared 3-primary cluster (global setup), through the
// Cluster client the README recommends. A script that touched keys of two slots would
// fail here with CROSSSLOT, surfacing as store_unavailable.

describe('RedisStore on a 3-primary Redis Cluster', () => {
  let cluster: Cluster;
  let store: RedisStore;
  const prefix = uniquePrefix('cluster');

  beforeAll(async () => {
    cluster = await connectCluster();
    store = new RedisStore({ client: cluster, prefix });
  });
  afterAll(async () => {
    if (!cluster) return;
    // One DEL per key: a multi-key DEL across slots would itself be CROSSSLOT.
    for (const key of await scanCluster(cluster, `${prefix}*`)) await cluster.del(key);
    cluster.disconnect();
  });

  describeStoreContract('RedisStore on Redis Cluster', () => store);

  describe('Cluster specifics', () => {
    it('R-J1: every script a Cluster runs reads and writes only keys from KEYS, never a key name built in Lua; only the verify steps take a second key (the subject\'s failures)', () => {
      // A start's admission and a delivery record with its message fact, each in one script, are for a standalone Redis (the test below: a Cluster never runs them).
      const standalone = ['ADMIT_SCRIPT', 'RECORD_SENT_SCRIPT'];
      const all = Object.entries(scripts).filter(([name]) => name.endsWith('_SCRIPT') && !standalone.includes(name)) as [string, string][];
      expect(all.length).toBeGreaterThanOrEqual(12);
      const twoKeys = ['VERIFY_SCRIPT', 'BEGIN_HOSTED_SCRIPT', 'FINISH_HOSTED_SCRIPT'];
      for (const [name, lua] of all) {
        const allowed = twoKeys.includes(name) ? ['KEYS[1]', 'KEYS[2]'] : ['KEYS[1]'];
        const calls = [...lua.matchAll(/redis\.call\('(\w+)'(?:,\s*([^,)]+))?/g)];
        expect(calls.length, name).toBeGreaterThan(0);
        // Shared Lua functions take their key as the parameter `key`, given from KEYS where they are called.
        for (const [call, , key] of calls) expect([...allowed, 'key'], `${name}: ${call}`).toContain(key);
        const helpers = [...lua.matchAll(/local function (\w+)\(key\b/g)].map(([, helper]) => helper!);
        for (const helper of helpers) {
          for (const [call, key] of lua.matchAll(new RegExp(`(?<!function )\\b${helper}\\(([^,)]+)`, 'g'))) expect(allowed, `${name}: ${call}`).toContain(key);
        }
        expect(lua, name).not.toMatch(twoKeys.includes(name) ? /KEYS\[[^12]|\.\.\s*KEYS|KEYS\[\d\]\s*\.\./ : /KEYS\[[^1]|\.\.\s*KEYS|KEYS\[1\]\s*\.\./);
      }
    });

    it('R-J1: a start\'s admission takes its steps on a Cluster (counters, reads and facts, then the challenge), and so does a delivery record with its message fact: the standalone scripts never run there', async () => {
      const client = await connectCluster();
      try {
        // Defined before the store: the store keeps a command the client already has.
        client.defineCommand('stepupAdmit', { lua: 'return redis.error_reply("the standalone admission ran on a Cluster")' });
        client.defineCommand('stepupRecordSent', { numberOfKeys: 2, lua: 'return redis.error_reply("the standalone delivery record ran on a Cluster")' });
        const own = new RedisStore({ client, prefix: `${prefix}steps:` });
        const hits = Array.from({ length: 6 }, (_, index) => ({ key: `ip:10.1.0.${index}`, windowMs: 60_000, max: 1 }));
        const record = challengeRecord();
        const admission = { hits, reads: ['verifiedIn:34'], facts: ['nowa:x'], failures: { key: 'failures:steps', max: 3, windowMs: 60_000, now: T0 + 1_000 } };
        expect(await own.admit(record, TTL_MS, admission)).toMatchObject({ created: true, hits: hits.map(() => ({ count: 1 })), facts: [undefined] });
        expect(await own.admit(challengeRecord(), TTL_MS, admission)).toMatchObject({ created: false });
        await own.recordDelivery(record.id, { channel: 'wa', transport: 'whatsapp', messageId: 'wamid.S', sentAt: T0, keepEarlier: false, messageFact: { key: 'msg:wamid.S', ttlMs: 60_000 } });
        expect(await own.getFact('msg:wamid.S')).toBe(record.id);
        expect(await own.verify(record.id, owner(record), ['p1:right'])).toMatchObject({ status: 'ok' });
      } finally {
        client.disconnect();
      }
    });

    it('R-J1 R-J11: every operation, on keys spread over all three primaries, runs without CROSSSLOT; each key is one hash tag on its own slot, with a bounded TTL', async () => {
      const own = new RedisStore({ client: cluster, prefix: `${prefix}all:` });
      const records = Array.from({ length: 24 }, () => challengeRecord({ nextSendAt: T0 }));
      await Promise.all(records.map((record) => own.create(record, 90_000)));
      await Promise.all(records.map(async (record, index) => {
        const who = owner(record);
        switch (index % 6) {
          case 0:
            // With the subject's failure counter: a second key, in the challenge's slot.
            expect(await own.verify(record.id, who, ['p1:wrong'], { key: `failures:${index}`, max: 5, windowMs: 60_000, now: T0 + 1_000 })).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
            return;
          case 1:
            expect(await own.reserveResend(record.id, who, { digest: 'p1:new', cooldownMs: 1_000, keepEarlier: true })).toMatchObject({ status: 'ok' });
            return;
          case 2:
            await own.recordDelivery(record.id, { channel: 'sms', transport: 'sms', messageId: `SM${index}`, sentAt: T0, keepEarlier: false });
            expect(await own.applyStatus(record.id, `SM${index}`, 'delivered')).toMatchObject({ status: 'applied' });
            return;
          case 3:
            expect(await own.beginHostedCheck(record.id, who)).toMatchObject({ status: 'check' });
            expect(await own.finishHostedCheck(record.id, false)).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
            return;
          case 4:
            await own.discardCode(record.id, 'p1:right');
            return;
          default:
            expect(await own.verify(record.id, who, ['p1:right'])).toMatchObject({ status: 'ok' });
        }
      }));
      const counters = Array.from({ length: 12 }, (_, index) => ({ key: `ip:10.0.0.${index}`, windowMs: 60_000 }));
      expect(await own.countHits(counters)).toEqual(counters.map(() => ({ count: 1, resetInMs: expect.any(Number) })));
      expect((await own.readHits(counters.map(({ key }) => key))).map(({ count }) => count)).toEqual(counters.map(() => 1));
      await Promise.all(Array.from({ length: 8 }, (_, index) => own.setFact(`msg:wamid.${index}`, 'c', 45_000)));
      expect(await own.getFact('msg:wamid.3')).toBe('c');
      await own.scheduleFallback('c1 m1', T0);
      expect(await own.consumeOnce('jti-a', 45_000)).toBe(true);
      expect(await own.consumeOnce('jti-b', 45_000)).toBe(true);

      const keys = await scanCluster(cluster, `${prefix}all:*`);
      // 24 challenges (4 of them consumed, kept for a retry until they expire), 4 subjects' failures, 12 counters, 8 facts, the due set, 2 one-time marks.
      expect(keys).toHaveLength(24 + 4 + 12 + 8 + 1 + 2);
      for (const record of records.filter((_, index) => index % 6 === 0)) {
        const failures = keys.find((key) => key.startsWith(`${prefix}all:{${record.id.slice(0, 4)}}lim:failures:`));
        expect(Number(await cluster.call('CLUSTER', 'KEYSLOT', failures!))).toBe(Number(await cluster.call('CLUSTER', 'KEYSLOT', `${prefix}all:{${record.id.slice(0, 4)}}ch:${record.id}`)));
      }
      const slots = new Set<number>();
      for (const key of keys) {
        const tags = key.match(/\{([^{}]*)\}/g) ?? [];
        expect(tags, key).toHaveLength(1);
        const slot = Number(await cluster.call('CLUSTER', 'KEYSLOT', key));
        expect(Number(await cluster.call('CLUSTER', 'KEYSLOT', tags[0]!.slice(1, -1))), key).toBe(slot);
        slots.add(slot);
        const pttl = await cluster.pttl(key);
        expect(pttl, key).toBeGreaterThan(0);
        expect(pttl, key).toBeLessThanOrEqual(86_400_000);
      }
      expect(slots.size).toBeGreaterThan(30);
      // The run really used every primary.
      const perNode = await Promise.all(cluster.nodes('master').map(async (node) => (await scan(node, `${prefix}all:*`)).length));
      expect(perNode).toHaveLength(3);
      for (const count of perNode) expect(count).toBeGreaterThan(0);
    });

    it('R-J10: after SCRIPT FLUSH on every primary the next operations still work (EVALSHA falls back to EVAL)', async () => {
      const record = challengeRecord();
      await store.create(record, TTL_MS);
      await Promise.all(cluster.nodes('master').map((node) => node.script('FLUSH')));
      expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
      const more = Array.from({ length: 9 }, () => challengeRecord());
      await Promise.all(more.map((one) => store.create(one, TTL_MS)));
      expect(await store.verify(record.id, owner(record), ['p1:right'])).toMatchObject({ status: 'ok' });
      for (const one of more) expect(await store.verify(one.id, owner(one), ['p1:right'])).toMatchObject({ status: 'ok' });
    });
  });
});

async function scanCluster(cluster: Cluster, pattern: string): Promise<string[]> {
  return (await Promise.all(cluster.nodes('master').map((node) => scan(node, pattern)))).flat();
}

async function scan(client: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    found.push(...batch);
  } while (cursor !== '0');
  return found;
}
