/**
 * The demos' final gate (R-F3, R-F4, R-F5): the payment record is executed only while it is
 * pending and still exactly the transaction the token approved, and only once.
 */
import { describe, expect, it } from 'vitest';
import { PaymentBook } from '../examples/express/payment-book.js';
import { makeStepUp, PHONE, SUBJECT } from './core.fixtures.js';

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

  it('R-F5 a payment of another user does not exist for them, and only a pending one offers its transaction', async () => {
    const { payment, book, claims } = await approvedPayment();
    expect(book.own(payment.id, 'someone-else')).toBeUndefined();
    expect(book.pendingTransaction(payment.id, SUBJECT)).toEqual({ amount: '42.50', currency: 'EUR', payee: 'Electricity Co' });
    book.execute(payment, claims);
    expect(book.pendingTransaction(payment.id, SUBJECT)).toBeUndefined();
  });
});
