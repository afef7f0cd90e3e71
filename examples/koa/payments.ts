/**
 * Payments on Koa: the server stores each payment, starts a challenge bound to exactly
 * that record ({ id, amount, currency, payee }), and executes it only through the guard.
 * The record keeping is the Express demo's PaymentBook; only the routes differ.
 */
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { StepUp } from '../../src/index.js';
import { requireStepUp, stepUpRouter } from '../../src/koa/index.js';
import { PaymentBook, readPayment, transactionOf, type Payment } from '../express/payment-book.js';
import * as views from '../express/views.js';
import { currentUser, readForm, redirect, requireUser, sendPage, sessionBinding, state } from './http.js';

export function paymentRoutes(stepup: StepUp): { stepUpRoutes: Middleware; routes: Router } {
  const payments = new PaymentBook(); // the demo's "database"
  const ownPayment = (ctx: Context): Payment | undefined => payments.own((ctx as { params?: Record<string, string> }).params?.id, currentUser(ctx)?.id);

  // The library's HTTP API, used by the confirm page's script to verify a payment code and to resend.
  const stepUpRoutes = stepUpRouter(stepup, {
    prefix: '/stepup',
    resolveSubject: (ctx) => {
      const user = currentUser(ctx);
      return user && { id: user.id, phone: user.phone };
    },
    binding: sessionBinding,
    purposes: ['payment'],
    // Payment challenges are started server-side by POST /pay; should a client start one here,
    // its transaction still comes from the server's record, never from the request body.
    transaction: (ctx) => payments.pendingTransaction(state(ctx).paymentId, currentUser(ctx)?.id),
  });

  const routes = new Router();

  routes.get('/pay', requireUser, (ctx) => sendPage(ctx, views.payPage(currentUser(ctx)!)));

  routes.post('/pay', requireUser, readForm, async (ctx) => {
    const user = currentUser(ctx)!;
    const input = readPayment((ctx.request as { body?: unknown }).body);
    if (!input.ok) return sendPage(ctx, views.payPage(user, input.error, input.values), 400);
    const payment = await payments.create(stepup, user, input.values, { binding: sessionBinding(ctx), ip: ctx.ip });
    state(ctx).paymentId = payment.id;
    redirect(ctx, `/payments/${payment.id}`);
  });

  // The confirm page while pending (amount and payee from the record), the receipt once executed.
  routes.get('/payments/:id', requireUser, (ctx) => {
    const user = currentUser(ctx)!;
    const payment = ownPayment(ctx);
    if (!payment) return sendPage(ctx, views.errorPage(user, 'Not found', 'There is no such payment.'), 404);
    sendPage(ctx, payment.status === 'executed' ? views.paymentDonePage(user, payment) : views.confirmPage(user, payment));
  });

  // The page's script verifies the code at /stepup/challenges/:id/verify and sends the step-up
  // token here at once in the `Step-Up-Token` header (the guard's default source).
  routes.post(
    '/payments/:id/confirm',
    (ctx, next) => {
      if (ownPayment(ctx)) return next();
      ctx.status = 404;
      ctx.body = { error: { code: 'not_found', message: 'There is no such payment.' } };
    },
    requireStepUp(stepup, {
      purpose: 'payment',
      maxAge: '5m',
      subject: (ctx) => currentUser(ctx)?.id,
      binding: sessionBinding,
      // The record about to be executed (its id included), not the request body.
      transaction: (ctx) => transactionOf(ownPayment(ctx)!),
      oneTime: true,
      // The app's own final gate, after the token's one-time check (see PaymentBook#execute).
      onExecute: (claims, ctx) => payments.execute(ownPayment(ctx)!, claims),
    }),
    (ctx) => {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { status: 'executed', receipt: `/payments/${ownPayment(ctx)!.id}` };
    },
  );

  return { stepUpRoutes, routes };
}
