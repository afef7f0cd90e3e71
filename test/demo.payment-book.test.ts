/**
 * The demos' final gate (R-F3, R-F4, R-F5): the payment record is executed only while it is
 * pending and still exactly the transaction the token approved, and only once.
 */
import { describe, expect, it } from 'vitest';
import { PaymentBook, transactionOf, type Payment } from '../examples/express/payment-book.js';
import { expectRefused, makeStepUp, PHONE, SUBJECT } from './core.fixtures.js';

async function approvedPayment() {
  const h = makeStepUp();
  const book = new PaymentBook();
  const payment = await book.create(h.stepup, { id: SUBJECT, phone: PHONE }, { amount: '42.50', currency: 'EUR', payee: 'Electricity Co' }, { binding: 'sid', ip: undefined });
  const code = h.outbox.messages().at(-1)!.code;
  const { claims } = await h.stepup.verify(payment.challenge.challengeId, code, { subject: SUBJECT, binding: 'sid' });
  return { h, book, payment, claims };
}

describe('demo payment book', () => {
  it('R-F3 a record changed after the guard read it is not executed', async () => {
    const { payment, book, claims } = await approvedPayment();
    payment.payee = 'Mallory';
    expect(book.execute(payment, claims)).toBe(false);
    expect(payment.status).toBe('pending');
    payment.payee = 'Electricity Co';
    expect(book.execute(payment, claims)).toBe(true);
    expect(payment.status).toBe('executed');
  });

  it('R-F4 R-F5 an executed payment is never executed again, even with another valid token', async () => {
    const { payment, book, claims } = await approvedPayment();
    expect(book.execute(payment, claims)).toBe(true);
    expect(book.execute(payment, claims)).toBe(false);
    expect(book.execute(payment, { ...claims, jti: 'another' })).toBe(false);
  });

  it('R-F4 a token for payment A does not execute payment B of the same amount to the same payee: the record id is in the hash', async () => {
    const h = makeStepUp();
    const book = new PaymentBook();
    const user = { id: SUBJECT, phone: PHONE };
    const paymentA = await book.create(h.stepup, user, { amount: '10.00', currency: 'EUR', payee: 'Bob' }, { binding: 'sid', ip: undefined });
    const paymentB = await book.create(h.stepup, user, { amount: '10.00', currency: 'EUR', payee: 'Bob' }, { binding: 'sid', ip: undefined });
    const code = h.outbox.messages().find((message) => message.challengeId === paymentA.challenge.challengeId)!.code;
    const { token, claims } = await h.stepup.verify(paymentA.challenge.challengeId, code, { subject: SUBJECT, binding: 'sid' });
    const check = (payment: Payment) => h.stepup.checkToken(token, { purpose: 'payment', subject: SUBJECT, binding: 'sid', transaction: transactionOf(payment) });
    await expectRefused(check(paymentB), 'transaction_mismatch');
    expect(book.execute(paymentB, claims)).toBe(false);
    await check(paymentA);
    expect(book.execute(paymentA, claims)).toBe(true);
  });

  it('R-F5 a payment of another user does not exist for them, and only a pending one offers its transaction', async () => {
    const { payment, book, claims } = await approvedPayment();
    expect(book.own(payment.id, 'someone-else')).toBeUndefined();
    expect(book.pendingTransaction(payment.id, SUBJECT)).toEqual({ id: payment.id, amount: '42.50', currency: 'EUR', payee: 'Electricity Co' });
    book.execute(payment, claims);
    expect(book.pendingTransaction(payment.id, SUBJECT)).toBeUndefined();
  });
});
