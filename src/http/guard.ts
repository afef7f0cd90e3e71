import { parseDuration } from '../lib/duration.js';
import { rejectUnknown } from '../lib/validate.js';
import { isStepUpError, stepUpError, type StepUpError, type StepUpRejectionReason } from '../core/errors.js';
import type { StepUp } from '../core/stepup.js';
import type { Duration, StepUpClaims, TokenFacts, TokenPolicy, Transaction } from '../core/types.js';
import { errorResponse, toHttpError, type HttpResponse, type MaybePromise } from './responses.js';

/** Where the guard reads the step-up token from. Never the query string. */
export type TokenSource<Req> = { header: string } | { cookie: string } | ((req: Req) => MaybePromise<string | undefined>);

export interface GuardOptions<Req> {
  /** The purpose whose tokens pass, such as `'payment'`. */
  purpose: string;
  /**
   * The user of the primary session; the token's `sub` must equal it. `'from-token'`
   * accepts the token's own subject: only for routes without a primary session (password reset).
   */
  subject: ((req: Req) => MaybePromise<string | undefined>) | 'from-token';
  /** Longest time since the code was verified. Sent as `max_age` in the challenge. */
  maxAge?: Duration;
  /** The transaction about to be executed, from the server's record, `id` included; required for purposes that bind one. */
  transaction?: (req: Req) => MaybePromise<Transaction>;
  /** The session binding given to the router; the token must carry its keyed hash. */
  binding?: (req: Req) => MaybePromise<string | undefined>;
  /** Consume the token at first use. Forced on for one-time purposes. */
  oneTime?: boolean;
  /** Accepted `acr` values (exact match), sent as `acr_values`. */
  acrValues?: string[];
  /** Refuse tokens whose `amr` holds any of these, such as `['sms']`. */
  denyAmr?: string[];
  /** Default `{ header: 'Step-Up-Token' }`. */
  token?: TokenSource<Req>;
  /** Authentication scheme of the `WWW-Authenticate` challenge. Default `'Bearer'`; for cookie apps for example `'StepUp'`. */
  scheme?: string;
  /** URL where a client starts a challenge, given in the refusal's body. */
  challengeEndpoint?: string;
  /**
   * The app's durable final gate, run after every check passed (SECURITY-REQUIREMENTS R-L4):
   * for example insert `claims.jti` under a unique constraint. Return `false` to refuse the
   * token as `replayed`; a throw answers 500. Redis can lose a consumed `jti` on failover; a
   * database with a unique constraint cannot.
   */
  onExecute?: (claims: StepUpClaims, req: Req) => MaybePromise<boolean | void>;
  /** Called with unexpected errors (the client only sees a bare 500). Default: console.error. */
  onError?: (error: unknown) => void;
}

export type GuardOutcome = { ok: true; claims: StepUpClaims } | { ok: false; response: HttpResponse };

/** Reads request headers, lower-case names. */
export type HeaderReader = (name: string) => string | undefined;

const TOKEN_CHARS = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Quoted-string content without quote, backslash or controls (RFC 9110 §5.6.4): safe to emit as-is.
const QUOTABLE = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const GUARD_OPTIONS = ['purpose', 'subject', 'maxAge', 'transaction', 'binding', 'oneTime', 'acrValues', 'denyAmr', 'token', 'scheme', 'challengeEndpoint', 'onExecute', 'onError'];

const DESCRIPTIONS: Record<StepUpRejectionReason, string> = {
  missing: 'A step-up token is required',
  invalid: 'The step-up token is not valid',
  expired: 'The step-up token has expired',
  wrong_purpose: 'The step-up token is for another purpose',
  wrong_subject: 'The step-up token is for another user',
  wrong_session: 'The step-up token belongs to another session',
  wrong_method: 'A different authentication method is required',
  transaction_mismatch: 'The step-up token approves another transaction',
  replayed: 'The step-up token was already used',
  too_old: 'A more recent authentication is required',
};

/**
 * The guard of DESIGN §5, framework-neutral. Everything is validated here, at
 * construction: a guard that cannot enforce its purpose's policy does not start.
 */
