import { digestCode, isAnonymousId, isChallengeId, safeEqual } from './codes.js';
import { type HostedChannel, type HostedVerdict } from '../channels/channel.js';
import { closedError, ownerOf } from './challenge.js';
import { claimsOf } from './claims.js';
import { stepUpError } from './errors.js';
import type { StepUpConfig } from './config.js';
import { newTokenId, signToken } from './tokens.js';
import { transactionMatches } from './transaction.js';
import { countConversion, lockedOut } from './limits.js';
import type { Budget } from './config.js';
import { failureLimit, subjectHash } from './keys.js';
import { withTimeout } from '../lib/timeout.js';
import { slotTagOf, type ChallengeOwner, type FailedChallenge, type FailureLimit, type VerifyOutcome, type VerifyReceipt } from '../stores/store.js';
import type { VerifyInput, VerifyResult } from './types.js';

/** Events about a wrong code name the challenge's purpose and channel, and a test number's say so (they are not a real user's). */
const aboutFailed = ({ testNumber, purpose, channel }: FailedChallenge) => ({ ...(testNumber ? { testNumber: true } : {}), ...(purpose === undefined ? {} : { purpose }), ...(channel === undefined ? {} : { channel }) });

/** `verify` of {@link StepUp}: the code checked, the challenge consumed, a step-up token issued. */
export async function verify(config: StepUpConfig, challengeId: string, code: unknown, input: VerifyInput): Promise<VerifyResult> {
  if (!input || typeof input !== 'object') throw stepUpError('invalid_request');
  const owner = ownerOf(config, input);
  const base = { challengeId, subject: owner.subject, ip: input.ip };
  const expected = expectedPurposes(input.purpose);
  if (!isChallengeId(challengeId)) {
    config.emit({ type: 'verify.failed', ...base, challengeId: undefined, reason: 'challenge_not_found' });
    throw stepUpError('challenge_not_found');
  }
  // The id starts with the slot tag of its subject's hash under the pepper it was made with.
  // An id that is not the caller's still goes to the store (its answer is not_found): an
  // unknown challenge must cost what a known one does.
  const tag = slotTagOf(challengeId);
  const hashes = config.peppers.map((keys) => subjectHash(keys, owner.subject));
  const subjectKey = hashes.find((hash) => slotTagOf(hash) === tag) ?? hashes[0]!;
  // Anything that is not a string of digits still costs an attempt: it can never match.
  const submitted = typeof code === 'string' ? code.trim() : typeof code === 'number' ? String(code) : '';
  const digests = config.peppers.map((keys) => digestCode(keys, challengeId, submitted));
  // The id names the budget its wrong codes count against: the user's own, or the anonymous one.
  const budget: Budget = isAnonymousId(challengeId) ? 'anonymous' : 'user';
  // Kept by the store with the consumed challenge: a retry of the right code gets this token back.
  const receipt = { jti: newTokenId(), verifiedAt: config.clock() };
  const outcome = await verifyCode(config, challengeId, owner, digests, submitted, failureLimit(config, subjectKey, owner.now, budget), receipt);
  // Past the subject's limit of wrong codes nothing of its budget verifies, across all its challenges (R-D2).
  if (outcome.status === 'locked_out') lockedOut(config, outcome.retryAfterMs, { challengeId }, { subject: owner.subject, ip: input.ip, budget });
  if (outcome.status === 'invalid') {
    config.emit({ type: 'verify.failed', ...base, reason: 'invalid_code', attemptsLeft: outcome.attemptsLeft, ...aboutFailed(outcome) });
    throw stepUpError('invalid_code', { attemptsLeft: outcome.attemptsLeft });
  }
  if (outcome.status === 'locked_now') {
    config.emit({ type: 'verify.failed', ...base, reason: 'too_many_attempts', attemptsLeft: 0, ...aboutFailed(outcome) });
    config.emit({ type: 'challenge.locked', ...base, reason: 'too_many_attempts', ...aboutFailed(outcome) });
    throw stepUpError('too_many_attempts');
  }
  if (outcome.status !== 'ok') {
    const error = closedError(outcome);
    config.emit({ type: 'verify.failed', ...base, reason: error.code });
    throw error;
  }
  const { record, receipt: kept, repeated } = outcome;
  const policy = config.purposes.get(record.purpose);
  // Another purpose than the caller expects, or a transaction changed after the code was sent
  // (R-F2): spent all the same (only the right code reaches this point), so that no retry turns it into a token.
  const refusal = !policy || (expected && !expected.includes(record.purpose)) ? 'challenge_not_found'
    : input.transaction !== undefined && !transactionMatches(input.transaction, record.txn) ? 'transaction_mismatch' : undefined;
  if (!policy || refusal) {
    await config.store.delete(challengeId);
    config.emit({ type: 'verify.failed', ...base, purpose: record.purpose, reason: refusal ?? 'challenge_not_found' });
    throw stepUpError('challenge_not_found');
  }
  const claims = claimsOf(config, record, kept, policy, input.binding);
  const token = signToken(config.tokens, claims);
  if (!record.testNumber && !repeated) countConversion(config, record.to, budget);
  config.emit({
    type: 'verify.succeeded', ...base, purpose: record.purpose, channel: record.channel, to: record.to, jti: claims.jti,
    ...(record.testNumber ? { testNumber: true } : {}), ...(repeated ? { repeated: true } : {}),
  });
  // A retry's token is older than this answer: what is left of its life.
  return { token, claims, expiresIn: repeated ? Math.max(0, claims.exp - Math.floor(config.clock() / 1000)) : policy.tokenTtlSec };
}

