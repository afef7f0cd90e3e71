import jwt from 'jsonwebtoken';
import { randomId } from '../lib/random.js';
import type { StepUpRejectionReason, TokenErrorClass } from './errors.js';
import type { TokenConfig } from './config.js';
import type { StepUpClaims } from './types.js';

export function newTokenId(): string {
  return randomId();
}

export function signToken(config: TokenConfig, claims: StepUpClaims): string {
  return jwt.sign(claims, config.signing.key, {
    algorithm: config.signing.algorithm,
    keyid: config.keyId,
    header: { alg: config.signing.algorithm, typ: config.type },
  });
}

export class TokenRejection extends Error {
  constructor(
    readonly reason: StepUpRejectionReason,
    readonly errorClass: TokenErrorClass,
  ) {
    super(reason);
  }
}

const REQUIRED_STRINGS = ['iss', 'aud', 'sub', 'jti', 'acr', 'purpose', 'cid', 'chn'] as const;
const REQUIRED_NUMBERS = ['iat', 'exp', 'auth_time'] as const;

/**
 * Signature, pinned algorithm per `kid`, issuer, audience, expiry, `typ`, and the
 * presence and type of every claim. jsonwebtoken checks neither `typ` nor that `exp`
 * exists, so both are checked here. Nothing of the token is read before this passes.
 */
export function verifySignedToken(config: TokenConfig, token: string, nowMs: number): StepUpClaims {
  if (token.length > 4096 || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) {
    throw new TokenRejection('invalid', 'invalid_token');
  }
  // With a key function jsonwebtoken wants a callback; it calls it before returning when the
  // function answers at once, as this one does. Anything else leaves `decoded` unset: refused.
  let decoded: jwt.Jwt | undefined;
  let failure: unknown;
  jwt.verify(token, (header, provide) => {
    const entry = header.kid === undefined ? undefined : config.verification.get(header.kid);
    // One algorithm per key: a token may not pick another (RS256 for an ES256 key, HS256 with a public key).
    if (!entry || entry.algorithm !== header.alg) return provide(new Error('unknown key'));
    provide(null, entry.key as unknown as jwt.Secret);
  }, {
    complete: true,
    algorithms: config.algorithms,
    issuer: config.issuer,
    audience: config.audience,
    clockTolerance: config.clockToleranceSec,
    clockTimestamp: Math.floor(nowMs / 1000),
  }, (error, result) => {
    failure = error;
    decoded = result as unknown as jwt.Jwt | undefined;
  });
  if (failure !== null || decoded === undefined) {
    throw new TokenRejection(failure instanceof jwt.TokenExpiredError ? 'expired' : 'invalid', 'invalid_token');
  }
  const typ = typeof decoded.header.typ === 'string' ? decoded.header.typ.toLowerCase().replace(/^application\//, '') : '';
  if (typ !== config.type.toLowerCase()) throw new TokenRejection('invalid', 'invalid_token');
  // RFC 7515 §4.1.11: a JWS whose `crit` names extensions the recipient does not understand is invalid; we understand none.
  if ((decoded.header as { crit?: unknown }).crit !== undefined) throw new TokenRejection('invalid', 'invalid_token');
  const payload = decoded.payload;
  if (typeof payload !== 'object' || payload === null) throw new TokenRejection('invalid', 'invalid_token');
  const claims = payload as Record<string, unknown>;
  for (const name of REQUIRED_STRINGS) {
    if (typeof claims[name] !== 'string' || claims[name] === '') throw new TokenRejection('invalid', 'invalid_token');
  }
  for (const name of REQUIRED_NUMBERS) {
    if (typeof claims[name] !== 'number' || !Number.isFinite(claims[name])) throw new TokenRejection('invalid', 'invalid_token');
  }
  // jsonwebtoken reads `iat` only for its maxAge option: a token issued in the future (beyond the
  // tolerance) is not yet valid, as with `nbf`, or its exp could outlive the purpose's lifetime.
  if ((claims.iat as number) > Math.floor(nowMs / 1000) + config.clockToleranceSec) throw new TokenRejection('invalid', 'invalid_token');
  if (!Array.isArray(claims.amr) || claims.amr.length === 0 || claims.amr.some((value) => typeof value !== 'string')) {
    throw new TokenRejection('invalid', 'invalid_token');
  }
  for (const name of ['txn', 'sbh'] as const) {
    if (claims[name] !== undefined && (typeof claims[name] !== 'string' || claims[name] === '')) throw new TokenRejection('invalid', 'invalid_token');
  }
  return claims as unknown as StepUpClaims;
}