export function createGuard<Req>(stepup: StepUp, options: GuardOptions<Req>) {
  if (!stepup || typeof stepup.tokenCheck !== 'function') throw new TypeError('requireStepUp needs the service from createStepUp(...) as its first argument.');
  if (!options || typeof options !== 'object') throw new TypeError("requireStepUp needs options: { purpose: 'payment', subject: (req) => req.user.id }.");
  rejectUnknown(options, GUARD_OPTIONS, 'requireStepUp');
  const policy = stepup.purpose(options.purpose);
  if (!policy) throw new TypeError(`requireStepUp: unknown purpose ${JSON.stringify(options.purpose)}; configure it in createStepUp({ purposes }).`);
  if (options.subject !== 'from-token' && typeof options.subject !== 'function') {
    throw new TypeError("requireStepUp needs `subject: (req) => req.user.id` (the token must belong to the signed-in user), or 'from-token' for routes without a session.");
  }
  if (policy.requireTransaction && typeof options.transaction !== 'function') {
    throw new TypeError(`requireStepUp: purpose '${policy.name}' binds a transaction; pass transaction: (req) => the record about to be executed.`);
  }
  if (policy.oneTime && options.oneTime === false) throw new TypeError(`requireStepUp: tokens of purpose '${policy.name}' are one-time; oneTime cannot be false.`);
  for (const name of ['transaction', 'binding', 'onExecute', 'onError'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') throw new TypeError(`requireStepUp: \`${name}\` must be a function.`);
  }
  const maxAge = options.maxAge === undefined ? undefined : Math.floor(parseDuration(options.maxAge, 'maxAge'));
  const scheme = options.scheme ?? 'Bearer';
  if (typeof scheme !== 'string' || !TOKEN_CHARS.test(scheme)) throw new TypeError(`requireStepUp: \`scheme\` must be an HTTP token such as 'Bearer' or 'StepUp'.`);
  for (const name of ['acrValues', 'denyAmr'] as const) {
    const values = options[name];
    if (values !== undefined && (!Array.isArray(values) || values.length === 0 || values.some((value) => typeof value !== 'string' || !QUOTABLE.test(value)))) {
      throw new TypeError(`requireStepUp: \`${name}\` must be a non-empty array of strings without spaces, quotes, backslashes or line breaks.`);
    }
  }
  if (options.challengeEndpoint !== undefined && (typeof options.challengeEndpoint !== 'string' || !/^[\x21-\x7E]+$/.test(options.challengeEndpoint))) {
    throw new TypeError('requireStepUp: `challengeEndpoint` must be a URL or path without spaces.');
  }
  const readToken = tokenReader(options.token ?? { header: 'Step-Up-Token' });
  const report = options.onError ?? ((error: unknown) => console.error('[whatsapp-stepup] unexpected error in guard', error));

  const refusal = (error: StepUpError): HttpResponse => {
    const reason = error.details.reason ?? 'invalid';
    const errorClass = error.details.errorClass ?? 'insufficient_user_authentication';
    const params = [`error="${errorClass}"`, `error_description="${DESCRIPTIONS[reason]}"`];
    if (errorClass === 'insufficient_user_authentication') {
      if (options.acrValues) params.push(`acr_values="${options.acrValues.join(' ')}"`);
      if (maxAge !== undefined) params.push(`max_age="${maxAge}"`);
    }
    const problem = {
      type: 'urn:whatsapp-stepup:error:step_up_required',
      title: 'Step-up authentication required',
      status: 401,
      detail: DESCRIPTIONS[reason],
      error: { code: 'step_up_required', message: error.message, purpose: policy.name, reason, ...(maxAge === undefined ? {} : { maxAge }) },
      ...(options.acrValues ? { acr_values: options.acrValues.join(' ') } : {}),
      ...(maxAge === undefined ? {} : { max_age: maxAge }),
      ...(options.challengeEndpoint ? { challenge_endpoint: options.challengeEndpoint } : {}),
    };
    return {
      status: 401,
      headers: { 'Cache-Control': 'no-store', 'Content-Type': 'application/problem+json; charset=utf-8', 'WWW-Authenticate': `${scheme} ${params.join(', ')}` },
      body: problem,
    };
  };

  // The route's policy is checked once, here; each request only brings its facts.
  const policyInput: TokenPolicy = { purpose: policy.name };
  if (maxAge !== undefined) policyInput.maxAge = maxAge;
  if (options.oneTime !== undefined) policyInput.oneTime = options.oneTime;
  if (options.acrValues) policyInput.acrValues = options.acrValues;
  if (options.denyAmr) policyInput.denyAmr = options.denyAmr;
  const check = stepup.tokenCheck(policyInput);
  const subjectOf = typeof options.subject === 'function' ? options.subject : undefined;
  const { binding: bindingOf, transaction: transactionOf } = options;

  return async (req: Req, headers: HeaderReader, ip?: string): Promise<GuardOutcome> => {
    try {
      const token = await readToken(req, headers);
      // One shape for every request (absent facts stay undefined).
      const facts: TokenFacts = { subject: undefined, binding: undefined, transaction: undefined, ip };
      // A missing token is refused before any app callback runs: nothing to compare yet.
      if (token !== undefined) {
        // No user on the request: no token can belong to it.
        if (subjectOf) facts.subject = (await subjectOf(req)) ?? '\u0000';
        if (bindingOf) facts.binding = (await bindingOf(req)) ?? '\u0000';
        if (transactionOf) facts.transaction = await transactionOf(req);
      }
      const claims = await check(token, facts);
      if (options.onExecute && (await options.onExecute(claims, req)) === false) {
        return { ok: false, response: refusal(stepUpError('step_up_required', { reason: 'replayed', errorClass: 'insufficient_user_authentication' })) };
      }
      return { ok: true, claims };
    } catch (error) {
      if (isStepUpError(error) && error.code === 'step_up_required') return { ok: false, response: refusal(error) };
      if (isStepUpError(error)) return { ok: false, response: errorResponse(error) };
      report(error);
      return { ok: false, response: toHttpError(error) };
    }
  };
}

function tokenReader<Req>(source: TokenSource<Req>): (req: Req, headers: HeaderReader) => MaybePromise<string | undefined> {
  if (typeof source === 'function') return async (req) => normalizeToken(await source(req));
  if (source && typeof source === 'object' && 'header' in source && typeof source.header === 'string' && TOKEN_CHARS.test(source.header)) {
    const name = source.header.toLowerCase();
    if (name === 'authorization') return (_, headers) => normalizeToken(headers('authorization')?.replace(/^Bearer\s+/i, ''));
    return (_, headers) => normalizeToken(headers(name));
  }
  if (source && typeof source === 'object' && 'cookie' in source && typeof source.cookie === 'string' && TOKEN_CHARS.test(source.cookie)) {
    const name = source.cookie;
    return (_, headers) => normalizeToken(readCookie(headers('cookie'), name));
  }
  throw new TypeError("requireStepUp: `token` must be { header: 'Step-Up-Token' }, { cookie: 'stepup' } or a function (req) => token.");
}

function normalizeToken(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const token = value.trim();
  return token === '' ? undefined : token;
}

function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim() === name) {
      try {
        return decodeURIComponent(part.slice(index + 1).trim().replace(/^"(.*)"$/, '$1'));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
