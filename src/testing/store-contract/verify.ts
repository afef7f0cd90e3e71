import { randomBytes } from 'node:crypto';
import { challengeOwner as owner, challengeRecord, consumedBy, FAILED, randomId, RECEIPT, repeatOf, T0, TTL_MS } from './fixtures.js';
import type { ContractKit } from './hooks.js';

// Creating and verifying: a right digest consumes once, wrong ones count and lock, only the owner may try.

export function describeVerify({ describe, it, expect, created }: ContractKit): void {
  describe('create and verify', () => {
    it('a right digest returns what the token needs of the record as created and consumes it, keeping the receipt', async (store) => {
      const record = await created();
      expect(await store.verify(record.id, owner(record), ['p2:other', 'p1:right'], undefined, RECEIPT)).toEqual(consumedBy(record, RECEIPT));
      expect(await store.reserveResend(record.id, owner(record), { digest: 'p1:new', cooldownMs: 1, keepEarlier: false })).toEqual({ status: 'not_found' });
      expect(await store.applyStatus(record.id, 'SM1', 'failed')).toEqual({ status: 'gone' });
    });

    it("a consumed challenge: the owner's retry of the right code gets the first receipt (repeated), anything else is not_found and counts nothing", async (store) => {
      const failures = { key: `failures:retry-${randomBytes(4).toString('hex')}`, max: 1, windowMs: 60_000, now: T0 + 1_000 };
      const record = await created({ binding: 'bind-A' });
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

    it('a record without its optional fields (txn, binding) and with no other factors round-trips unchanged', async (store) => {
      const record = await created({ txn: undefined, binding: undefined, otherFactors: [], transport: 'sms', channel: 'sms', locale: 'en' });
      expect(await store.verify(record.id, owner(record, { bindingHashes: ['any'] }), ['p1:right'])).toEqual(consumedBy(record));
    });

    it('an unknown id is not_found', async (store) => {
      expect(await store.verify(randomId(), owner(challengeRecord()), ['p1:right'])).toEqual({ status: 'not_found' });
    });

    it('create replaces an earlier record with the same id', async (store) => {
      const first = await created({ digests: ['p1:first'] });
      const second = challengeRecord({ id: first.id, digests: ['p1:second'], attempts: 0 });
      await store.verify(first.id, owner(first), ['p1:wrong']);
      await store.create(second, TTL_MS);
      expect(await store.verify(first.id, owner(first), ['p1:first'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
      expect(await store.verify(first.id, owner(first), ['p1:second'])).toMatchObject({ status: 'ok' });
    });
  });

  describe('wrong digests', () => {
    it('count an attempt each, attemptsLeft falling, then lock at maxAttempts (locked_now, then locked)', async (store) => {
      const record = await created({ maxAttempts: 3 });
      expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
      expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'invalid', attemptsLeft: 1, ...FAILED });
      expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'locked_now', ...FAILED });
      expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'locked' });
    });

    it('a locked challenge has no digest: the right one no longer opens it, and resend is refused', async (store) => {
      const record = await created({ maxAttempts: 1 });
      expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'locked_now', ...FAILED });
      expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'locked' });
      expect(await store.reserveResend(record.id, owner(record, { now: T0 + 60_000 }), { digest: 'p1:new', cooldownMs: 1, keepEarlier: false })).toEqual({ status: 'locked' });
    });

    it('no stored digest never matches an empty candidate', async (store) => {
      const record = await created({ digests: [] });
      expect(await store.verify(record.id, owner(record), [''])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
    });
  });

  describe('owner checks', () => {
    it('another subject gets not_found and costs no attempt', async (store) => {
      const record = await created();
      expect(await store.verify(record.id, owner(record, { subject: 'user-2' }), ['p1:right'])).toEqual({ status: 'not_found' });
      expect(await store.verify(record.id, owner(record, { subject: 'user-2' }), ['p1:wrong'])).toEqual({ status: 'not_found' });
      expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
    });

    it('a bound challenge is not_found for another binding or none, without costing an attempt', async (store) => {
      const record = await created({ binding: 'bind-A' });
      expect(await store.verify(record.id, owner(record, { bindingHashes: ['bind-B'] }), ['p1:right'])).toEqual({ status: 'not_found' });
      expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'not_found' });
      expect(await store.reserveResend(record.id, owner(record, { bindingHashes: ['bind-B'], now: T0 + 60_000 }), { digest: 'p1:x', cooldownMs: 1, keepEarlier: false })).toEqual({ status: 'not_found' });
      expect(await store.verify(record.id, owner(record, { bindingHashes: ['bind-A'] }), ['p1:wrong'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
    });

    it('a bound challenge opens when any of the caller binding hashes matches (pepper rotation)', async (store) => {
      const record = await created({ binding: 'bind-A' });
      expect(await store.verify(record.id, owner(record, { bindingHashes: ['bind-new', 'bind-A'] }), ['p1:right'])).toMatchObject({ status: 'ok' });
    });

    it('an unbound challenge accepts any binding', async (store) => {
      const record = await created({ binding: undefined });
      expect(await store.verify(record.id, owner(record, { bindingHashes: ['whatever'] }), ['p1:right'])).toMatchObject({ status: 'ok' });
    });
  });
}

export function describeConcurrentVerifies({ it, expect, created }: ContractKit): void {
  it('of many concurrent verifies with the right digest exactly one consumes (R-C3); the others repeat its receipt', async (store) => {
    const record = await created({ maxAttempts: 5 });
    const outcomes = await Promise.all(Array.from({ length: 30 }, (_, i) => store.verify(record.id, owner(record), ['p1:right'], undefined, { jti: `jti-${i}`, verifiedAt: T0 + 1_000 })));
    expect(outcomes.filter((outcome) => outcome.status === 'ok' && !outcome.repeated)).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome.status === 'ok' && outcome.repeated)).toHaveLength(29);
    expect(new Set(outcomes.map((outcome) => outcome.status === 'ok' && outcome.receipt.jti)).size).toBe(1);
  });

  it('of many concurrent wrong verifies the attempts count exactly (one locked_now)', async (store) => {
    const record = await created({ maxAttempts: 5 });
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => store.verify(record.id, owner(record), ['p1:wrong'])));
    const statuses = outcomes.map((outcome) => outcome.status).sort();
    expect(statuses).toEqual(['invalid', 'invalid', 'invalid', 'invalid', 'locked', 'locked', 'locked', 'locked_now']);
    const left = outcomes.flatMap((outcome) => (outcome.status === 'invalid' ? [outcome.attemptsLeft] : [])).sort();
    expect(left).toEqual([1, 2, 3, 4]);
  });
}
