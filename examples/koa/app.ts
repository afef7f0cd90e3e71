/**
 * The demo app on Koa, twin of ../express: a password sign-in with a WhatsApp code as
 * second factor (koa-passport), and payments that each need a fresh code bound to that
 * exact payment (the guard). Messages go to the dev outbox at /dev/outbox.
 *
 *   login.ts     the two sign-in steps (passport-local, then WhatsAppOtpStrategy)
 *   payments.ts  payment form, confirm page, stepUpRouter and requireStepUp
 *   http.ts      pages, forms, the session and the outbox mount on Koa
 * The pages, users, payment records and the service are the Express demo's, shared.
 */
import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import Koa, { type Context, type Next } from 'koa';
import createSession from 'koa-session';
import { isStepUpError, type ChallengeStore, type LimitsOptions, type OutboxChannel, type StepUp } from '../../src/index.js';
import { createDemoService } from '../express/service.js';
import { describe } from '../express/session.js';
import { DEMO_USERS, UserDirectory, type DemoCredentials } from '../express/users.js';
import * as views from '../express/views.js';
import { currentUser, mountNodeHandler, requireUser, sendPage, state } from './http.js';
import { createSignIn } from './login.js';
import { paymentRoutes } from './payments.js';

export interface KoaDemoAppOptions {
  /** Where challenges live. Default: a new MemoryStore. */
  store?: ChallengeStore;
  /** Send and failure limits. Default: the library's. */
  limits?: LimitsOptions;
}

export interface KoaDemoApp {
  app: Koa;
  outbox: OutboxChannel;
  stepup: StepUp;
  /** The demo users with their passwords. */
  users: readonly DemoCredentials[];
}

const SESSION_MS = 60 * 60_000;

/**
 * Sessions kept on the server (the cookie holds only their id), so that the session has an
 * id to bind challenges to and a sign-in can replace it. In production: Redis or a database.
 */
function memorySessionStore() {
  const sessions = new Map<string, { value: unknown; expires: number }>();
  return {
    get: async (key: string) => {
      const found = sessions.get(key);
      return found && found.expires > Date.now() ? found.value : undefined;
    },
    set: async (key: string, value: unknown, maxAge: number) => {
      sessions.set(key, { value, expires: Date.now() + (Number.isFinite(maxAge) ? maxAge : SESSION_MS) });
    },
    destroy: async (key: string) => {
      sessions.delete(key);
    },
  };
}

export function createKoaDemoApp(options: KoaDemoAppOptions = {}): KoaDemoApp {
  const { stepup, outbox } = createDemoService(options.store, undefined, options.limits);
  const signIn = createSignIn(stepup, new UserDirectory(DEMO_USERS));
  const payments = paymentRoutes(stepup);

  const app = new Koa();
  app.keys = [randomBytes(32).toString('base64url')];

  app.use(async (ctx: Context, next: Next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) sendPage(ctx, views.errorPage(currentUser(ctx), 'Not found', 'There is no such page.'), 404);
    } catch (error) {
      if (isStepUpError(error)) {
        // For example store_unavailable (Redis down: fail closed) or rate_limited when starting a challenge.
        const message = describe({ message: error.message, ...error.details });
        return sendPage(ctx, views.errorPage(currentUser(ctx), 'Verification unavailable', message), error.status);
      }
      const status = (error as { status?: unknown }).status;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        return sendPage(ctx, views.errorPage(currentUser(ctx), 'Not accepted', (error as Error).message), status);
      }
      console.error('[demo] unexpected error', error);
      sendPage(ctx, views.errorPage(currentUser(ctx), 'Something went wrong', 'Please try again.'), 500);
    }
  });
  app.use(createSession({
    key: 'demo.sid',
    maxAge: SESSION_MS,
    store: memorySessionStore(),
    // `secure: true` belongs here behind HTTPS; the demo runs on plain http://localhost.
    httpOnly: true,
    sameSite: 'lax',
  }, app));
  app.use(signIn.auth.initialize());
  app.use(signIn.auth.session());

  // Development only: shows every "sent" message with its code (router() throws under NODE_ENV=production).
  app.use(mountNodeHandler('/dev/outbox', outbox.router()));
  // The library's challenge routes, under /stepup.
  app.use(payments.stepUpRoutes);

  const pages = new Router();
  pages.get('/', (ctx) => sendPage(ctx, views.homePage(currentUser(ctx), DEMO_USERS)));
  pages.get('/account', requireUser, (ctx) => {
    const user = currentUser(ctx)!;
    const { signedInAt, amr } = state(ctx);
    sendPage(ctx, views.accountPage(user, {
      name: user.name,
      username: user.username,
      methods: amr,
      signedInAt: signedInAt ? new Date(signedInAt * 1000).toISOString() : undefined,
    }));
  });
  app.use(pages.routes());
  app.use(signIn.routes.routes());
  app.use(payments.routes.routes());

  return { app, outbox, stepup, users: DEMO_USERS };
}
