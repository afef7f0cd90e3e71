import { hashBinding, safeEqual } from './codes.js';
import { parseDuration } from './duration.js';
import { stepUpError, type StepUpError } from './errors.js';
import type { StepUpConfig, ResolvedPurpose } from './options.js';
import { TokenRejection, verifySignedToken } from './tokens.js';
import { transactionMatches } from './transaction.js';
import type { CheckTokenInput, StepUpClaims } from './types.js';

const KNOWN_INPUT = ['purpose', 'maxAge', 'subject', 'transaction', 'binding', 'oneTime', 'acrValues', 'denyAmr', 'ip'];
const KNOWN = new Set(KNOWN_INPUT);

/**
 * The guard's decision (DESIGN §5). Checks run from cheapest and most fundamental to
 * the one-time consumption, which comes last so that a token refused for another
 * reason is not burnt.
 */
export async function checkToken(config: StepUpConfig, token: unknown, input: CheckTokenInput): Promise<StepUpClaims> {
  const policy = purposeOf(config, input);
  const maxAge = input.maxAge === undefined ? undefined : parseDuration(input.maxAge, 'maxAge');
  const oneTime = input.oneTime ?? policy.oneTime;
  if (policy.oneTime && !oneTime) throw new TypeError(`Tokens of purpose '${policy.name}' are one-time: oneTime cannot be false.`);
  const refuse = (reason: TokenRejection['reason'], errorClass: TokenRejection['errorClass'], claims?: StepUpClaims): StepUpError => {
    config.emit({ type: 'token.rejected', purpose: policy.name, reason, subject: claims?.sub, challengeId: claims?.cid, jti: claims?.jti, ip: input.ip });
    return stepUpError('step_up_required', { reason, errorClass, purpose: policy.name, ...(maxAge === undefined ? {} : { maxAge }) });
  };

  // Before the transaction check: a guard has nothing to compare yet and does not read the
  // record for a request without a token, which must answer 401 `missing`, not throw.
  if (typeof token !== 'string' || token === '') throw refuse('missing', 'insufficient_user_authentication');
  if (policy.requireTransaction && input.transaction === undefined) {
    throw new TypeError(`Purpose '${policy.name}' binds a transaction: pass the transaction about to be executed.`);
  }
  const now = config.clock();
  let claims: StepUpClaims;
  try {
    claims = await verifySignedToken(config.tokens, token, now);
  } catch (error) {
    if (error instanceof TokenRejection) throw refuse(error.reason, error.errorClass);
    throw error;
  }
  const nowSec = Math.floor(now / 1000);
  if (claims.auth_time > nowSec + config.tokens.clockToleranceSec) throw refuse('invalid', 'invalid_token', claims);
  if (claims.purpose !== policy.name) throw refuse('wrong_purpose', 'insufficient_user_authentication', claims);
  // R-B4: `txn` is a required claim of purposes that bind a transaction; its absence is a malformed token.
  if (policy.requireTransaction && claims.txn === undefined) throw refuse('invalid', 'invalid_token', claims);
  if (input.subject !== undefined && !safeEqual(claims.sub, String(input.subject))) throw refuse('wrong_subject', 'insufficient_user_authentication', claims);
  if (input.binding !== undefined) {
    const expected = config.peppers.map((keys) => hashBinding(keys, String(input.binding)));
    if (claims.sbh === undefined || !expected.some((hash) => safeEqual(hash, claims.sbh!))) throw refuse('wrong_session', 'insufficient_user_authentication', claims);
  }
  if (input.acrValues && !input.acrValues.includes(claims.acr)) throw refuse('wrong_method', 'insufficient_user_authentication', claims);
  if (input.denyAmr && claims.amr.some((method) => input.denyAmr!.includes(method))) throw refuse('wrong_method', 'insufficient_user_authentication', claims);
  if (maxAge !== undefined && nowSec - claims.auth_time > maxAge) throw refuse('too_old', 'insufficient_user_authentication', claims);
  if (input.transaction !== undefined && !transactionMatches(input.transaction, claims.txn)) {
    throw refuse('transaction_mismatch', 'insufficient_user_authentication', claims);
  }
  if (oneTime) {
    // The mark outlives the token (expiry plus tolerance), so the token cannot come back.
    const ttlMs = (claims.exp - nowSec + config.tokens.clockToleranceSec) * 1000;
    if (!(await config.store.consumeOnce(claims.jti, ttlMs))) throw refuse('replayed', 'insufficient_user_authentication', claims);
  }
  config.emit({ type: 'token.accepted', purpose: policy.name, subject: claims.sub, challengeId: claims.cid, channel: claims.chn, jti: claims.jti, ip: input.ip });
  // The claims were decoded for this call alone: frozen in place, no copy.
  Object.freeze(claims.amr);
  return Object.freeze(claims);
}

function purposeOf(config: StepUpConfig, input: CheckTokenInput): ResolvedPurpose {
  if (!input || typeof input !== 'object') throw new TypeError('checkToken needs { purpose } at least.');
  const unknown = Object.keys(input).find((key) => !KNOWN.has(key));
  if (unknown !== undefined) throw new TypeError(`checkToken has no option \`${unknown}\`. Known: ${KNOWN_INPUT.join(', ')}.`);
  const policy = config.purposes.get(input.purpose);
  if (!policy) throw new TypeError(`Unknown purpose ${JSON.stringify(input.purpose)}; configure it in createStepUp({ purposes }).`);
  return policy;
}

