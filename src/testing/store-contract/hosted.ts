import { challengeOwner as owner, consumedBy, FAILED, randomId, RECEIPT, repeatOf, T0 } from './fixtures.js';
import type { ContractKit } from './hooks.js';

// Hosted checks: beginHostedCheck reserves an attempt before the provider is asked, finishHostedCheck decides.

export function describeHostedChecks({ describe, it, expect, created }: ContractKit): void {
  describe('hosted checks: beginHostedCheck reserves an attempt, finishHostedCheck decides', () => {
    it('begin counts an attempt before the provider is asked and returns the record with it', async (store) => {
      const record = await created({ maxAttempts: 3, hosted: [{ channel: 'mc', id: 'V1' }], digests: [] });
      expect(await store.beginHostedCheck(record.id, owner(record))).toEqual({ status: 'check', record: { ...record, attempts: 1 } });
      expect(await store.finishHostedCheck(record.id, false)).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
      expect(await store.beginHostedCheck(record.id, owner(record))).toMatchObject({ status: 'check', record: { attempts: 2 } });
    });

    it('begin is locked once attempts reach maxAttempts, even if no finish ever came', async (store) => {
      const record = await created({ maxAttempts: 2 });
      expect(await store.beginHostedCheck(record.id, owner(record))).toMatchObject({ status: 'check' });
      expect(await store.beginHostedCheck(record.id, owner(record))).toMatchObject({ status: 'check', record: { attempts: 2 } });
      expect(await store.beginHostedCheck(record.id, owner(record))).toEqual({ status: 'locked' });
      expect(await store.verify(record.id, owner(record), ['p1:right'])).toMatchObject({ status: 'ok' });
    });

    it('of 8 concurrent begins with maxAttempts 5, exactly 5 reserve an attempt and 3 are locked', async (store) => {
      const record = await created({ maxAttempts: 5 });
      const outcomes = await Promise.all(Array.from({ length: 8 }, () => store.beginHostedCheck(record.id, owner(record))));
      expect(outcomes.filter((outcome) => outcome.status === 'check')).toHaveLength(5);
      expect(outcomes.filter((outcome) => outcome.status === 'locked')).toHaveLength(3);
      const attempts = outcomes.flatMap((outcome) => (outcome.status === 'check' ? [outcome.record.attempts] : [])).sort();
      expect(attempts).toEqual([1, 2, 3, 4, 5]);
    });

    it('begin keeps the owner, binding, lock and expiry checks of verify, without costing an attempt', async (store) => {
      const record = await created({ binding: 'bind-A', maxAttempts: 3 });
      expect(await store.beginHostedCheck(record.id, owner(record, { subject: 'user-2', bindingHashes: ['bind-A'] }))).toEqual({ status: 'not_found' });
      expect(await store.beginHostedCheck(record.id, owner(record, { bindingHashes: ['bind-B'] }))).toEqual({ status: 'not_found' });
      expect(await store.beginHostedCheck(record.id, owner(record))).toEqual({ status: 'not_found' });
      expect(await store.beginHostedCheck(record.id, owner(record, { bindingHashes: ['bind-A'], now: record.expiresAt }))).toEqual({ status: 'expired' });
      expect(await store.beginHostedCheck(randomId(), owner(record))).toEqual({ status: 'not_found' });
      const locked = await created({ locked: true });
      expect(await store.beginHostedCheck(locked.id, owner(locked))).toEqual({ status: 'locked' });
      expect(await store.beginHostedCheck(record.id, owner(record, { bindingHashes: ['bind-A'] }))).toMatchObject({ status: 'check', record: { attempts: 1 } });
    });

    it('finish approved consumes the challenge once, keeping the approved code\'s digest: its retry repeats the receipt, a refused finish or another code is not_found', async (store) => {
      const record = await created({ hosted: [{ channel: 'mc', id: 'V1' }], digests: [] });
      expect(await store.beginHostedCheck(record.id, owner(record))).toMatchObject({ status: 'check' });
      expect(await store.finishHostedCheck(record.id, true, undefined, { ...RECEIPT, digest: 'p1:typed' })).toEqual(consumedBy(record, RECEIPT));
      expect(await store.finishHostedCheck(record.id, true)).toEqual(repeatOf(record, RECEIPT));
      expect(await store.finishHostedCheck(record.id, false)).toEqual({ status: 'not_found' });
      expect(await store.verify(record.id, owner(record), ['p1:typed'])).toEqual(repeatOf(record, RECEIPT));
      expect(await store.beginHostedCheck(record.id, owner(record), undefined, ['p1:typed'])).toEqual(repeatOf(record, RECEIPT));
      expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'not_found' });
    });

    it('of two concurrent finishHostedCheck(approved) exactly one consumes (R-C3); the other gets its receipt', async (store) => {
      const record = await created();
      await store.beginHostedCheck(record.id, owner(record));
      await store.beginHostedCheck(record.id, owner(record));
      const outcomes = await Promise.all(['jti-a', 'jti-b'].map((jti) => store.finishHostedCheck(record.id, true, undefined, { jti, verifiedAt: T0 + 1_000, digest: 'p1:right' })));
      expect(outcomes.filter((outcome) => outcome.status === 'ok' && !outcome.repeated)).toHaveLength(1);
      expect(new Set(outcomes.map((outcome) => outcome.status === 'ok' && outcome.receipt.jti)).size).toBe(1);
    });

    it('of 20 concurrent finishHostedCheck(approved) exactly one consumes; all carry one token id', async (store) => {
      const record = await created();
      const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => store.finishHostedCheck(record.id, true, undefined, { jti: `jti-${i}`, verifiedAt: T0 + 1_000, digest: 'p1:right' })));
      expect(outcomes.filter((outcome) => outcome.status === 'ok' && !outcome.repeated)).toHaveLength(1);
      expect(outcomes.filter((outcome) => outcome.status === 'ok' && outcome.repeated)).toHaveLength(19);
      expect(new Set(outcomes.map((outcome) => outcome.status === 'ok' && outcome.receipt.jti)).size).toBe(1);
    });

    it('a wrong code on the last reserved attempt is locked_now: the challenge locks and keeps no digest', async (store) => {
      const record = await created({ maxAttempts: 2 });
      await store.beginHostedCheck(record.id, owner(record));
      expect(await store.finishHostedCheck(record.id, false)).toEqual({ status: 'invalid', attemptsLeft: 1, ...FAILED });
      await store.beginHostedCheck(record.id, owner(record));
      expect(await store.finishHostedCheck(record.id, false)).toEqual({ status: 'locked_now', ...FAILED });
      expect(await store.beginHostedCheck(record.id, owner(record))).toEqual({ status: 'locked' });
      expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'locked' });
      expect(await store.finishHostedCheck(record.id, true)).toEqual({ status: 'locked' });
    });

    it('finish on a missing key is not_found, approved or not', async (store) => {
      const id = randomId();
      expect(await store.finishHostedCheck(id, true)).toEqual({ status: 'not_found' });
      expect(await store.finishHostedCheck(id, false)).toEqual({ status: 'not_found' });
    });

    it('finish approved on a locked record is locked and consumes nothing', async (store) => {
      const record = await created({ locked: true, attempts: 3, maxAttempts: 3, digests: [] });
      expect(await store.finishHostedCheck(record.id, true)).toEqual({ status: 'locked' });
      expect(await store.finishHostedCheck(record.id, true)).toEqual({ status: 'locked' });
    });

    it('a code verified through a hosted check cannot then be verified by digest (single use across both paths)', async (store) => {
      const record = await created();
      await store.beginHostedCheck(record.id, owner(record));
      expect(await store.finishHostedCheck(record.id, true)).toMatchObject({ status: 'ok' });
      expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'not_found' });
    });
  });
}
