// A code opens only its own challenge, for its own subject and session, once, and a resend
// kills the previous code without forgiving earlier failures. After maxAttempts wrong codes
// the challenge is locked for good; all of this holds on MemoryStore and on a real Redis.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStepUpError } from '../src/index.js';
import { expectRefused, issueToken, latestCode, makeStepUp, PAYMENT, redisFixture, rejection, startChallenge, SUBJECT, type HarnessOptions, type RedisFixture } from './core.fixtures.js';

let redis: RedisFixture;
beforeAll(async () => {
  redis = await redisFixture('challenge');
});
afterAll(async () => {
  await redis.close();
});

const variants: { name: string; options: () => HarnessOptions }[] = [
  { name: 'MemoryStore', options: () => ({}) },
  { name: 'RedisStore', options: () => ({ store: redis.store }) },
];

for (const variant of variants) {
  describe(`on ${variant.name}`, () => {
    const harnessFor = (extra: HarnessOptions = {}) => makeStepUp({ ...variant.options(), ...extra });

    it('R-C3 R-J2 50 concurrent verifies with the right code: one token (one jti, one auth_time), which a one-time guard accepts once', async () => {
      const harness = harnessFor();
      const { challengeId, code } = await startChallenge(harness, { purpose: 'payment' });
      const results = await Promise.all(Array.from({ length: 50 }, () => harness.stepup.verify(challengeId, code, { subject: SUBJECT })));
      // Every answer is the consuming verify's token again: a lost answer can be retried (issue on hardening, item 7).
      expect(new Set(results.map((result) => result.claims.jti)).size).toBe(1);
      expect(new Set(results.map((result) => result.token)).size).toBe(1);
      const checks = await Promise.allSettled(results.map((result) => harness.stepup.checkToken(result.token, { purpose: 'payment', subject: SUBJECT, transaction: PAYMENT })));
      expect(checks.filter((check) => check.status === 'fulfilled')).toHaveLength(1);
      const reasons = checks.flatMap((check) => (check.status === 'rejected' && isStepUpError(check.reason) ? [check.reason.details.reason] : []));
      expect(reasons).toEqual(Array(49).fill('replayed'));
    });

    it('cancel ends a challenge: its code and resends are challenge_not_found; unknown or malformed ids are a no-op', async () => {
      const harness = harnessFor();
      const { challengeId, code } = await startChallenge(harness, { purpose: 'password-reset' });
      await harness.stepup.cancel(challengeId);
      expect((await rejection(harness.stepup.verify(challengeId, code, { subject: SUBJECT }))).code).toBe('challenge_not_found');
      expect((await rejection(harness.stepup.resend(challengeId, { subject: SUBJECT }))).code).toBe('challenge_not_found');
      await harness.stepup.cancel(challengeId);
      await harness.stepup.cancel('not an id');
    });

    it('R-C3 a consumed code issues no second token: its retry is the same token, any other code is challenge_not_found and costs nothing', async () => {
      const harness = harnessFor();
      const { challengeId, code, token } = await issueToken(harness);
      expect((await harness.stepup.verify(challengeId, code, { subject: SUBJECT })).token).toBe(token);
      const other = code === '000000' ? '111111' : '000000';
      for (let i = 0; i < 6; i++) expect((await rejection(harness.stepup.verify(challengeId, other, { subject: SUBJECT }))).code).toBe('challenge_not_found');
      expect((await harness.stepup.verify(challengeId, code, { subject: SUBJECT })).token).toBe(token);
      expect((await rejection(harness.stepup.verify(challengeId, code, { subject: 'user-2' }))).code).toBe('challenge_not_found');
      expect((await rejection(harness.stepup.resend(challengeId, { subject: SUBJECT }))).code).toBe('challenge_not_found');
    });

    describe('R-C4 binding matrix', () => {
      it('R-C4 the right code with an unknown challenge id is challenge_not_found', async () => {
        const harness = harnessFor();
        const { challengeId, code } = await startChallenge(harness);
        const other = challengeId.slice(0, -1) + (challengeId.endsWith('A') ? 'B' : 'A');
        expect((await rejection(harness.stepup.verify(other, code, { subject: SUBJECT }))).code).toBe('challenge_not_found');
        await expect(harness.stepup.verify(challengeId, code, { subject: SUBJECT })).resolves.toBeDefined();
      });

      it("R-C4 the right code of one challenge does not open the same user's other challenge", async () => {
        const harness = harnessFor();
        const a = await startChallenge(harness);
        let b = await startChallenge(harness);
        while (b.code === a.code) b = await startChallenge(harness);
        const error = await rejection(harness.stepup.verify(b.challengeId, a.code, { subject: SUBJECT }));
        expect(error.code).toBe('invalid_code');
        await expect(harness.stepup.verify(a.challengeId, a.code, { subject: SUBJECT })).resolves.toBeDefined();
      });

      it('R-C4 the right code from another binding (session) is challenge_not_found and costs no attempt', async () => {
        const harness = harnessFor();
        const { challengeId, code } = await startChallenge(harness, { binding: 'session-1' });
        for (const input of [{ subject: SUBJECT, binding: 'session-2' }, { subject: SUBJECT }]) {
          expect((await rejection(harness.stepup.verify(challengeId, code, input))).code).toBe('challenge_not_found');
          expect((await rejection(harness.stepup.resend(challengeId, input))).code).toBe('challenge_not_found');
        }
        const wrong = await rejection(harness.stepup.verify(challengeId, 'nope', { subject: SUBJECT, binding: 'session-1' }));
        expect(wrong.details.attemptsLeft).toBe(4);
        await expect(harness.stepup.verify(challengeId, code, { subject: SUBJECT, binding: 'session-1' })).resolves.toBeDefined();
      });

      it('R-C4 the right code from another subject is challenge_not_found and costs no attempt', async () => {
        const harness = harnessFor();
        const { challengeId, code } = await startChallenge(harness, { subject: 'user-A' });
        expect((await rejection(harness.stepup.verify(challengeId, code, { subject: 'user-B' }))).code).toBe('challenge_not_found');
        expect((await rejection(harness.stepup.resend(challengeId, { subject: 'user-B' }))).code).toBe('challenge_not_found');
        const wrong = await rejection(harness.stepup.verify(challengeId, 'nope', { subject: 'user-A' }));
        expect(wrong.details.attemptsLeft).toBe(4);
      });

      it("R-C4 a login challenge's token is refused by a payment check (other purpose)", async () => {
        const harness = harnessFor();
        const { token } = await issueToken(harness, { purpose: 'login' });
        await expectRefused(harness.stepup.checkToken(token, { purpose: 'payment', subject: SUBJECT, transaction: PAYMENT }), 'wrong_purpose');
      });

      it("R-C4 a payment challenge's token is refused for another transaction", async () => {
        const harness = harnessFor();
        const { token } = await issueToken(harness, { purpose: 'payment' });
        await expectRefused(harness.stepup.checkToken(token, { purpose: 'payment', transaction: { ...PAYMENT, amount: '9999.00' } }), 'transaction_mismatch');
      });
    });

    describe('R-C5 resend', () => {
      it('R-C5 after a resend (past the cooldown) the old code is invalid_code, failures before the resend still count', async () => {
        const harness = harnessFor();
        const { challengeId, code: oldCode } = await startChallenge(harness);
        expect((await rejection(harness.stepup.verify(challengeId, 'wrong1', { subject: SUBJECT }))).details.attemptsLeft).toBe(4);
        expect((await rejection(harness.stepup.verify(challengeId, 'wrong2', { subject: SUBJECT }))).details.attemptsLeft).toBe(3);
        harness.clock.advance(30_000);
        const view = await harness.stepup.resend(challengeId, { subject: SUBJECT });
        expect(view.attemptsLeft).toBe(3);
        expect(view.sendsLeft).toBe(1);
        const newCode = latestCode(harness, challengeId);
        let old = await rejection(harness.stepup.verify(challengeId, oldCode, { subject: SUBJECT }));
        // If the new code happens to equal the old one the "old" code is the live one; that is one chance in a million.
        if (newCode === oldCode) return;
        expect(old.code).toBe('invalid_code');
        expect(old.details.attemptsLeft).toBe(2);
        old = await rejection(harness.stepup.verify(challengeId, oldCode, { subject: SUBJECT }));
        expect(old.details.attemptsLeft).toBe(1);
        await expect(harness.stepup.verify(challengeId, newCode, { subject: SUBJECT })).resolves.toMatchObject({ claims: { cid: challengeId } });
      });

      it('R-C5 a resend inside the cooldown is rate_limited with retryAfter, and the live code is unchanged', async () => {
        const harness = harnessFor();
        const { challengeId, code } = await startChallenge(harness);
        harness.clock.advance(10_000);
        const error = await rejection(harness.stepup.resend(challengeId, { subject: SUBJECT }));
        expect(error.code).toBe('rate_limited');
        expect(error.status).toBe(429);
        expect(error.details.retryAfter).toBe(20);
        await expect(harness.stepup.verify(challengeId, code, { subject: SUBJECT })).resolves.toBeDefined();
      });

      it('R-C5 sends are capped per challenge (default 3 including the first)', async () => {
        const harness = harnessFor();
        const { challengeId } = await startChallenge(harness);
        for (let i = 0; i < 2; i++) {
          harness.clock.advance(30_000);
          await harness.stepup.resend(challengeId, { subject: SUBJECT });
        }
        harness.clock.advance(30_000);
        const error = await rejection(harness.stepup.resend(challengeId, { subject: SUBJECT }));
        expect(error.code).toBe('rate_limited');
        expect(error.message).toMatch(/No more codes/);
      });

      it('R-C5 a resend of an expired challenge is challenge_expired', async () => {
        const harness = harnessFor();
        const { challengeId } = await startChallenge(harness);
        harness.clock.advance(5 * 60_000);
        expect((await rejection(harness.stepup.resend(challengeId, { subject: SUBJECT }))).code).toBe('challenge_expired');
      });
    });

    describe('R-D1 per-challenge attempt cap', () => {
      it('R-D1 maxAttempts wrong codes, then the right one: too_many_attempts', async () => {
        const harness = harnessFor();
        const { challengeId, code } = await startChallenge(harness);
        for (let left = 4; left >= 1; left--) {
          expect((await rejection(harness.stepup.verify(challengeId, 'wrong', { subject: SUBJECT }))).details.attemptsLeft).toBe(left);
        }
        const fifth = await rejection(harness.stepup.verify(challengeId, 'wrong', { subject: SUBJECT }));
        expect(fifth.code).toBe('too_many_attempts');
        expect(fifth.status).toBe(429);
        const right = await rejection(harness.stepup.verify(challengeId, code, { subject: SUBJECT }));
        expect(right.code).toBe('too_many_attempts');
        harness.clock.advance(60_000);
        expect((await rejection(harness.stepup.resend(challengeId, { subject: SUBJECT }))).code).toBe('too_many_attempts');
        expect(harness.events.filter((event) => event.type === 'challenge.locked')).toHaveLength(1);
      });

      it('R-D1 a purpose with maxAttempts 2 locks after two failures; a resend does not reset the count', async () => {
        const harness = harnessFor({ purposes: { strict: { maxAttempts: 2, tokenTtl: '1m' } } });
        const { challengeId } = await startChallenge(harness, { purpose: 'strict' });
        expect((await rejection(harness.stepup.verify(challengeId, 'wrong', { subject: SUBJECT }))).details.attemptsLeft).toBe(1);
        harness.clock.advance(30_000);
        await harness.stepup.resend(challengeId, { subject: SUBJECT });
        expect((await rejection(harness.stepup.verify(challengeId, 'wrong', { subject: SUBJECT }))).code).toBe('too_many_attempts');
        expect((await rejection(harness.stepup.verify(challengeId, latestCode(harness, challengeId), { subject: SUBJECT }))).code).toBe('too_many_attempts');
      });

      it('R-D1 concurrent wrong guesses cannot exceed the cap: of 20 parallel wrong codes then the right one, none succeeds', async () => {
        const harness = harnessFor();
        const { challengeId, code } = await startChallenge(harness);
        const results = await Promise.allSettled(Array.from({ length: 20 }, () => harness.stepup.verify(challengeId, 'wrong', { subject: SUBJECT })));
        const codes = results.map((result) => (result.status === 'rejected' && isStepUpError(result.reason) ? result.reason.code : 'ok'));
        expect(codes.filter((c) => c === 'invalid_code')).toHaveLength(4);
        expect(codes.filter((c) => c === 'too_many_attempts')).toHaveLength(16);
        expect((await rejection(harness.stepup.verify(challengeId, code, { subject: SUBJECT }))).code).toBe('too_many_attempts');
      });
    });
  });
}
