/**
 * The demo app: a password sign-in with a WhatsApp code as second factor (Passport),
 * and payments that each need a fresh code bound to that exact payment (the guard).
 * Messages go to the dev outbox at /dev/outbox instead of a phone.
 */
import { randomBytes } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import session from 'express-session';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import {
  createStepUp, isStepUpError, MemoryStore, OutboxChannel,
  type ChallengeStore, type ChallengeView, type StepUp, type StepUpErrorCode, type Transaction,
} from '../../src/index.js';
import { requireStepUp, stepUpRouter } from '../../src/express/index.js';
import { WhatsAppOtpStrategy, type WhatsAppOtpFailure, type WhatsAppOtpSuccess } from '../../src/passport/index.js';
import { DEMO_USERS, UserDirectory, type DemoCredentials, type DemoUser } from './users.js';
import * as views from './views.js';

export interface DemoAppOptions {
  /** Where challenges live. Default: a new MemoryStore. */
  store?: ChallengeStore;
}

export interface DemoApp {
  app: express.Express;
  outbox: OutboxChannel;
  stepup: StepUp;
  /** The demo users with their passwords. */
  users: readonly DemoCredentials[];
}

/** What this app keeps in express-session's session object. */
interface DemoSession {
  /** Set by the password step: this user still owes the code and is NOT signed in yet. */
  pendingUserId?: string;
  pendingSince?: number;
  /** The pending user's login challenge, as the page may show it. */
  loginChallenge?: ChallengeView;
  /** After sign-in, from the login step-up token: when and how (`amr`). */
  signedInAt?: number;
  amr?: string[];
  /** The payment being approved in this session. */
  paymentId?: string;
}

interface Payment {
  id: string;
  userId: string;
  amount: string;
  currency: string;
  payee: string;
  status: 'pending' | 'executed';
  challenge: ChallengeView;
  executedAt?: string;
}

/** How long the password step counts while the code is outstanding. */
const PENDING_LOGIN_MS = 10 * 60_000;
/** Failures after which a challenge cannot be used any more: the page offers a new code. */
const CLOSED: ReadonlySet<StepUpErrorCode> = new Set(['challenge_not_found', 'challenge_expired', 'too_many_attempts']);

const state = (req: Request) => req.session as unknown as DemoSession;
const currentUser = (req: Request) => req.user as DemoUser | undefined;
/** The transaction a payment code approves: exactly the fields the server stored and will execute. */
const transactionOf = (payment: Pick<Payment, 'amount' | 'currency' | 'payee'>): Transaction => ({ amount: payment.amount, currency: payment.currency, payee: payment.payee });

