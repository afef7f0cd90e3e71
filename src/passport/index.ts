import { Strategy as CustomStrategy } from 'passport-custom';
import type { Request } from 'express';
import { isStepUpError, stepUpError, type StepUpErrorCode } from '../core/errors.js';
import type { StepUp } from '../core/stepup.js';
import type { StepUpClaims } from '../core/types.js';
import type { MaybePromise } from '../http/responses.js';

/** What the strategy passes to `fail`: the error's stable code and a message safe to show. */
export interface WhatsAppOtpFailure {
  code: StepUpErrorCode;
  message: string;
  attemptsLeft?: number;
  retryAfter?: number;
}

/** What the strategy passes to `success` as `info`: the step-up token for the client or session. */
export interface WhatsAppOtpSuccess {
  token: string;
  tokenType: 'step-up';
  expiresIn: number;
  purpose: string;
  claims: StepUpClaims;
}

/** The actions passport-strategy gives every strategy at run time. */
interface PassportActions {
  success(user: unknown, info?: unknown): void;
  fail(challenge: unknown, status?: number): void;
  error(error: unknown): void;
}

export type VerifyDone<User> = (error: unknown, user?: User | false, info?: { message?: string }) => void;

/**
 * `Req` is the request your callbacks receive: Express's by default; with koa-passport,
 * `KoaPassportRequest` from `whatsapp-stepup/koa` (the strategy only reads `body` and `ip`,
 * which both give it).
 */
export interface WhatsAppOtpStrategyOptions<User, Req = Request> {
  /** Strategy name for `passport.authenticate(name)`. Default `'whatsapp-otp'`. */
  name?: string;
  /** The user the pending login belongs to (for example set in the session by the password step). */
  resolveSubject: (req: Req) => MaybePromise<string | { id: string } | null | undefined>;
  /** The same session binding that started the challenge. */
  binding?: (req: Req) => MaybePromise<string | undefined>;
  /**
   * The purposes whose challenges complete this step. Default `'login'`: a code sent for a
   * password reset or a payment never signs anyone in.
   */
  purpose?: string | string[];
  /**
   * Loads the user from the verified claims: `done(null, user)`, or `done(null, false)` to refuse.
   * Only the first call of `done` counts. Throwing, or returning a promise that rejects (an
   * `async` verify), before calling it is `error`.
   */
  verify: (claims: StepUpClaims, done: VerifyDone<User>) => void;
}

type StrategyRequest<Req> = Req & { body?: unknown; ip?: string };

/**
 * Passport strategy for the second step of a login: reads `{ challengeId, code }` from
 * the body, verifies through the core, and hands the claims to `verify` to load the user.
 * A wrong code and every other refusal go to `fail` (with the error's status); an
 * unavailable store or provider, and a resolver or `verify` that throws, go to `error`.
 *
 * Every request ends in exactly one of `success`, `fail` or `error`. The strategy never
 * catches what an action throws (your custom callback of `passport.authenticate`, say):
 * that exception is not turned into a second action but surfaces, unchanged, as an
 * unhandled rejection, as an exception in any other callback would.
 *
 * @example
 * passport.use(new WhatsAppOtpStrategy(stepup, {
 *   resolveSubject: (req) => req.session.pendingUserId,
 *   verify: (claims, done) => users.find(claims.sub).then((user) => done(null, user), done),
 * }));
 * app.post('/login/code', passport.authenticate('whatsapp-otp', { failureRedirect: '/login/code' }), ...);
 */