/**
 * The store's verdict on a code. Challenges sent by a hosted channel ask its provider,
 * between an attempt reserved before and a consumption after, so that the attempt limit
 * and single use hold exactly as for our own codes.
 */
async function verifyCode(
  config: StepUpConfig, challengeId: string, owner: ChallengeOwner, digests: string[], submitted: string, failures: FailureLimit, receipt: VerifyReceipt,
): Promise<VerifyOutcome> {
  const hostedChannels = config.hostedChannels;
  if (hostedChannels.length === 0) return config.store.verify(challengeId, owner, digests, failures, receipt);
  const begun = await config.store.beginHostedCheck(challengeId, owner, failures, digests);
  if (begun.status !== 'check') return begun;
  const record = begun.record;
  // The digest kept with the receipt is the current pepper's: a retry computes the same one.
  const approved = { ...receipt, digest: digests[0]! };
  const ours = record.digests.some((stored) => digests.some((digest) => safeEqual(digest, stored)));
  if (ours) return config.store.finishHostedCheck(challengeId, true, failures, approved);
  const verdicts: HostedVerdict[] = [];
  if (/^\d{4,10}$/.test(submitted)) {
    for (const send of record.hosted) {
      const channel = hostedChannels.find((candidate) => candidate.name === send.channel);
      if (!channel || !send.id) continue;
      const verdict = await checkWithTimeout(channel, send.id, submitted, config.sendTimeoutMs);
      if (verdict === 'unavailable') throw stepUpError('delivery_failed', {}, 'The code could not be checked right now. Try again shortly.');
      if (verdict === 'approved') return config.store.finishHostedCheck(challengeId, true, failures, approved);
      verdicts.push(verdict);
    }
  }
  // The reserved attempt is already counted. When the provider no longer takes the code at all
  // (expired, or already verified: a concurrent verify is consuming this challenge), stop here:
  // counting it as a wrong code could lock the challenge under the verify that won.
  if (verdicts.length > 0 && verdicts.every((verdict) => verdict === 'expired' || verdict === 'already_verified')) {
    return verdicts.includes('expired') ? { status: 'expired' } : { status: 'not_found' };
  }
  return config.store.finishHostedCheck(challengeId, false, failures);
}

/** The provider's verdict; `unavailable` when it fails or takes longer than `timeoutMs`. */
function checkWithTimeout(channel: HostedChannel, verificationId: string, code: string, timeoutMs: number): Promise<HostedVerdict | 'unavailable'> {
  return withTimeout<HostedVerdict | 'unavailable'>((signal) => channel.check(verificationId, code, signal), timeoutMs, () => 'unavailable')
    .catch(() => 'unavailable' as const);
}

function expectedPurposes(purpose: unknown): string[] | undefined {
  if (purpose === undefined) return undefined;
  const list = Array.isArray(purpose) ? purpose : [purpose];
  if (list.length === 0 || list.some((name) => typeof name !== 'string')) throw new TypeError('verify: `purpose` must be a purpose name or a non-empty list of them.');
  return list as string[];
}
