/**
 * Payments: the server stores each payment, starts a challenge bound to exactly that
 * record ({ id, amount, currency, payee }), and executes it only through the guard.
 */
import express from 'express';
import type { StepUp } from '../../src/index.js';
import { requireStepUp, stepUpRouter } from '../../src/express/index.js';
import { PaymentBook, readPayment, transactionOf, type Payment } from './payment-book.js';
import { currentUser, requireUser, state } from './session.js';
import * as views from './views.js';

export function paymentRoutes(stepup: StepUp): express.Router {
  const payments = new PaymentBook(); // the demo's "database"
  const ownPayment = (req: express.Request): Payment | undefined => payments.own(req.params.id, currentUser(req)?.id);

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
    transaction: (req) => payments.pendingTransaction(state(req).paymentId, currentUser(req)?.id),
  }));

  routes.get('/pay', requireUser, (req, res) => views.sendPage(res, views.payPage(currentUser(req)!)));

  routes.post('/pay', requireUser, async (req, res) => {
    const user = currentUser(req)!;
    const input = readPayment(req.body);
    if (!input.ok) return views.sendPage(res, views.payPage(user, input.error, input.values), 400);
    const payment = await payments.create(stepup, user, input.values, { binding: req.sessionID, ip: req.ip });
    state(req).paymentId = payment.id;
    res.redirect(303, `/payments/${payment.id}`);
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
      // The record about to be executed (its id included), not the request body.
      transaction: (req) => transactionOf(ownPayment(req)!),
      oneTime: true,
      // The app's own final gate, after the token's one-time check (see PaymentBook#execute).
      onExecute: (claims, req) => payments.execute(ownPayment(req)!, claims),
    }),
    (req, res) => {
      res.set('Cache-Control', 'no-store').json({ status: 'executed', receipt: `/payments/${ownPayment(req)!.id}` });
    },
  );

  return routes;
}
