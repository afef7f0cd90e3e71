import { randomBytes } from 'node:crypto';
import { challengeOwner as owner, FAILED, sameSlotId, T0 } from './fixtures.js';
import type { ContractKit } from './hooks.js';

// The subject's wrong codes across its challenges, checked, counted and cleared by the verify step itself.

export function describeSubjectFailures({ describe, it, expect, created }: ContractKit): void {
  describe('the subject\'s failures (R-D2, R-J2): checked, counted and cleared by the verify step itself', () => {
    const limit = (max = 3) => ({ key: `failures:${randomBytes(8).toString('hex')}`, max, windowMs: 60_000, now: T0 + 1_000 });

    it('wrong digests count on the subject\'s counter across its challenges; at max even the right digest is locked_out, before any compare or count', async (store) => {
      const failures = limit(3);
      const first = await created();
      const second = await created({ id: sameSlotId(first.id) });
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

    it('a right digest clears the count', async (store) => {
      const failures = limit(3);
      const first = await created();
      expect(await store.verify(first.id, owner(first), ['p1:wrong'], failures)).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
      expect(await store.verify(first.id, owner(first), ['p1:wrong'], failures)).toEqual({ status: 'invalid', attemptsLeft: 1, ...FAILED });
      expect(await store.verify(first.id, owner(first), ['p1:right'], failures)).toMatchObject({ status: 'ok' });
      expect(await store.readFailures(first.id.slice(0, 4), failures)).toEqual({ count: 0, resetInMs: 0 });
    });

    it('a refused owner or a missing challenge counts nothing; a lock counts its failure', async (store) => {
      const failures = limit(5);
      const record = await created({ maxAttempts: 1 });
      expect(await store.verify(record.id, owner(record, { subject: 'someone-else' }), ['p1:wrong'], failures)).toEqual({ status: 'not_found' });
      expect(await store.verify(sameSlotId(record.id), owner(record), ['p1:wrong'], failures)).toEqual({ status: 'not_found' });
      expect(await store.readFailures(record.id.slice(0, 4), failures)).toEqual({ count: 0, resetInMs: 0 });
      expect(await store.verify(record.id, owner(record), ['p1:wrong'], failures)).toEqual({ status: 'locked_now', ...FAILED });
      expect(await store.readFailures(record.id.slice(0, 4), failures)).toMatchObject({ count: 1 });
    });

    it('hosted checks: begin refuses a subject at max before reserving an attempt; finish counts a refusal and clears on approval', async (store) => {
      const failures = limit(2);
      const record = await created({ hosted: [{ channel: 'mc', id: 'V1' }], digests: [] });
      expect(await store.beginHostedCheck(record.id, owner(record), failures)).toMatchObject({ status: 'check' });
      expect(await store.finishHostedCheck(record.id, false, failures)).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
      expect(await store.readFailures(record.id.slice(0, 4), failures)).toMatchObject({ count: 1 });
      expect(await store.beginHostedCheck(record.id, owner(record), failures)).toMatchObject({ status: 'check' });
      expect(await store.finishHostedCheck(record.id, true, failures)).toMatchObject({ status: 'ok' });
      expect(await store.readFailures(record.id.slice(0, 4), failures)).toEqual({ count: 0, resetInMs: 0 });

      const other = await created({ hosted: [{ channel: 'mc', id: 'V2' }], digests: [] });
      for (let i = 0; i < 2; i++) {
        expect(await store.beginHostedCheck(other.id, owner(other), failures)).toMatchObject({ status: 'check' });
        expect(await store.finishHostedCheck(other.id, false, failures)).toMatchObject({ status: 'invalid' });
      }
      expect(await store.beginHostedCheck(other.id, owner(other), failures)).toMatchObject({ status: 'locked_out' });
      // The refused begin reserved nothing: the challenge still has the attempt it had.
      expect(await store.verify(other.id, owner(other), ['p1:wrong'])).toEqual({ status: 'locked_now', ...FAILED });
    });
  });
}
