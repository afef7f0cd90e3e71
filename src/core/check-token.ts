import { hashBinding, safeEqual } from './codes.js';
import { parseDuration } from '../lib/duration.js';
import { rejectUnknown } from '../lib/validate.js';
import { stepUpError, type StepUpError } from './errors.js';
import type { StepUpConfig } from './config.js';
import { TokenRejection, verifySignedToken } from './tokens.js';
import { transactionMatches } from './transaction.js';
import type { CheckTokenInput, StepUpClaims, TokenFacts, TokenPolicy } from './types.js';

const POLICY_INPUT = ['purpose', 'maxAge', 'oneTime', 'acrValues', 'denyAmr'];
const FACT_INPUT = ['subject', 'transaction', 'binding', 'ip'];
const KNOWN_INPUT = [...POLICY_INPUT, ...FACT_INPUT];
const FACTS = new Set(FACT_INPUT);

/** The check of one policy, taking a token and its request's facts. */
export type TokenCheck = (token: unknown, facts?: TokenFacts) => Promise<StepUpClaims>;

/** `checkToken` of DESIGN §5: the policy and the facts in one input, validated on every call. */
export function checkToken(config: StepUpConfig, token: unknown, input: CheckTokenInput): Promise<StepUpClaims> {
  try {
    return prepare(config, input, 'checkToken', KNOWN_INPUT)(token, input);
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * The guard's decision (DESIGN §5) for one policy, validated now rather than per request.
 * Checks run from cheapest and most fundamental to the one-time consumption, which comes
 * last so that a token refused for another reason is not burnt.
 */
export function tokenCheck(config: StepUpConfig, policy: TokenPolicy): TokenCheck {
  const decide = prepare(config, policy, 'tokenCheck', POLICY_INPUT);
  return (token, facts) => {
    // A misspelt fact would leave its check out silently (a `subjet` never compared): refused.
    if (facts !== undefined) {
      if (typeof facts !== 'object' || facts === null) return Promise.reject(new TypeError('A token check takes (token, { subject?, transaction?, binding?, ip? }).'));
      for (const key in facts) {
        if (!FACTS.has(key)) return Promise.reject(new TypeError(`A token check has no fact \`${key}\`. Known: ${FACT_INPUT.join(', ')}.`));
      }
    }
    return decide(token, facts);
  };
}

function prepare(config: StepUpConfig, input: TokenPolicy, caller: string, knownNames: string[]): TokenCheck {
  if (!input || typeof input !== 'object') throw new TypeError(`${caller} needs { purpose } at least.`);
  rejectUnknown(input, knownNames, caller);
  const policy = config.purposes.get(input.purpose);
  if (!policy) throw new TypeError(`Unknown purpose ${JSON.stringify(input.purpose)}; configure it in createStepUp({ purposes }).`);
  const maxAge = input.maxAge === undefined ? undefined : parseDuration(input.maxAge, 'maxAge');
  const oneTime = input.oneTime ?? policy.oneTime;
  if (policy.oneTime && !oneTime) throw new TypeError(`Tokens of purpose '${policy.name}' are one-time: oneTime cannot be false.`);
  const { acrValues, denyAmr } = input;
  const { tokens, store, peppers, emit } = config;

  return async (token, facts = {}) => {
    const refuse = (reason: TokenRejection['reason'], errorClass: TokenRejection['errorClass'], claims?: StepUpClaims): StepUpError => {
      emit({ type: 'token.rejected', purpose: policy.name, reason, subject: claims?.sub, challengeId: claims?.cid, jti: claims?.jti, ip: facts.ip });
      return stepUpError('step_up_required', { reason, errorClass, purpose: policy.name, ...(maxAge === undefined ? {} : { maxAge }) });
    };
    // Before the transaction check: a guard has nothing to compare yet and does not read the
    // record for a request without a token, which must answer 401 `missing`, not throw.
    if (typeof token !== 'string' || token === '') throw refuse('missing', 'insufficient_user_authentication');
    const { subject, binding, transaction } = facts;
    if (policy.requireTransaction && transaction === undefined) {
      throw new TypeError(`Purpose '${policy.name}' binds a transaction: pass the transaction about to be executed.`);
    }
    const now = config.clock();
    let claims: StepUpClaims;
    try {
      claims = verifySignedToken(tokens, token, now);
    } catch (error) {
      if (error instanceof TokenRejection) throw refuse(error.reason, error.errorClass);
      throw error;
    }
    const nowSec = Math.floor(now / 1000);
    if (claims.auth_time > nowSec + tokens.clockToleranceSec) throw refuse('invalid', 'invalid_token', claims);
    if (claims.purpose !== policy.name) throw refuse('wrong_purpose', 'insufficient_user_authentication', claims);
    // R-B4: `txn` is a required claim of purposes that bind a transaction; its absence is a malformed token.
    if (policy.requireTransaction && claims.txn === undefined) throw refuse('invalid', 'invalid_token', claims);
    if (subject !== undefined && !safeEqual(claims.sub, String(subject))) throw refuse('wrong_subject', 'insufficient_user_authentication', claims);
    if (binding !== undefined) {
      const expected = peppers.map((keys) => hashBinding(keys, String(binding)));
      if (claims.sbh === undefined || !expected.some((hash) => safeEqual(hash, claims.sbh!))) throw refuse('wrong_session', 'insufficient_user_authentication', claims);
    }
    if (acrValues && !acrValues.includes(claims.acr)) throw refuse('wrong_method', 'insufficient_user_authentication', claims);
    if (denyAmr && claims.amr.some((method) => denyAmr.includes(method))) throw refuse('wrong_method', 'insufficient_user_authentication', claims);
    if (maxAge !== undefined && nowSec - claims.auth_time > maxAge) throw refuse('too_old', 'insufficient_user_authentication', claims);
    // A bound purpose's token approves one record: a transaction without its `id` is none.
    if (transaction !== undefined && !transactionMatches(transaction, claims.txn, { requireId: policy.requireTransaction })) {
      throw refuse('transaction_mismatch', 'insufficient_user_authentication', claims);
    }
    if (oneTime) {
      // The mark outlives the token (expiry plus tolerance), so the token cannot come back.
      const ttlMs = (claims.exp - nowSec + tokens.clockToleranceSec) * 1000;
      if (!(await store.consumeOnce(claims.jti, ttlMs))) throw refuse('replayed', 'insufficient_user_authentication', claims);
    }
    emit({ type: 'token.accepted', purpose: policy.name, subject: claims.sub, challengeId: claims.cid, channel: claims.chn, jti: claims.jti, ip: facts.ip });
    // The claims were decoded for this call alone: frozen in place, no copy.
    Object.freeze(claims.amr);
    return Object.freeze(claims);
  };
}
