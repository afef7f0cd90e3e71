import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import { stepUpError } from '../core/errors.js';
import type { StepUp } from '../core/stepup.js';
import type { StepUpClaims } from '../core/types.js';
import { createChallengeHandlers, type ChallengeRouterOptions } from '../http/challenges.js';
import { createGuard, type GuardOptions } from '../http/guard.js';
import { errorResponse, type HttpResponse } from '../http/responses.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Claims of the step-up token that `requireStepUp` accepted. */
      stepUp?: StepUpClaims;
    }
  }
}

export type ExpressRouterOptions = ChallengeRouterOptions<Request>;
export type ExpressGuardOptions = GuardOptions<Request>;
export type { ResolvedSubject } from '../http/challenges.js';
export type { TokenSource } from '../http/guard.js';

function send(res: Response, answer: HttpResponse): void {
  res.status(answer.status).set(answer.headers).send(JSON.stringify(answer.body));
}

/**
 * The challenge routes of DESIGN §4: `POST /challenges`, `POST /challenges/:id/resend`,
 * `POST /challenges/:id/verify`. Mount it under a prefix of your choice.
 *
 * @example
 * app.use('/stepup', stepUpRouter(stepup, { resolveSubject: (req) => req.user && { id: req.user.id, phone: req.user.phone } }));
 */
export function stepUpRouter(stepup: StepUp, options: ExpressRouterOptions): Router {
  const handlers = createChallengeHandlers<Request>(stepup, options);
  const router = express.Router();
  router.use(express.json({ limit: options.bodyLimit ?? '8kb', strict: true }));
  const facts = (req: Request) => ({ body: req.body, ip: req.ip });
  router.post('/challenges', async (req, res) => send(res, await handlers.start(req, facts(req))));
  router.post('/challenges/:id/resend', async (req, res) => send(res, await handlers.resend(req, String(req.params.id), facts(req))));
  router.post('/challenges/:id/verify', async (req, res) => send(res, await handlers.verify(req, String(req.params.id), facts(req))));
  // Body-parser failures (malformed JSON, too large) answer in the same JSON error shape. Express
  // decodes `:id` before any handler runs and fails with a URIError on bad percent-encoding: such
  // an id names no challenge, as any other malformed id.
  router.use((error: unknown, _req: Request, res: Response, _next: NextFunction) =>
    send(res, error instanceof URIError ? errorResponse(stepUpError('challenge_not_found')) : handlers.error(error)));
  return router;
}

/**
 * The guard of DESIGN §5: passes only with a step-up token that satisfies the route's
 * policy, and puts its claims at `req.stepUp`; otherwise answers 401 with an RFC 9470
 * `WWW-Authenticate` challenge.
 *
 * @example
 * app.post('/payments', requireStepUp(stepup, { purpose: 'payment', subject: (req) => req.user.id, transaction: (req) => req.payment }), pay);
 */
export function requireStepUp(stepup: StepUp, options: ExpressGuardOptions): RequestHandler {
  const guard = createGuard<Request>(stepup, options);
  return async (req, res, next) => {
    const outcome = await guard(req, (name) => req.get(name), req.ip);
    if (!outcome.ok) return send(res, outcome.response);
    req.stepUp = outcome.claims;
    next();
  };
}
