/**
 * Sign-in in two steps with koa-passport: the password (passport-local) makes the user
 * *pending*; a WhatsApp code (the same WhatsAppOtpStrategy as the Express demo) then
 * signs them in.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import koaPassport from 'koa-passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { isStepUpError, type StepUp, type StepUpErrorCode } from '../../src/index.js';
import type { KoaPassportRequest } from '../../src/koa/index.js';
import { WhatsAppOtpStrategy, type WhatsAppOtpFailure, type WhatsAppOtpSuccess } from '../../src/passport/index.js';
import { describe } from '../express/session.js';
import type { DemoUser, UserDirectory } from '../express/users.js';
import * as views from '../express/views.js';
import { currentUser, readForm, redirect, sendPage, sessionBinding, state } from './http.js';

/** How long the password step counts while the code is outstanding. */
const PENDING_LOGIN_MS = 10 * 60_000;
/** Failures after which a challenge cannot be used any more: the page offers a new code. */
const CLOSED: ReadonlySet<StepUpErrorCode> = new Set(['challenge_not_found', 'challenge_expired', 'too_many_attempts']);

/**
 * Empties the session, as express-session's `regenerate` does. koa-session's `regenerate`
 * gives the session a new id but keeps its data: what the old privilege level held must go.
 */
function clearSession(ctx: Context): void {
  const session = state(ctx) as unknown as Record<string, unknown>;
  for (const key of Object.keys(session)) if (!key.startsWith('_') && key !== 'isNew') delete session[key];
}

export function createSignIn(stepup: StepUp, users: UserDirectory) {
  const pendingUser = (ctx: Context): DemoUser | undefined => {
    const { pendingUserId, pendingSince = 0 } = state(ctx);
    return Date.now() - pendingSince < PENDING_LOGIN_MS ? users.byId(pendingUserId) : undefined;
  };

  // A Passport instance of our own (not koa-passport's singleton), so that several apps can live in one process (tests).
  const auth = new koaPassport.KoaPassport();
  auth.serializeUser((user, done) => done(null, (user as DemoUser).id));
  auth.deserializeUser((id, done) => done(null, users.byId(id) ?? false));
  auth.use(new LocalStrategy((username, password, done) => {
    users.checkPassword(username, password).then((user) => done(null, user ?? false), done);
  }));
  // Unchanged from Express: koa-passport gives the strategy a `req` with `body` and `ip`; `req.ctx` is Koa's context.
  auth.use(new WhatsAppOtpStrategy<DemoUser, KoaPassportRequest>(stepup, {
    resolveSubject: (req) => pendingUser(req.ctx)?.id,
    binding: (req) => sessionBinding(req.ctx),
    verify: (claims, done) => done(null, users.byId(claims.sub) ?? false),
  }));

  const routes = new Router();

  // ---- Step 1: the password. The user becomes *pending*, not signed in. ----
  routes.get('/login', (ctx) => (currentUser(ctx) ? redirect(ctx, '/account') : sendPage(ctx, views.loginPage())));

  routes.post('/login', readForm, (ctx, next) =>
    auth.authenticate('local', async (error: unknown, user: DemoUser | false) => {
      if (error) throw error;
      const form = (ctx.request as { body?: Record<string, string> }).body;
      if (!user) return sendPage(ctx, views.loginPage('Wrong username or password.', form?.username ?? ''), 401);
      // A new session id for the new privilege level, then remember who still owes the code.
      clearSession(ctx);
      await state(ctx).regenerate();
      Object.assign(state(ctx), { pendingUserId: user.id, pendingSince: Date.now() });
      redirect(ctx, '/login/code');
    })(ctx, next));

  // ---- Step 2: the code, bound to this session, with 'pwd' as the other factor (amr gets 'mfa'). ----
  routes.get('/login/code', async (ctx) => {
    const user = pendingUser(ctx);
    if (!user) return redirect(ctx, '/login');
    const session = state(ctx);
    if (!session.loginChallenge || Date.parse(session.loginChallenge.expiresAt) <= Date.now()) {
      session.loginChallenge = await stepup.start({
        subject: user.id, phone: user.phone, purpose: 'login', otherFactors: ['pwd'], binding: sessionBinding(ctx)!, ip: ctx.ip,
      });
    }
    sendPage(ctx, views.loginCodePage({ challenge: session.loginChallenge }));
  });

  routes.post('/login/code/resend', async (ctx) => {
    const user = pendingUser(ctx);
    const session = state(ctx);
    if (!user || !session.loginChallenge) return redirect(ctx, '/login/code');
    try {
      session.loginChallenge = await stepup.resend(session.loginChallenge.challengeId, { subject: user.id, binding: sessionBinding(ctx)!, ip: ctx.ip });
      sendPage(ctx, views.loginCodePage({ challenge: session.loginChallenge, notice: `A new code was sent to ${session.loginChallenge.to}.` }));
    } catch (error) {
      if (!isStepUpError(error) || error.status >= 500) throw error;
      if (CLOSED.has(error.code)) delete session.loginChallenge;
      sendPage(ctx, views.loginCodePage({ challenge: session.loginChallenge, error: describe({ message: error.message, ...error.details }) }), error.status);
    }
  });

  // The form posts { challengeId, code }; the strategy verifies them for the pending user and this session.
  routes.post('/login/code', readForm, (ctx, next) =>
    auth.authenticate('whatsapp-otp', async (error: unknown, user: DemoUser | false, info?: WhatsAppOtpSuccess | WhatsAppOtpFailure, status?: number) => {
      if (error) throw error;
      if (!user) {
        const failure = info as WhatsAppOtpFailure | undefined;
        if (failure?.code === 'unauthenticated') return redirect(ctx, '/login');
        if (failure && CLOSED.has(failure.code)) delete state(ctx).loginChallenge;
        return sendPage(ctx, views.loginCodePage({ challenge: state(ctx).loginChallenge, error: describe(failure) }), status ?? 400);
      }
      const { claims } = info as WhatsAppOtpSuccess;
      // ctx.login regenerates the session id (Passport >= 0.6); the pending state goes first.
      clearSession(ctx);
      await ctx.login(user);
      Object.assign(state(ctx), { signedInAt: claims.auth_time, amr: claims.amr });
      redirect(ctx, '/account');
    })(ctx, next));

  routes.post('/logout', async (ctx) => {
    clearSession(ctx);
    await ctx.logout();
    redirect(ctx, '/');
  });

  return { auth, routes };
}