export function createDemoApp(options: DemoAppOptions = {}): DemoApp {
  const users = new UserDirectory(DEMO_USERS);
  const payments = new Map<string, Payment>();
  const outbox = new OutboxChannel();
  const stepup = createStepUp({
    store: options.store ?? new MemoryStore(),
    channels: [outbox],
    tokens: { issuer: 'urn:example:demo-bank', audience: 'urn:example:demo-bank', secret: process.env.STEPUP_SECRET ?? randomBytes(32) },
    pepper: process.env.STEPUP_PEPPER ?? randomBytes(32),
    brand: 'Demo Bank',
  });

  // A Passport instance of our own (not the global one), so that several apps can live in one process (tests).
  const auth = new passport.Passport();
  auth.serializeUser((user, done) => done(null, (user as DemoUser).id));
  auth.deserializeUser((id, done) => done(null, users.byId(id) ?? false));
  auth.use(new LocalStrategy((username, password, done) => {
    users.checkPassword(username, password).then((user) => done(null, user ?? false), done);
  }));
  auth.use(new WhatsAppOtpStrategy<DemoUser>(stepup, {
    resolveSubject: (req) => pendingUser(req)?.id,
    binding: (req) => req.sessionID,
    verify: (claims, done) => done(null, users.byId(claims.sub) ?? false),
  }));

  const pendingUser = (req: Request): DemoUser | undefined => {
    const { pendingUserId, pendingSince = 0 } = state(req);
    return Date.now() - pendingSince < PENDING_LOGIN_MS ? users.byId(pendingUserId) : undefined;
  };
  const ownPayment = (req: Request): Payment | undefined => {
    const payment = payments.get(String(req.params.id));
    return payment && payment.userId === currentUser(req)?.id ? payment : undefined;
  };

  const app = express();
  app.disable('x-powered-by');
  app.use(session({
    name: 'demo.sid',
    secret: randomBytes(32).toString('base64url'),
    resave: false,
    saveUninitialized: false,
    // `secure: true` belongs here behind HTTPS; the demo runs on plain http://localhost.
    cookie: { httpOnly: true, sameSite: 'lax' },
  }));
  app.use(auth.initialize());
  app.use(auth.session());
  app.use(express.urlencoded({ extended: false, limit: '8kb' }));

  // Development only: shows every "sent" message with its code (router() throws under NODE_ENV=production).
  app.use('/dev/outbox', outbox.router());

  // The library's HTTP API, used by the confirm page's script to verify a payment code and to resend.
  app.use('/stepup', stepUpRouter(stepup, {
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

  const requireUser = (req: Request, res: Response, next: NextFunction) => (currentUser(req) ? next() : res.redirect(303, '/login'));

  app.get('/', (req, res) => views.sendPage(res, views.homePage(currentUser(req), DEMO_USERS)));

  // ---- Sign-in, step 1: the password. The user becomes *pending*, not signed in. ----
  app.get('/login', (req, res) => (currentUser(req) ? res.redirect(303, '/account') : views.sendPage(res, views.loginPage())));

  app.post('/login', (req, res, next) => {
    auth.authenticate('local', (error: unknown, user: DemoUser | false) => {
      if (error) return next(error);
      if (!user) return views.sendPage(res, views.loginPage('Wrong username or password.', String(req.body?.username ?? '')), 401);
      // A new session id for the new privilege level, then remember who still owes the code.
      req.session.regenerate((regenerateError) => {
        if (regenerateError) return next(regenerateError);
        Object.assign(state(req), { pendingUserId: user.id, pendingSince: Date.now() });
        res.redirect(303, '/login/code');
      });
    })(req, res, next);
  });

  // ---- Sign-in, step 2: the code, bound to this session, with 'pwd' as the other factor (amr gets 'mfa'). ----
  app.get('/login/code', async (req, res) => {
    const user = pendingUser(req);
    if (!user) return res.redirect(303, '/login');
    const session = state(req);
    if (!session.loginChallenge || Date.parse(session.loginChallenge.expiresAt) <= Date.now()) {
      session.loginChallenge = await stepup.start({
        subject: user.id, phone: user.phone, purpose: 'login', otherFactors: ['pwd'], binding: req.sessionID, ip: req.ip,
      });
    }
    views.sendPage(res, views.loginCodePage({ challenge: session.loginChallenge }));
  });

  app.post('/login/code/resend', async (req, res) => {
    const user = pendingUser(req);
    const session = state(req);
    if (!user || !session.loginChallenge) return res.redirect(303, '/login/code');
    try {
      session.loginChallenge = await stepup.resend(session.loginChallenge.challengeId, { subject: user.id, binding: req.sessionID, ip: req.ip });
      views.sendPage(res, views.loginCodePage({ challenge: session.loginChallenge, notice: `A new code was sent to ${session.loginChallenge.to}.` }));
    } catch (error) {
      if (!isStepUpError(error) || error.status >= 500) throw error;
      if (CLOSED.has(error.code)) delete session.loginChallenge;
      views.sendPage(res, views.loginCodePage({ challenge: session.loginChallenge, error: describe({ message: error.message, ...error.details }) }), error.status);
    }
  });

  app.post('/login/code', (req, res, next) => {
    auth.authenticate('whatsapp-otp', (error: unknown, user: DemoUser | false, info?: WhatsAppOtpSuccess | WhatsAppOtpFailure, status?: number) => {
      if (error) return next(error);
      if (!user) {
        const failure = info as WhatsAppOtpFailure | undefined;
        if (failure?.code === 'unauthenticated') return res.redirect(303, '/login');
        if (failure && CLOSED.has(failure.code)) delete state(req).loginChallenge;
        return views.sendPage(res, views.loginCodePage({ challenge: state(req).loginChallenge, error: describe(failure) }), status ?? 400);
      }
      const { claims } = info as WhatsAppOtpSuccess;
      // req.login regenerates the session (Passport >= 0.6): the pending state and the old session id are gone.
      req.login(user, (loginError) => {
        if (loginError) return next(loginError);
        Object.assign(state(req), { signedInAt: claims.auth_time, amr: claims.amr });
        res.redirect(303, '/account');
      });
    })(req, res, next);
  });

  app.post('/logout', (req, res, next) => req.logout((error) => (error ? next(error) : res.redirect(303, '/'))));

  app.get('/account', requireUser, (req, res) => {
    const user = currentUser(req)!;
    const { signedInAt, amr } = state(req);
    views.sendPage(res, views.accountPage(user, {
      name: user.name, username: user.username, methods: amr, signedInAt: signedInAt ? new Date(signedInAt * 1000).toISOString() : undefined,
    }));
  });

  // ---- Payments: the server stores the payment, then starts a challenge bound to it. ----
  app.get('/pay', requireUser, (req, res) => views.sendPage(res, views.payPage(currentUser(req)!)));

  app.post('/pay', requireUser, async (req, res) => {
    const user = currentUser(req)!;
    const input = readPayment(req.body);
    if (!input.ok) return views.sendPage(res, views.payPage(user, input.error, input.values), 400);
    const id = randomBytes(12).toString('base64url');
    const draft = { id, userId: user.id, ...input.values, status: 'pending' as const };
    const challenge = await stepup.start({
      subject: user.id, phone: user.phone, purpose: 'payment', transaction: transactionOf(draft), binding: req.sessionID, ip: req.ip,
    });
    payments.set(id, { ...draft, challenge });
    state(req).paymentId = id;
    res.redirect(303, `/payments/${id}`);
  });

  app.get('/payments/:id', requireUser, (req, res) => {
    const user = currentUser(req)!;
    const payment = ownPayment(req);
    if (!payment) return views.sendPage(res, views.errorPage(user, 'Not found', 'There is no such payment.'), 404);
    views.sendPage(res, payment.status === 'executed' ? views.paymentDonePage(user, payment) : views.confirmPage(user, payment));
  });

  // The confirm route. The page's script verifies the code at /stepup/challenges/:id/verify,
  // receives the step-up token, and sends it here at once in the `Step-Up-Token` header
  // (the guard's default source): nothing is stored between the two requests.
  app.post(
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
      // (in a database: UPDATE ... SET status = 'executed' WHERE id = ? AND status = 'pending').
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

  app.use((req, res) => views.sendPage(res, views.errorPage(currentUser(req), 'Not found', 'There is no such page.'), 404));
  app.use((error: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    if (isStepUpError(error)) {
      return views.sendPage(res, views.errorPage(currentUser(req), 'Verification unavailable', describe({ message: error.message, ...error.details })), error.status);
    }
    console.error('[demo] unexpected error', error);
    views.sendPage(res, views.errorPage(currentUser(req), 'Something went wrong', 'Please try again.'), 500);
  });

  return { app, outbox, stepup, users: DEMO_USERS };
}

/** A refusal as one sentence, with the attempts left or the wait where they apply. */
function describe(failure: { message?: string; attemptsLeft?: number; retryAfter?: number } | undefined): string {
  let text = failure?.message ?? 'The code could not be checked.';
  if (failure?.attemptsLeft !== undefined) text += ` ${failure.attemptsLeft} attempt${failure.attemptsLeft === 1 ? '' : 's'} left.`;
  if (failure?.retryAfter !== undefined) text += ` Try again in ${failure.retryAfter} s.`;
  return text;
}

type PaymentInput = { amount: string; currency: string; payee: string };

/** Validates the payment form; the amount is kept as a string with two decimals ("10.00"). */
function readPayment(body: unknown): { ok: true; values: PaymentInput } | { ok: false; error: string; values: Partial<PaymentInput> } {
  const form = (body ?? {}) as Record<string, unknown>;
  const values = {
    amount: typeof form.amount === 'string' ? form.amount.trim() : '',
    currency: typeof form.currency === 'string' ? form.currency : '',
    payee: typeof form.payee === 'string' ? form.payee.trim().normalize('NFC') : '',
  };
  if (!/^\d{1,7}([.,]\d{1,2})?$/.test(values.amount) || Number(values.amount.replace(',', '.')) <= 0) {
    return { ok: false, error: 'Enter an amount such as 10.00.', values };
  }
  if (!(views.CURRENCIES as readonly string[]).includes(values.currency)) return { ok: false, error: 'Choose a currency.', values };
  if (!/^[^\p{Cc}]{1,60}$/u.test(values.payee)) return { ok: false, error: 'Enter a payee (at most 60 characters).', values };
  return { ok: true, values: { ...values, amount: Number(values.amount.replace(',', '.')).toFixed(2) } };
}
