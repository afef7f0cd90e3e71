/**
 * Sign-in in two steps with Passport: the password (passport-local) makes the user
 * *pending*; a WhatsApp code (WhatsAppOtpStrategy) then signs them in.
 */
import express from 'express';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { isStepUpError, type StepUp, type StepUpErrorCode } from '../../src/index.js';
import { WhatsAppOtpStrategy, type WhatsAppOtpFailure, type WhatsAppOtpSuccess } from '../../src/passport/index.js';
import { currentUser, describe, state } from './session.js';
import type { DemoUser, UserDirectory } from './users.js';
import * as views from './views.js';

/** How long the password step counts while the code is outstanding. */
const PENDING_LOGIN_MS = 10 * 60_000;
/** Failures after which a challenge cannot be used any more: the page offers a new code. */
const CLOSED: ReadonlySet<StepUpErrorCode> = new Set(['challenge_not_found', 'challenge_expired', 'too_many_attempts']);

export function createSignIn(stepup: StepUp, users: UserDirectory) {
  const pendingUser = (req: express.Request): DemoUser | undefined => {
    const { pendingUserId, pendingSince = 0 } = state(req);
    return Date.now() - pendingSince < PENDING_LOGIN_MS ? users.byId(pendingUserId) : undefined;
  };

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
    // Only login challenges complete this step (the strategy's `purpose`, 'login' by default):
    // the code of a password reset or a payment of the same user and session signs nobody in.
    verify: (claims, done) => done(null, users.byId(claims.sub) ?? false),
  }));

  const routes = express.Router();

  // ---- Step 1: the password. The user becomes *pending*, not signed in. ----
  const loginPage = (error?: string, username?: string) => views.loginPage(error, username, { passwordReset: true });
  routes.get('/login', (req, res) => (currentUser(req) ? res.redirect(303, '/account') : views.sendPage(res, loginPage())));

  routes.post('/login', (req, res, next) => {
    auth.authenticate('local', (error: unknown, user: DemoUser | false) => {
      if (error) return next(error);
      if (!user) return views.sendPage(res, loginPage('Wrong username or password.', String(req.body?.username ?? '')), 401);
      // A new session id for the new privilege level, then remember who still owes the code.
      req.session.regenerate((regenerateError) => {
        if (regenerateError) return next(regenerateError);
        Object.assign(state(req), { pendingUserId: user.id, pendingSince: Date.now() });
        res.redirect(303, '/login/code');
      });
    })(req, res, next);
  });

  // ---- Step 2: the code, bound to this session, with 'pwd' as the other factor (amr gets 'mfa'). ----
  routes.get('/login/code', async (req, res) => {
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

  routes.post('/login/code/resend', async (req, res) => {
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

  // The form posts { challengeId, code }; the strategy verifies them for the pending user and this session.
  routes.post('/login/code', (req, res, next) => {
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

  routes.post('/logout', (req, res, next) => req.logout((error) => (error ? next(error) : res.redirect(303, '/'))));

  return { auth, routes };
}
