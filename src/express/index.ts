import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import type { StepUp } from '../core/stepup.js';
import type { StepUpClaims } from '../core/types.js';
import { headersOf } from '../http/body.js';
import { createChallengeRouter, type ChallengeRouterOptions } from '../http/challenges.js';
import { createGuard, type GuardOptions } from '../http/guard.js';
import { bodyText, type HttpResponse } from '../http/responses.js';

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
  // Node's own calls: res.send would hash every body for an ETag that a no-store answer never uses.
  res.statusCode = answer.status;
  for (const name in answer.headers) res.setHeader(name, answer.headers[name]!);
  res.end(bodyText(answer));
}

/**
 * The challenge routes of DESIGN §4: `POST /challenges`, `POST /challenges/:id/resend`,
 * `POST /challenges/:id/verify`. Mount it under a prefix of your choice.
 *
 * @example
 * app.use('/stepup', stepUpRouter(stepup, { resolveSubject: (req) => req.user && { id: req.user.id, phone: req.user.phone } }));
 */
export function stepUpRouter(stepup: StepUp, options: ExpressRouterOptions): Router {
  const handle = createChallengeRouter<Request>(stepup, options);
  const router = express.Router();
  router.use(async (req, res, next) => {
    const answer = await handle({ req, method: req.method, path: req.path, message: req, parsedBody: () => req.body, ip: () => req.ip });
    if (answer) send(res, answer);
    else next();
  });
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
    const outcome = await guard(req, headersOf(req.headers), req.ip);
    if (!outcome.ok) return send(res, outcome.response);
    req.stepUp = outcome.claims;
    next();
  };
}
