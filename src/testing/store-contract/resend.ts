import { systemOwner } from '../../stores/store.js';
import { challengeOwner as owner, FAILED, randomId, T0 } from './fixtures.js';
import type { ContractKit } from './hooks.js';

// Expiry, and resends: cooldowns, the send cap, kept codes, test numbers and the system owner.

export function describeExpiryAndResend({ describe, it, expect, created, take }: ContractKit): void {
  describe('expiry', () => {
    it('at owner.now >= expiresAt verify is expired, even with the right digest, and the digest is cleared', async (store) => {
      const record = await created();
      expect(await store.verify(record.id, owner(record, { now: record.expiresAt }), ['p1:right'])).toEqual({ status: 'expired' });
      expect(await store.verify(record.id, owner(record, { now: record.expiresAt + 1_000 }), ['p1:right'])).toEqual({ status: 'expired' });
      // A caller whose clock is behind still cannot use the code: it is gone.
      expect(await store.verify(record.id, owner(record, { now: record.expiresAt - 1 }), ['p1:right'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
    });

    it('one millisecond before expiresAt the right digest still verifies', async (store) => {
      const record = await created();
      expect(await store.verify(record.id, owner(record, { now: record.expiresAt - 1 }), ['p1:right'])).toMatchObject({ status: 'ok' });
    });

    it('resend of an expired challenge is expired', async (store) => {
      const record = await created();
      expect(await store.reserveResend(record.id, owner(record, { now: record.expiresAt }), { digest: 'p1:new', cooldownMs: 1, keepEarlier: false })).toEqual({ status: 'expired' });
    });
  });

  describe('reserveResend', () => {
    it('inside the cooldown answers cooldown with the exact retryAfterMs, changing nothing', async (store) => {
      const record = await created({ nextSendAt: T0 + 30_000 });
      expect(await store.reserveResend(record.id, owner(record, { now: T0 + 10_000 }), { digest: 'p1:new', cooldownMs: 30_000, keepEarlier: false })).toEqual({ status: 'cooldown', retryAfterMs: 20_000 });
      expect(await take(record.id)).toMatchObject({ sends: 1, digests: ['p1:right'] });
    });

    it('after the cooldown replaces the digest (the old one no longer verifies, R-C5), counts the send and restarts the cooldown', async (store) => {
      const record = await created({ nextSendAt: T0 + 30_000 });
      const now = T0 + 30_000;
      const outcome = await store.reserveResend(record.id, owner(record, { now }), { digest: 'p1:new', cooldownMs: 45_000, keepEarlier: false });
      expect(outcome).toEqual({ status: 'ok', record: { ...record, digests: ['p1:new'], sends: 2, nextSendAt: now + 45_000 } });
      expect(await store.verify(record.id, owner(record, { now }), ['p1:right'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
      expect(await store.verify(record.id, owner(record, { now }), ['p1:new'])).toMatchObject({ status: 'ok' });
    });

    it('at maxSends answers exhausted (even inside a cooldown)', async (store) => {
      const record = await created({ sends: 2, maxSends: 3, nextSendAt: T0 });
      expect(await store.reserveResend(record.id, owner(record, { now: T0 }), { digest: 'p1:2', cooldownMs: 30_000, keepEarlier: false })).toMatchObject({ status: 'ok', record: { sends: 3 } });
      expect(await store.reserveResend(record.id, owner(record, { now: T0 + 1 }), { digest: 'p1:3', cooldownMs: 30_000, keepEarlier: false })).toEqual({ status: 'exhausted', retryAfterMs: record.expiresAt - (T0 + 1) });
      expect(await store.reserveResend(record.id, owner(record, { now: T0 + 60_000 }), { digest: 'p1:3', cooldownMs: 30_000, keepEarlier: false })).toEqual({ status: 'exhausted', retryAfterMs: record.expiresAt - (T0 + 60_000) });
    });

    it('never resets attempts: failures before the resend still count after it', async (store) => {
      const record = await created({ maxAttempts: 3, nextSendAt: T0 });
      expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
      expect(await store.reserveResend(record.id, owner(record), { digest: 'p1:new', cooldownMs: 1, keepEarlier: false })).toMatchObject({ status: 'ok', record: { attempts: 1 } });
      expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'invalid', attemptsLeft: 1, ...FAILED });
      expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'locked_now', ...FAILED });
    });

    it('another subject or an unknown id is not_found', async (store) => {
      const record = await created({ nextSendAt: T0 });
      expect(await store.reserveResend(record.id, owner(record, { subject: 'other' }), { digest: 'p1:new', cooldownMs: 1, keepEarlier: false })).toEqual({ status: 'not_found' });
      expect(await store.reserveResend(randomId(), owner(record), { digest: 'p1:new', cooldownMs: 1, keepEarlier: false })).toEqual({ status: 'not_found' });
      expect(await take(record.id)).toMatchObject({ sends: 1, digests: ['p1:right'] });
    });
  });
}

export function describeResendKeeping({ describe, it, expect, created, take, resendInput, delivery }: ContractKit): void {
  describe('reserveResend: keeping earlier codes, test numbers, the system owner', () => {
    it('keepEarlier true keeps the earlier digests valid beside the new one: the old and the new both verify', async (store) => {
      const old = await created({ nextSendAt: T0 });
      expect(await store.reserveResend(old.id, owner(old), resendInput('p1:new', true))).toMatchObject({ status: 'ok', record: { digests: ['p1:right', 'p1:new'], sends: 2 } });
      expect(await store.verify(old.id, owner(old), ['p1:right'])).toMatchObject({ status: 'ok' });
      const fresh = await created({ nextSendAt: T0 });
      await store.reserveResend(fresh.id, owner(fresh), resendInput('p1:new', true));
      expect(await store.verify(fresh.id, owner(fresh), ['p1:new'])).toMatchObject({ status: 'ok' });
    });

    it('keepEarlier true accumulates every code sent: the first of three still verifies', async (store) => {
      const record = await created({ nextSendAt: T0, maxSends: 3 });
      await store.reserveResend(record.id, owner(record), resendInput('p1:second', true));
      await store.reserveResend(record.id, owner(record, { now: T0 + 5_000 }), resendInput('p1:third', true));
      expect(await take(record.id)).toMatchObject({ digests: ['p1:right', 'p1:second', 'p1:third'], sends: 3 });
      expect(await store.verify(record.id, owner(record, { now: T0 + 5_000 }), ['p1:right'])).toMatchObject({ status: 'ok' });
    });

    it('keepEarlier false replaces every earlier digest, the kept ones included (R-C5)', async (store) => {
      const record = await created({ nextSendAt: T0, maxSends: 3 });
      await store.reserveResend(record.id, owner(record), resendInput('p1:second', true));
      expect(await store.reserveResend(record.id, owner(record, { now: T0 + 5_000 }), resendInput('p1:third', false))).toMatchObject({ status: 'ok', record: { digests: ['p1:third'] } });
      expect(await store.verify(record.id, owner(record, { now: T0 + 5_000 }), ['p1:right'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
      expect(await store.verify(record.id, owner(record, { now: T0 + 5_000 }), ['p1:second'])).toEqual({ status: 'invalid', attemptsLeft: 1, ...FAILED });
      expect(await store.verify(record.id, owner(record, { now: T0 + 5_000 }), ['p1:third'])).toMatchObject({ status: 'ok' });
    });

    it('a testNumber record keeps its first (fixed) digest on resend even with keepEarlier false', async (store) => {
      const record = await created({ nextSendAt: T0, testNumber: true, digests: ['p1:fixed'] });
      expect(await store.reserveResend(record.id, owner(record), resendInput('p1:random', false))).toMatchObject({ status: 'ok', record: { digests: ['p1:fixed', 'p1:random'], testNumber: true } });
      expect(await store.verify(record.id, owner(record), ['p1:fixed'])).toMatchObject({ status: 'ok', record: { testNumber: true } });
    });

    it('exhausted answers retryAfterMs = expiresAt − now, for the user and for the system owner alike', async (store) => {
      const record = await created({ sends: 3, maxSends: 3, nextSendAt: T0 + 60_000 });
      const now = T0 + 12_345;
      expect(await store.reserveResend(record.id, owner(record, { now }), resendInput('p1:x', false))).toEqual({ status: 'exhausted', retryAfterMs: record.expiresAt - now });
      expect(await store.reserveResend(record.id, systemOwner(now), resendInput('p1:x', false))).toEqual({ status: 'exhausted', retryAfterMs: record.expiresAt - now });
    });

    it('the system owner (subject \'\') skips the owner, binding and cooldown checks', async (store) => {
      const record = await created({ subject: 'someone', binding: 'bind-A', nextSendAt: T0 + 60_000 });
      const now = T0 + 1_000;
      expect(await store.reserveResend(record.id, owner(record, { now }), resendInput('p1:user', false))).toEqual({ status: 'not_found' });
      expect(await store.reserveResend(record.id, owner(record, { now, bindingHashes: ['bind-A'] }), resendInput('p1:user', false))).toEqual({ status: 'cooldown', retryAfterMs: 59_000 });
      expect(await store.reserveResend(record.id, systemOwner(now), resendInput('p1:system', false))).toEqual({
        status: 'ok', record: { ...record, digests: ['p1:system'], sends: 2, nextSendAt: now + 1_000 },
      });
    });

    it('the system owner still meets the lock, the expiry, the send cap and a missing challenge', async (store) => {
      const locked = await created({ locked: true, digests: [] });
      const expired = await created();
      const capped = await created({ sends: 3, maxSends: 3 });
      expect(await store.reserveResend(locked.id, systemOwner(T0 + 1_000), resendInput('p1:x', false))).toEqual({ status: 'locked' });
      expect(await store.reserveResend(expired.id, systemOwner(expired.expiresAt), resendInput('p1:x', false))).toEqual({ status: 'expired' });
      expect(await store.reserveResend(capped.id, systemOwner(T0 + 1_000), resendInput('p1:x', false))).toEqual({ status: 'exhausted', retryAfterMs: capped.expiresAt - (T0 + 1_000) });
      expect(await store.reserveResend(randomId(), systemOwner(T0 + 1_000), resendInput('p1:x', false))).toEqual({ status: 'not_found' });
      expect(await store.verify(expired.id, owner(expired, { now: expired.expiresAt - 1 }), ['p1:right'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
    });

    it('a hosted resend (its send drops our new code) with keepEarlier false leaves no digest', async (store) => {
      const record = await created({ nextSendAt: T0 });
      expect(await store.reserveResend(record.id, owner(record), resendInput('p1:ours', false))).toMatchObject({ status: 'ok', record: { digests: ['p1:ours'] } });
      await store.recordDelivery(record.id, delivery('V1', { channel: 'mc', transport: 'sms', hostedId: 'V1', dropDigest: 'p1:ours' }));
      expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED, channel: 'mc' });
      expect(await take(record.id)).toMatchObject({ digests: [], hosted: [{ channel: 'mc', id: 'V1' }] });
    });
  });
}