export class WhatsAppOtpStrategy<User = unknown, Req = Request> extends CustomStrategy {
  constructor(stepup: StepUp, options: WhatsAppOtpStrategyOptions<User, Req>) {
    if (!stepup || typeof stepup.verify !== 'function') throw new TypeError('WhatsAppOtpStrategy needs the service from createStepUp(...) as its first argument.');
    if (!options || typeof options.resolveSubject !== 'function') {
      throw new TypeError('WhatsAppOtpStrategy needs `resolveSubject: (req) => userId` (the user whose password step passed).');
    }
    if (typeof options.verify !== 'function') throw new TypeError('WhatsAppOtpStrategy needs `verify: (claims, done) => done(null, user)`.');
    if (options.binding !== undefined && typeof options.binding !== 'function') throw new TypeError('WhatsAppOtpStrategy: `binding` must be a function.');
    for (const purpose of [options.purpose ?? 'login'].flat()) {
      if (typeof purpose !== 'string' || (typeof stepup.purpose === 'function' && !stepup.purpose(purpose))) {
        throw new TypeError(`WhatsAppOtpStrategy: \`purpose\` names ${JSON.stringify(purpose)}, which createStepUp does not know; the default is 'login'.`);
      }
    }
    // A function, not an arrow: passport runs each request on Object.create(strategy) with
    // fail/success/error attached to that copy, and passport-custom calls this._verify on it,
    // so `this` here is the per-request copy (the constructed instance has no `fail`).
    super(function (this: PassportActions, request) {
      // Left unhandled on purpose: what an action throws must reach the app, not a second action.
      void verifyCode(stepup, options, request as unknown as StrategyRequest<Req>).then(
        (info) => loadUser(options.verify, info, this),
        (error: unknown) => refuse(error, this),
      );
    });
    (this as { name: string }).name = options.name ?? 'whatsapp-otp';
  }
}

/** The core's verification of the body's code; rejects with every refusal, calls no action. */
async function verifyCode<User, Req>(stepup: StepUp, options: WhatsAppOtpStrategyOptions<User, Req>, req: StrategyRequest<Req>): Promise<WhatsAppOtpSuccess> {
  const { challengeId, code } = (req.body ?? {}) as Record<string, unknown>;
  if (typeof challengeId !== 'string' || typeof code !== 'string') {
    throw stepUpError('invalid_request', {}, 'Send the challengeId and the code.');
  }
  const resolved = await options.resolveSubject(req);
  const subject = typeof resolved === 'string' ? resolved : resolved?.id;
  if (!subject) throw stepUpError('unauthenticated', {}, 'Sign in with your password first.');
  const binding = options.binding ? await options.binding(req) : undefined;
  const result = await stepup.verify(challengeId, code, {
    subject, purpose: options.purpose ?? 'login', ...(binding === undefined ? {} : { binding }), ...(req.ip ? { ip: req.ip } : {}),
  });
  return { token: result.token, tokenType: 'step-up', expiresIn: result.expiresIn, purpose: result.claims.purpose, claims: result.claims };
}

/** A refusal (the user's fault, 4xx) is `fail` with its status; anything else is `error`. */
function refuse(error: unknown, actions: PassportActions): void {
  if (!isStepUpError(error) || error.status >= 500) return actions.error(error);
  const { reason: _reason, ...details } = error.details as Record<string, unknown>;
  const failure: WhatsAppOtpFailure = { code: error.code, message: error.message, ...details };
  // Strategy#fail carries the status (400, 401, 404, 410, 429); passport-custom's done() cannot.
  actions.fail(failure, error.status);
}

/**
 * Runs the app's `verify` with a `done` that acts once. What `verify` throws or rejects with
 * before `done` is `error`; after `done` it may be what the action threw, so it propagates.
 */
function loadUser<User>(verify: WhatsAppOtpStrategyOptions<User, unknown>['verify'], info: WhatsAppOtpSuccess, actions: PassportActions): void {
  let settled = false;
  const act = (action: () => void): void => {
    if (settled) return;
    settled = true;
    action();
  };
  const done: VerifyDone<User> = (error, user, failure) =>
    act(() => (error ? actions.error(error) : user ? actions.success(user, info) : actions.fail(failure)));
  const escaped = (error: unknown): void => {
    if (settled) throw error;
    act(() => actions.error(error));
  };
  let returned: unknown;
  try {
    returned = verify(info.claims, done);
  } catch (error) {
    return escaped(error);
  }
  if (isPromiseLike(returned)) void returned.then(undefined, escaped);
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
