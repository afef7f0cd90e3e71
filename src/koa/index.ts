import type { Context, Middleware, Request as KoaRequest } from 'koa';
import type { StepUp } from '../core/stepup.js';
import type { StepUpClaims } from '../core/types.js';
import { headersOf } from '../http/body.js';
import { createChallengeRouter, type ChallengeRouterOptions } from '../http/challenges.js';
import { createGuard, type GuardOptions } from '../http/guard.js';
import { bodyText, type HttpResponse } from '../http/responses.js';

export type KoaRouterOptions = ChallengeRouterOptions<Context>;
export type KoaGuardOptions = GuardOptions<Context>;
export type { ResolvedSubject } from '../http/challenges.js';
export type { TokenSource } from '../http/guard.js';

/** What `requireStepUp` adds to `ctx.state`. */
export interface StepUpState {
  /** Claims of the step-up token that `requireStepUp` accepted. */
  stepUp: StepUpClaims;
}

/**
 * The `req` that koa-passport hands a strategy (give it to `WhatsAppOtpStrategy` as its
 * second type argument): Koa's request with its `body` and its `ctx` (`req.ctx.session`, `req.ctx.state`).
 */
export type KoaPassportRequest = KoaRequest & { ctx: Context; body?: unknown };

function send(ctx: Context, answer: HttpResponse): void {
  ctx.status = answer.status;
  ctx.set(answer.headers);
  ctx.body = bodyText(answer);
}

/**
 * The challenge routes of DESIGN §4: `POST /challenges`, `POST /challenges/:id/resend`,
 * `POST /challenges/:id/verify`, as one Koa middleware that passes every other request on
 * with its body unread. Give it the `prefix` it sits under, or mount it with koa-mount.
 *
 * @example
 * app.use(stepUpRouter(stepup, { prefix: '/stepup', resolveSubject: (ctx) => ctx.state.user && { id: ctx.state.user.id, phone: ctx.state.user.phone } }));
 */
export function stepUpRouter(stepup: StepUp, options: KoaRouterOptions): Middleware {
  const handle = createChallengeRouter<Context>(stepup, options);
  return async (ctx, next) => {
    const answer = await handle({ req: ctx, method: ctx.method, path: ctx.path, message: ctx.req, parsedBody: () => (ctx.request as { body?: unknown }).body, ip: () => ctx.ip });
    if (answer) send(ctx, answer);
    else await next();
  };
}

/**
 * The guard of DESIGN §5: passes only with a step-up token that satisfies the route's
 * policy, and puts its claims at `ctx.state.stepUp`; otherwise answers 401 with an RFC 9470
 * `WWW-Authenticate` challenge.
 *
 * @example
 * router.post('/payments/:id/confirm', loadPayment, requireStepUp(stepup, { purpose: 'payment', subject: (ctx) => ctx.state.user.id, transaction: (ctx) => ctx.state.payment }), pay);
 */
export function requireStepUp(stepup: StepUp, options: KoaGuardOptions): Middleware<StepUpState> {
  const guard = createGuard<Context>(stepup, options);
  return async (ctx, next) => {
    const outcome = await guard(ctx as unknown as Context, headersOf(ctx.req.headers), ctx.ip);
    if (!outcome.ok) return send(ctx as unknown as Context, outcome.response);
    ctx.state.stepUp = outcome.claims;
    await next();
  };
}
