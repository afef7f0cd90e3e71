/**
 * Password reset without account enumeration (issue #4), in three JSON steps driven by
 * the page at GET /password-reset:
 *
 *   POST /password-reset/request { account }  always 202 and the same bytes; the lookup and
 *                                             the send happen after the response
 *   POST /password-reset/verify  { code }     one generic failure for every refusal, answered
 *                                             at once: it never waits for the request's send
 *   POST /password-reset/new     { password } requireStepUp with the one-time token kept
 *                                             in the session; then the other reset challenges
 *                                             and the other sessions of the account end, this
 *                                             session is regenerated, and nobody is signed in
 */
import { randomBytes, randomInt } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { MemoryStore } from 'express-session';
import { isStepUpError, type StepUp } from '../../src/index.js';
import { requireStepUp } from '../../src/express/index.js';
import { ResetBook } from './reset-book.js';
import { currentUser, endSessionsOf, state } from './session.js';
import type { UserDirectory } from './users.js';
import * as views from './views.js';

/** The answer to every reset request, known account or not: one constant string, so the bytes are the same. */
export const RESET_ACCEPTED = JSON.stringify({
  status: 'accepted',
  message: 'If the username or number belongs to an account, we sent a code by WhatsApp to the phone number on file.',
});

/** The answer to every refused code: wrong, expired, locked, cancelled, or no account at all. */
export const RESET_REFUSED = JSON.stringify({
  error: { code: 'reset_refused', message: 'That code did not work. Check it, or start over to get a new one.' },
});

const PASSWORD_LENGTH = { min: 10, max: 128 };
/**
 * The background start begins at a random moment up to this long after the answer. Its work
 * (the lookup, the store, the provider request) shares this process with every other request:
 * begun at once, it would slow down exactly the requester's next request (the code step), and
 * only for an account that exists. A code arrives this much later at most.
 */
const START_JITTER_MS = 250;
/** Subject of the stand-in verify for a handle without a challenge; no account has it. */
const NOBODY = 'nobody';

export interface PasswordResetRoutes {
  routes: express.Router;
  /**
   * Resolves once the background work of every reset request so far (the lookup, the start,
   * the send) has finished. For tests and the bench, which read a code from the outbox the
   * moment it is there: a person cannot type it before its start has recorded the challenge.
   */
  settled(): Promise<void>;
}

