// A valid step-up token passes only the check it was made for: its subject, its purpose,
// its session, its exact transaction and a fresh enough authentication. Each mismatch is
// refused with its own reason, and a refusal never burns a one-time token.
import { describe, expect, it } from 'vitest';
import { hashTransaction, type Transaction } from '../src/index.js';
import { decodePart, expectRefused, issueToken, makeStepUp, PAYMENT, rejection, startChallenge, SUBJECT } from './core.fixtures.js';

describe('R-B5 subject', () => {
  it('R-B5 wrong subject: user A token checked for user B is refused (wrong_subject); for A it passes', async () => {
    const harness = makeStepUp();
    const { token } = await issueToken(harness, { subject: 'user-A' });
    await expectRefused(harness.stepup.checkToken(token, { purpose: 'login', subject: 'user-B' }), 'wrong_subject');
    await expectRefused(harness.stepup.checkToken(token, { purpose: 'login', subject: 'user-A ' }), 'wrong_subject');
    await expect(harness.stepup.checkToken(token, { purpose: 'login', subject: 'user-A' })).resolves.toMatchObject({ sub: 'user-A' });
  });
});

describe('R-B6 purposes never satisfy each other', () => {
  const PURPOSES = ['login', 'payment', 'password-reset'] as const;

  for (const issued of PURPOSES) {
    for (const checked of PURPOSES.filter((purpose) => purpose !== issued)) {
      it(`R-B6 a ${issued} token presented to a ${checked} check is refused (wrong_purpose)`, async () => {
        const harness = makeStepUp();
        const { token } = await issueToken(harness, { purpose: issued });
        const input = checked === 'payment' ? { purpose: checked, subject: SUBJECT, transaction: PAYMENT } : { purpose: checked, subject: SUBJECT };
        await expectRefused(harness.stepup.checkToken(token, input), 'wrong_purpose');
        // The refusal did not consume it: it still passes its own purpose's check.
        const own = issued === 'payment' ? { purpose: issued, transaction: PAYMENT } : { purpose: issued };
        await expect(harness.stepup.checkToken(token, own)).resolves.toMatchObject({ purpose: issued });
      });
    }
  }

  it('R-B6 a custom purpose is separate from the presets too', async () => {
    const harness = makeStepUp({ purposes: { 'change-email': { tokenTtl: '5m', oneTime: true } } });
    const { token } = await issueToken(harness, { purpose: 'change-email' });
    await expectRefused(harness.stepup.checkToken(token, { purpose: 'login' }), 'wrong_purpose');
    await expectRefused(harness.stepup.checkToken(token, { purpose: 'password-reset' }), 'wrong_purpose');
  });
});

describe('R-B10 transaction binding', () => {
  it('R-B10 txn is base64url SHA-256 of the canonical transaction', async () => {
    const harness = makeStepUp();
    const { token } = await issueToken(harness, { purpose: 'payment' });
    expect(decodePart(token, 1).txn).toBe(hashTransaction(PAYMENT));
  });

  it('R-B10 changing the amount or the payee by one character is refused (transaction_mismatch); reordered keys still pass', async () => {
    const harness = makeStepUp();
    const { token } = await issueToken(harness, { purpose: 'payment' });
    const changed: Transaction[] = [
      { ...PAYMENT, amount: '1234.57' },
      { ...PAYMENT, amount: '1234.5' },
      { ...PAYMENT, amount: '123456' },
      { ...PAYMENT, payee: 'ES9121000418450200051333' },
      { ...PAYMENT, currency: 'USD' },
      { ...PAYMENT, extra: 'field' },
      { id: PAYMENT.id!, amount: PAYMENT.amount!, currency: PAYMENT.currency! },
      { ...PAYMENT, id: 'pay_2' },
    ];
    for (const transaction of changed) {
      await expectRefused(harness.stepup.checkToken(token, { purpose: 'payment', subject: SUBJECT, transaction }), 'transaction_mismatch');
    }
    const reordered = { payee: PAYMENT.payee!, currency: PAYMENT.currency!, amount: PAYMENT.amount!, id: PAYMENT.id! };
    expect(Object.keys(reordered)).not.toEqual(Object.keys(PAYMENT));
    await expect(harness.stepup.checkToken(token, { purpose: 'payment', subject: SUBJECT, transaction: reordered })).resolves.toMatchObject({ txn: hashTransaction(PAYMENT) });
    // The same amount written otherwise is the same transaction (its normal form, in EUR's two decimals).
    for (const same of [{ ...PAYMENT, amount: '1234.560' }, { ...PAYMENT, amount: 1234.56 }, { ...PAYMENT, amount: '01234.56', currency: 'eur' }]) {
      expect(hashTransaction(same)).toBe(hashTransaction(PAYMENT));
    }
  });

  it('R-F2 a payee or amount changed after the code was sent: the right code gives no token, and the challenge is spent', async () => {
    const harness = makeStepUp();
    const { challengeId, code } = await startChallenge(harness, { purpose: 'payment' });
    const changed = await rejection(harness.stepup.verify(challengeId, code, { subject: SUBJECT, transaction: { ...PAYMENT, payee: 'Mallory' } }));
    expect(changed.code).toBe('challenge_not_found');
    expect(harness.events.at(-1)).toMatchObject({ type: 'verify.failed', reason: 'transaction_mismatch', challengeId, purpose: 'payment' });
    expect((await rejection(harness.stepup.verify(challengeId, code, { subject: SUBJECT, transaction: PAYMENT }))).code).toBe('challenge_not_found');
    // The same transaction written otherwise is not a change.
    const again = await startChallenge(harness, { purpose: 'payment' });
    const same = { amount: `${PAYMENT.amount}0`, currency: 'eur', payee: PAYMENT.payee!, id: PAYMENT.id! };
    await expect(harness.stepup.verify(again.challengeId, again.code, { subject: SUBJECT, transaction: same })).resolves.toMatchObject({ claims: { txn: hashTransaction(PAYMENT) } });
  });

  it('R-F10 a transaction altered after the challenge emits one token.rejected event with reason transaction_mismatch', async () => {
    const harness = makeStepUp();
    const { token, challengeId } = await issueToken(harness, { purpose: 'payment' });
    await expectRefused(harness.stepup.checkToken(token, { purpose: 'payment', subject: SUBJECT, transaction: { ...PAYMENT, payee: 'Mallory' } }), 'transaction_mismatch');
    const tampered = harness.events.filter((event) => event.type === 'token.rejected');
    expect(tampered).toEqual([expect.objectContaining({ reason: 'transaction_mismatch', purpose: 'payment', subject: SUBJECT, challengeId })]);
    expect(JSON.stringify(tampered)).not.toContain('Mallory');
  });

  it('R-B10 a transaction that cannot be canonicalized is a mismatch, not a crash', async () => {
    const harness = makeStepUp();
    const { token } = await issueToken(harness, { purpose: 'payment' });
    for (const transaction of [{}, { amount: Number.NaN }, { when: new Date() }] as never[]) {
      await expectRefused(harness.stepup.checkToken(token, { purpose: 'payment', transaction }), 'transaction_mismatch');
    }
  });

  it('R-B10 a payment check without a transaction is a programming error (TypeError), not a pass', async () => {
    const harness = makeStepUp();
    const { token } = await issueToken(harness, { purpose: 'payment' });
    await expect(harness.stepup.checkToken(token, { purpose: 'payment' })).rejects.toThrow(TypeError);
  });

  it('R-B10 a login token (no txn) checked with a transaction is refused (transaction_mismatch)', async () => {
    const harness = makeStepUp();
    const { token } = await issueToken(harness, { purpose: 'login' });
    await expectRefused(harness.stepup.checkToken(token, { purpose: 'login', transaction: PAYMENT }), 'transaction_mismatch');
  });
});

