/**
 * A transaction-bound token approves one record, not one kind of payment: every purpose that
 * binds a transaction requires `transaction.id` (the pending record's identifier, a non-empty
 * string), and the hash covers it. So a token verified for payment A (10.00 EUR to Bob) never
 * executes payment B entered as `10` EUR to Bob, whose normal form differs from A's by its id alone.
 */
import { describe, expect, it } from 'vitest';
import { hashTransaction, type Transaction } from '../src/index.js';
import { claimsAt, expectRefused, forge, hs256, issueToken, makeStepUp, PHONE, rejection, SECRET, SUBJECT } from './core.fixtures.js';

const HEADER = { alg: 'HS256', typ: 'stepup+jwt', kid: 'stepup-1' };

const PAYMENT_A: Transaction = { id: 'pay_A', amount: '10.00', currency: 'EUR', payee: 'Bob' };
const PAYMENT_B: Transaction = { id: 'pay_B', amount: '10', currency: 'EUR', payee: 'Bob' };
const { id: _id, ...WITHOUT_ID } = PAYMENT_A;

describe('R-F4 a payment token executes its own record only', () => {
  it('no token approves "10.00 EUR to Bob" as such: a token for payment A is refused on payment B of the same amount and payee (transaction_mismatch); on A it passes', async () => {
    const harness = makeStepUp();
    // Without the record's id there is nothing to bind to: no challenge, no token.
    expect((await rejection(harness.stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'payment', transaction: WITHOUT_ID }))).code).toBe('invalid_request');
    const { token } = await issueToken(harness, { purpose: 'payment', transaction: PAYMENT_A });
    await expectRefused(harness.stepup.checkToken(token, { purpose: 'payment', subject: SUBJECT, transaction: PAYMENT_B }), 'transaction_mismatch');
    // The refusal did not burn the one-time token: the record it approved still executes, once.
    await expect(harness.stepup.checkToken(token, { purpose: 'payment', subject: SUBJECT, transaction: PAYMENT_A })).resolves.toMatchObject({ txn: hashTransaction(PAYMENT_A) });
  });

  it('a record without its id is refused, never passed (transaction_mismatch), even against a validly signed token whose txn is that of the same fields without an id', async () => {
    const harness = makeStepUp();
    // As a token issued before ids were required would be: its txn hashes amount, currency and payee only.
    const token = forge(HEADER, claimsAt(harness.clock(), { purpose: 'payment', txn: hashTransaction(WITHOUT_ID) }), hs256(SECRET));
    for (const transaction of [WITHOUT_ID, { ...PAYMENT_A, id: '' }, { ...PAYMENT_A, id: 7 }]) {
      await expectRefused(harness.stepup.checkToken(token, { purpose: 'payment', subject: SUBJECT, transaction }), 'transaction_mismatch');
      await expectRefused(harness.stepup.tokenCheck({ purpose: 'payment' })(token, { subject: SUBJECT, transaction }), 'transaction_mismatch');
    }
  });

  it('a payment start without transaction.id, or with an empty or non-string one, is invalid_request naming transaction.id, and sends nothing', async () => {
    const harness = makeStepUp();
    for (const transaction of [WITHOUT_ID, { ...PAYMENT_A, id: '' }, { ...PAYMENT_A, id: '  ' }, { ...PAYMENT_A, id: 42 }, { ...PAYMENT_A, id: null }]) {
      const error = await rejection(harness.stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'payment', transaction }));
      expect(error.code).toBe('invalid_request');
      expect(error.status).toBe(400);
      expect(error.message).toContain('transaction.id');
    }
    const none = await rejection(harness.stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'payment' }));
    expect(none.code).toBe('invalid_request');
    expect(none.message).toContain('transaction.id');
    expect(harness.outbox.messages()).toEqual([]);
  });

  it("every purpose that binds a transaction requires the record's id, not only the payment preset", async () => {
    const harness = makeStepUp({ purposes: { transfer: { requireTransaction: true, oneTime: true, tokenTtl: '5m' } } });
    const error = await rejection(harness.stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'transfer', transaction: WITHOUT_ID }));
    expect(error.code).toBe('invalid_request');
    expect(error.message).toContain('transaction.id');
    const { token } = await issueToken(harness, { purpose: 'transfer', transaction: PAYMENT_A });
    await expectRefused(harness.stepup.checkToken(token, { purpose: 'transfer', transaction: PAYMENT_B }), 'transaction_mismatch');
  });

  it('the hash covers the id; a purpose without a binding takes a transaction without one, and an id given must still be a string', async () => {
    expect(hashTransaction({ ...PAYMENT_A, id: 'pay_B' })).not.toBe(hashTransaction(PAYMENT_A));
    expect(hashTransaction({ ...PAYMENT_B, id: 'pay_A' })).toBe(hashTransaction(PAYMENT_A));
    const harness = makeStepUp();
    await expect(harness.stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'login', transaction: WITHOUT_ID })).resolves.toMatchObject({ purpose: 'login' });
    expect((await rejection(harness.stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'login', transaction: { ...WITHOUT_ID, id: 42 } }))).message).toContain('transaction.id');
  });
});