export function passwordResetRoutes(stepup: StepUp, users: UserDirectory, sessions: MemoryStore): PasswordResetRoutes {
  const resets = new ResetBook(); // the demo's "database" of outstanding resets
  const running = new Set<Promise<void>>();
  const routes = express.Router();
  const json = express.json({ limit: '2kb' });
  const send = (res: Response, status: number, body: string) => res.status(status).set('Cache-Control', 'no-store').type('json').send(body);

  routes.get('/password-reset', (req, res) => {
    const reset = state(req).passwordReset;
    const step = !reset ? 'request' : 'token' in reset ? 'password' : 'code';
    views.sendPage(res, views.passwordResetPage(currentUser(req), step));
  });

  // ---- 1. The request: the same answer for every input, the work after the response. ----
  routes.post('/password-reset/request', json, (req, res) => {
    const account: unknown = req.body?.account;
    const handle = randomBytes(16).toString('base64url');
    state(req).passwordReset = { handle };
    const binding = req.sessionID;
    const ip = req.ip;
    send(res, 202, RESET_ACCEPTED);
    // Once the answer is out, at a random moment: look the account up and, only if it exists, send the code.
    const started = new Promise<void>((resolve) => {
      res.once('close', () => setTimeout(() => void startReset(handle, account, binding, ip).finally(resolve), randomInt(START_JITTER_MS)));
    });
    running.add(started);
    void started.then(() => running.delete(started));
  });

  async function startReset(handle: string, account: unknown, binding: string, ip: string | undefined): Promise<void> {
    const user = users.find(account);
    if (!user) return; // nothing sent, nothing stored
    try {
      const challenge = await stepup.start({
        subject: user.id, phone: user.phone, purpose: 'password-reset', binding, ...(ip === undefined ? {} : { ip }),
      });
      resets.add(handle, user.id, challenge);
    } catch (error) {
      // Nobody waits for this answer: the operator hears of it, the requester cannot tell.
      console.error('[demo] password reset: no code sent:', isStepUpError(error) ? error.code : error);
    }
  }

  // ---- 2. The code: every refusal is the same answer, in the same time. ----
  routes.post('/password-reset/verify', json, async (req, res) => {
    const reset = state(req).passwordReset;
    const handle = reset && 'handle' in reset ? reset.handle : undefined;
    // Never waits for the request's background start: how long that takes is the send's
    // latency, and only a known account has one. Until the start has recorded its challenge
    // (after the provider took the message), a code is answered as for an unknown account and
    // costs the real challenge no attempt: nobody can have the code before it went out, and
    // one typed in the moment between its arrival and the record can simply be typed again.
    const pending = resets.find(handle);
    try {
      // Without a challenge (unknown account, or a start still sending), a verify of one that
      // does not exist: the same kind of store round trip, so the time does not tell either.
      const result = await stepup.verify(pending?.challengeId ?? randomBytes(16).toString('base64url'), req.body?.code, {
        subject: pending?.userId ?? NOBODY, binding: req.sessionID, ...(req.ip === undefined ? {} : { ip: req.ip }),
      });
      resets.forget(handle!);
      state(req).passwordReset = { token: result.token };
      res.set('Cache-Control', 'no-store').json({ status: 'verified' });
    } catch (error) {
      if (!isStepUpError(error) || error.status >= 500) console.error('[demo] password reset: verify failed:', isStepUpError(error) ? error.code : error);
      send(res, 400, RESET_REFUSED);
    }
  });

  // ---- 3. The new password: only with the session's one-time reset token. ----
  routes.post(
    '/password-reset/new',
    json,
    // Checked before the guard, which consumes the token: a too-short password can be retried.
    (req, res, next) => {
      const password: unknown = req.body?.password;
      const length = typeof password === 'string' ? [...password].length : 0;
      if (length >= PASSWORD_LENGTH.min && length <= PASSWORD_LENGTH.max) return next();
      res.status(400).set('Cache-Control', 'no-store').json({
        error: { code: 'invalid_password', message: `Choose a password of ${PASSWORD_LENGTH.min} to ${PASSWORD_LENGTH.max} characters.` },
      });
    },
    requireStepUp(stepup, {
      purpose: 'password-reset',
      oneTime: true,
      maxAge: '10m',
      // No primary session here: the token's own subject is the account.
      subject: 'from-token',
      binding: (req) => req.sessionID,
      token: (req) => {
        const reset = state(req).passwordReset;
        return reset && 'token' in reset ? reset.token : undefined;
      },
    }),
    async (req, res, next) => {
      const userId = req.stepUp!.sub;
      if (!(await users.setPassword(userId, req.body.password as string))) return next(new Error('password reset: the account is gone'));
      await resets.cancelAll(stepup, userId);
      await endSessionsOf(sessions, userId);
      // The reset state and everything else of this session end here; the user signs in anew (password AND code).
      req.session.regenerate((error) => {
        if (error) return next(error);
        res.set('Cache-Control', 'no-store').json({ status: 'reset', next: '/login' });
      });
    },
  );

  // A body that is not JSON (or too large): a plain 400, whatever the account.
  routes.use('/password-reset', (error: unknown, _req: Request, res: Response, next: NextFunction) => {
    const status = (error as { status?: unknown } | null)?.status;
    if (typeof status !== 'number' || status < 400 || status >= 500) return next(error);
    res.status(400).set('Cache-Control', 'no-store').json({ error: { code: 'invalid_request', message: 'Send a JSON body.' } });
  });

  return {
    routes,
    settled: async () => {
      while (running.size > 0) await Promise.all(running);
    },
  };
}
