/**
 * The demo app: a password sign-in with a WhatsApp code as second factor (Passport),
 * and payments that each need a fresh code bound to that exact payment (the guard).
 * Messages go to the dev outbox at /dev/outbox instead of a phone.
 *
 *   login.ts     the two sign-in steps (passport-local, then WhatsAppOtpStrategy)
 *   payments.ts  payment form, confirm page, stepUpRouter and requireStepUp
 *   password-reset.ts  the enumeration-safe reset: same answer for every account, code, new password
 *   phone-change.ts    a new phone number, approved by a code sent to the current one (R-H4)
 *   views.ts     the HTML pages; users.ts the demo users; session.ts shared helpers
 */
import { randomBytes } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import session from 'express-session';
import { isStepUpError, type ChallengeStore, type Channel, type LimitsOptions, type OutboxChannel, type StepUp, type StepUpOptions } from '../../src/index.js';
import { createSignIn } from './login.js';
import { passwordResetRoutes } from './password-reset.js';
import { paymentRoutes } from './payments.js';
import { masked, phoneChangeRoutes } from './phone-change.js';
import { createDemoService } from './service.js';
import { currentUser, describe, requireUser, state } from './session.js';
import { DEMO_USERS, UserDirectory, type DemoCredentials } from './users.js';
import * as views from './views.js';

export interface DemoAppOptions {
  /** Where challenges live. Default: a new MemoryStore. */
  store?: ChallengeStore;
  /** The delivery channels, given the outbox (to mirror real channels into it). Default: the outbox alone. */
  channels?: (outbox: OutboxChannel) => Channel[];
  /** Send and failure limits. Default: the library's. */
  limits?: LimitsOptions;
  /** The app's check before every send (a CAPTCHA, a risk score). Default: none. */
  beforeSend?: StepUpOptions['beforeSend'];
}

export interface DemoApp {
  app: express.Express;
  outbox: OutboxChannel;
  stepup: StepUp;
  /** The demo users with their passwords. */
  users: readonly DemoCredentials[];
  /** express-session's store: what each browser session holds, server-side. */
  sessions: session.MemoryStore;
  /** Resolves once every password-reset request's background start has finished (tests and the bench wait on it). */
  resetsSettled: () => Promise<void>;
}

export function createDemoApp(options: DemoAppOptions = {}): DemoApp {
  const { stepup, outbox, metrics } = createDemoService(options.store, options.channels, options.limits, options.beforeSend);
  const directory = new UserDirectory(DEMO_USERS);
  const signIn = createSignIn(stepup, directory);

  const sessions = new session.MemoryStore();
  const app = express();
  app.disable('x-powered-by');
  app.use(session({
    store: sessions,
    name: 'demo.sid',
    secret: randomBytes(32).toString('base64url'),
    resave: false,
    saveUninitialized: false,
    // `secure: true` belongs here behind HTTPS; the demo runs on plain http://localhost.
    cookie: { httpOnly: true, sameSite: 'lax' },
  }));
  app.use(signIn.auth.initialize());
  app.use(signIn.auth.session());
  app.use(express.urlencoded({ extended: false, limit: '8kb' }));

  // Development only: shows every "sent" message with its code (router() throws under NODE_ENV=production).
  app.use('/dev/outbox', outbox.router());
  // Prometheus scrapes the step-up counters here (in production: an internal port, or behind auth).
  app.get('/metrics', async (_req, res) => void res.type(metrics.contentType).send(await metrics.metrics()));

  app.get('/', (req, res) => views.sendPage(res, views.homePage(currentUser(req), DEMO_USERS, { passwordReset: true })));
  app.use(signIn.routes);
  const passwordReset = passwordResetRoutes(stepup, directory, sessions);
  app.use(passwordReset.routes);

  app.get('/account', requireUser, (req, res) => {
    const user = currentUser(req)!;
    const { signedInAt, amr } = state(req);
    views.sendPage(res, views.accountPage(user, {
      name: user.name,
      username: user.username,
      methods: amr,
      signedInAt: signedInAt ? new Date(signedInAt * 1000).toISOString() : undefined,
      phone: masked(user.phone),
    }, { changePhone: true }));
  });

  app.use(phoneChangeRoutes(stepup, directory, sessions));
  app.use(paymentRoutes(stepup));

  app.use((req, res) => views.sendPage(res, views.errorPage(currentUser(req), 'Not found', 'There is no such page.'), 404));
  app.use((error: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    if (isStepUpError(error)) {
      // For example store_unavailable (Redis down: fail closed) or rate_limited when starting a challenge.
      const message = describe({ message: error.message, ...error.details });
      return views.sendPage(res, views.errorPage(currentUser(req), 'Verification unavailable', message), error.status);
    }
    console.error('[demo] unexpected error', error);
    views.sendPage(res, views.errorPage(currentUser(req), 'Something went wrong', 'Please try again.'), 500);
  });

  return { app, outbox, stepup, users: DEMO_USERS, sessions, resetsSettled: passwordReset.settled };
}
