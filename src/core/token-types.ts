import type { Duration } from '../lib/duration.js';
import type { Transaction } from './transaction.js';

/** Claims of a step-up token (DESIGN §6). */
export interface StepUpClaims {
  iss: string;
  aud: string;
  sub: string;
  iat: number;
  exp: number;
  auth_time: number;
  jti: string;
  acr: string;
  amr: string[];
  purpose: string;
  cid: string;
  chn: string;
  txn?: string;
  sbh?: string;
}

export interface VerifyResult {
  token: string;
  claims: StepUpClaims;
  /** Seconds until the token expires. */
  expiresIn: number;
}

/** What a route demands of a step-up token: fixed for the life of a guard. */
export interface TokenPolicy {
  purpose: string;
  /** Longest accepted time since the code was verified. */
  maxAge?: Duration;
  /** Consume the token's `jti` so that it passes once. Forced on for one-time purposes. */
  oneTime?: boolean;
  /** Accepted `acr` values, by exact match. */
  acrValues?: string[];
  /** Refuse tokens whose `amr` holds any of these (for example `['sms']`). */
  denyAmr?: string[];
}

/** What one request brings to the check of its token. */
export interface TokenFacts {
  /** The subject of the primary session; the token's `sub` must equal it. */
  subject?: string | undefined;
  /** The transaction about to be executed, `id` included; the token's `txn` must be its hash. */
  transaction?: Transaction | undefined;
  /** The session binding; the token's `sbh` must be its keyed hash. */
  binding?: string | undefined;
  /** The client's address, for the `token.*` events. */
  ip?: string | undefined;
}

export interface CheckTokenInput extends TokenPolicy, TokenFacts {}
