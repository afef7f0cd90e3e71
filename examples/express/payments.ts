/**
 * Payments: the server stores each payment, starts a challenge bound to exactly that
 * record ({ amount, currency, payee }), and executes it only through the guard.
 */
import { randomBytes } from 'node:crypto';
import express from 'express';
import type { ChallengeView, StepUp, Transaction } from '../../src/index.js';
import { requireStepUp, stepUpRouter } from '../../src/express/index.js';
import { currentUser, requireUser, state } from './session.js';
import * as views from './views.js';

interface Payment {
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

type PaymentInput = Pick<Payment, 'amount' | 'currency' | 'payee'>;

/** The transaction a payment code approves: exactly the fields the server stored and will execute. */
const transactionOf = (payment: PaymentInput): Transaction => ({ amount: payment.amount, currency: payment.currency, payee: payment.payee });

export function paymentRoutes(stepup: StepUp): express.Router {
  const payments = new Map<string, Payment>(); // the demo's "database"
  const ownPayment = (req: express.Request): Payment | undefined => {
    const payment = payments.get(String(req.params.id));
    return payment && payment.userId === currentUser(req)?.id ? payment : undefined;
  };

  const routes = express.Router();

  // The library's HTTP API, used by the confirm page's script to verify a payment code and to resend.
  routes.use('/stepup', stepUpRouter(stepup, {
    resolveSubject: (req) => {
      const user = currentUser(req);
      return user && { id: user.id, phone: user.phone };
    },
    binding: (req) => req.sessionID,
    purposes: ['payment'],
    // Payment challenges are started server-side by POST /pay; should a client start one here,
    // its transaction still comes from the server's record, never from the request body.
    transaction: (req) => {
      const payment = payments.get(state(req).paymentId ?? '');
      return payment && payment.userId === currentUser(req)?.id && payment.status === 'pending' ? transactionOf(payment) : undefined;
    },
  }));

  routes.get('/pay', requireUser, (req, res) => views.sendPage(res, views.payPage(currentUser(req)!)));

  routes.post('/pay', requireUser, async (req, res) => {
    const user = currentUser(req)!;
    const input = readPayment(req.body);
    if (!input.ok) return views.sendPage(res, views.payPage(user, input.error, input.values), 400);
    const draft = { id: randomBytes(12).toString('base64url'), userId: user.id, ...input.values, status: 'pending' as const };
    const challenge = await stepup.start({
      subject: user.id, phone: user.phone, purpose: 'payment', transaction: transactionOf(draft), binding: req.sessionID, ip: req.ip,
    });
    payments.set(draft.id, { ...draft, challenge });
    state(req).paymentId = draft.id;
    res.redirect(303, `/payments/${draft.id}`);
  });

  // The confirm page while pending (amount and payee from the record), the receipt once executed.
  routes.get('/payments/:id', requireUser, (req, res) => {
    const user = currentUser(req)!;
    const payment = ownPayment(req);
    if (!payment) return views.sendPage(res, views.errorPage(user, 'Not found', 'There is no such payment.'), 404);
    views.sendPage(res, payment.status === 'executed' ? views.paymentDonePage(user, payment) : views.confirmPage(user, payment));
  });

  // How the token travels: the page's script verifies the code at /stepup/challenges/:id/verify,
  // receives the step-up token and sends it here at once in the `Step-Up-Token` header (the
  // guard's default source). Nothing is stored between the two requests, and a cross-site page
  // cannot send that header.
  routes.post(
    '/payments/:id/confirm',
    (req, res, next) => (ownPayment(req) ? next() : res.status(404).json({ error: { code: 'not_found', message: 'There is no such payment.' } })),
    requireStepUp(stepup, {
      purpose: 'payment',
      maxAge: '5m',
      subject: (req) => currentUser(req)?.id,
      binding: (req) => req.sessionID,
      // The record about to be executed, not the request body.
      transaction: (req) => transactionOf(ownPayment(req)!),
      oneTime: true,
      // The app's own final gate, after the token's one-time check: a conditional update
      // (in a database: UPDATE payments SET status = 'executed' WHERE id = ? AND status = 'pending').
      // It refuses a second execution even with another valid token.
      onExecute: (_claims, req) => {
        const payment = ownPayment(req)!;
        if (payment.status !== 'pending') return false;
        Object.assign(payment, { status: 'executed', executedAt: new Date().toISOString() });
      },
    }),
    (req, res) => {
      res.set('Cache-Control', 'no-store').json({ status: 'executed', receipt: `/payments/${ownPayment(req)!.id}` });
    },
  );

  return routes;
}

/** Validates the payment form; the amount is kept as a string with two decimals ("10.00"). */
function readPayment(body: unknown): { ok: true; values: PaymentInput } | { ok: false; error: string; values: Partial<PaymentInput> } {
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