describe('R-B11 session binding', () => {
  it("R-B11 a token from binding 's1' checked with binding 's2' is refused (wrong_session); with 's1' it passes", async () => {
    const harness = makeStepUp();
    const { token } = await issueToken(harness, { binding: 's1' });
    await expectRefused(harness.stepup.checkToken(token, { purpose: 'login', binding: 's2' }), 'wrong_session');
    await expect(harness.stepup.checkToken(token, { purpose: 'login', binding: 's1' })).resolves.toBeDefined();
  });

  it('R-B11 a token issued without a binding is refused by a check that has one', async () => {
    const harness = makeStepUp();
    const { token } = await issueToken(harness);
    expect(decodePart(token, 1).sbh).toBeUndefined();
    await expectRefused(harness.stepup.checkToken(token, { purpose: 'login', binding: 's1' }), 'wrong_session');
  });

  it('R-B11 sbh is a keyed hash, not the raw session id', async () => {
    const harness = makeStepUp();
    const { token } = await issueToken(harness, { binding: 'raw-session-id-123' });
    expect(JSON.stringify(decodePart(token, 1))).not.toContain('raw-session-id-123');
  });
});

describe('R-A6 freshness (maxAge)', () => {
  it('R-A6 maxAge 300: checked 301 s after the verify it is too_old; 299 s after it passes', async () => {
    const harness = makeStepUp();
    const { token } = await issueToken(harness);
    const t0 = harness.clock();
    harness.clock.set(t0 + 299_000);
    await expect(harness.stepup.checkToken(token, { purpose: 'login', maxAge: 300 })).resolves.toBeDefined();
    harness.clock.set(t0 + 301_000);
    const error = await expectRefused(harness.stepup.checkToken(token, { purpose: 'login', maxAge: 300 }), 'too_old');
    expect(error.details.maxAge).toBe(300);
    await expectRefused(harness.stepup.checkToken(token, { purpose: 'login', maxAge: '5m' }), 'too_old');
  });

  it('R-A6 a too_old refusal does not burn a one-time token', async () => {
    const harness = makeStepUp();
    const { token } = await issueToken(harness, { purpose: 'password-reset' });
    harness.clock.advance(61_000);
    await expectRefused(harness.stepup.checkToken(token, { purpose: 'password-reset', maxAge: 60 }), 'too_old');
    await expect(harness.stepup.checkToken(token, { purpose: 'password-reset', maxAge: 120 })).resolves.toBeDefined();
    await expectRefused(harness.stepup.checkToken(token, { purpose: 'password-reset', maxAge: 120 }), 'replayed');
  });
});

describe('token.* events', () => {
  it('every refusal emits token.rejected with its reason, every pass token.accepted', async () => {
    const harness = makeStepUp();
    const { token } = await issueToken(harness, { binding: 's1' });
    await expectRefused(harness.stepup.checkToken(token, { purpose: 'login', binding: 's2' }), 'wrong_session');
    await harness.stepup.checkToken(token, { purpose: 'login', binding: 's1' });
    const tokenEvents = harness.events.filter((event) => event.type.startsWith('token.'));
    expect(tokenEvents.map((event) => [event.type, event.reason])).toEqual([
      ['token.rejected', 'wrong_session'],
      ['token.accepted', undefined],
    ]);
  });
});
