/**
 * The demos' payment "database", framework-free (the Express and the Koa demo share it):
 * each payment is stored with the challenge that approves exactly this record ({ id, amount,
 * currency, payee }), and is executed at most once.
 */
import { randomBytes } from 'node:crypto';
import { hashTransaction, type ChallengeView, type StepUp, type StepUpClaims, type Transaction } from '../../src/index.js';
import * as views from './views.js';

export interface Payment {
  id: string;
  userId: string;
  /** Two decimals, as text: "10.00". */
  amount: string;
  currency: string;
  payee: string;
  status: 'pending' | 'executed';
  challenge: ChallengeView;
  executedAt?: string;
}

export type PaymentInput = Pick<Payment, 'amount' | 'currency' | 'payee'>;

/**
 * The transaction a payment code approves: exactly the fields the server stored and will
 * execute, the record's id among them, so that a code for this payment cannot execute
 * another one of the same amount to the same payee.
 */
export const transactionOf = (payment: Pick<Payment, 'id' | 'amount' | 'currency' | 'payee'>): Transaction => ({
  id: payment.id, amount: payment.amount, currency: payment.currency, payee: payment.payee,
});

export class PaymentBook {
  readonly #payments = new Map<string, Payment>();

  /** The payment if it belongs to `userId`; another user's payment does not exist for them. */
  own(id: unknown, userId: string | undefined): Payment | undefined {
    const payment = typeof id === 'string' ? this.#payments.get(id) : undefined;
    return payment && userId !== undefined && payment.userId === userId ? payment : undefined;
  }

  /** The transaction of a payment still waiting for its code: what a challenge for it may approve. */
  pendingTransaction(id: unknown, userId: string | undefined): Transaction | undefined {
    const payment = this.own(id, userId);
    return payment?.status === 'pending' ? transactionOf(payment) : undefined;
  }

  /** Stores a pending payment and starts its challenge, bound to this record and this session. */
  async create(stepup: StepUp, user: { id: string; phone: string }, input: PaymentInput, session: { binding: string | undefined; ip: string | undefined }): Promise<Payment> {
    const draft = { id: randomBytes(12).toString('base64url'), userId: user.id, ...input, status: 'pending' as const };
    const challenge = await stepup.start({
      subject: user.id, phone: user.phone, purpose: 'payment', transaction: transactionOf(draft),
      ...(session.binding === undefined ? {} : { binding: session.binding }),
      ...(session.ip === undefined ? {} : { ip: session.ip }),
    });
    const payment = { ...draft, challenge };
    this.#payments.set(payment.id, payment);
    return payment;
  }

  /**
   * The app's own final gate, run by the guard's `onExecute` after the token's one-time check:
   * a conditional update (in a database: UPDATE payments SET status = 'executed' WHERE id = ?
   * AND status = 'pending' AND txn = ?). `false` refuses a second execution even with another
   * valid token, and a record changed since the guard read it (R-F3: no check-to-use gap).
   */
  execute(payment: Payment, claims: StepUpClaims): boolean {
    if (payment.status !== 'pending' || hashTransaction(transactionOf(payment)) !== claims.txn) return false;
    Object.assign(payment, { status: 'executed', executedAt: new Date().toISOString() });
    return true;
  }
}

/** Validates the payment form; the amount is kept as a string with two decimals ("10.00"). */
export function readPayment(body: unknown): { ok: true; values: PaymentInput } | { ok: false; error: string; values: Partial<PaymentInput> } {
  const form = (body ?? {}) as Record<string, unknown>;
  const values = {
    amount: typeof form.amount === 'string' ? form.amount.trim() : '',
    currency: typeof form.currency === 'string' ? form.currency : '',
    payee: typeof form.payee === 'string' ? form.payee.trim().normalize('NFC') : '',
  };
  const amount = Number(values.amount.replace(',', '.'));
  if (!/^\d{1,7}([.,]\d{1,2})?$/.test(values.amount) || amount <= 0) return { ok: false, error: 'Enter an amount such as 10.00.', values };
  if (!(views.CURRENCIES as readonly string[]).includes(values.currency)) return { ok: false, error: 'Choose a currency.', values };
  if (!/^[^\p{Cc}]{1,60}$/u.test(values.payee)) return { ok: false, error: 'Enter a payee (at most 60 characters).', values };
  return { ok: true, values: { ...values, amount: amount.toFixed(2) } };
}
