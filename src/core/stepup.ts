import { digestCode, generateCode, hashBinding, isAnonymousId, isChallengeId, newChallengeId, openSealed, safeEqual, sealText } from './codes.js';
import { type HostedChannel, type HostedVerdict } from '../channels/channel.js';
import { checkToken, tokenCheck, type TokenCheck } from './check-token.js';
import { channelsClosed, closedByCountry, deliverCode, numberFactKey, sealPayment, unavailableChannels } from './delivery.js';
import { handleDeliveryStatus, runDueFallbacks, startFallbackWorker, type DeliveryStatusReport, type DeliveryStatusResult } from './fallback.js';
import { stepUpError } from './errors.js';
import { resolveOptions, type ResolvedPurpose, type StepUpConfig } from './options.js';
import { normalizePhone, regionOf } from './phone.js';
import { newTokenId, signToken } from './tokens.js';
import { hashTransaction, normalizeTransaction, transactionMatches } from './transaction.js';
import { budgetOf, countConversion, countSend, failureLimit, lockedOut, numberName, refuseIfLockedOut, sendLimits, subjectHash, type Budget } from './limits.js';
import { withTimeout } from '../lib/timeout.js';
import { slotTagOf, type ChallengeOwner, type ChallengeRecord, type ClosedChallenge, type FailedChallenge, type FailureLimit, type VerifyOutcome, type VerifyReceipt } from '../stores/store.js';
import type {
  BeforeSendContext, ChallengeView, CheckTokenInput, ResendInput, StartInput, StepUpClaims, StepUpOptions, TokenPolicy, VerifyInput, VerifyResult,
} from './types.js';

/** What `createStepUp` returns: the four operations of DESIGN §3. */
export interface StepUp {
  /** Sends a code to the number on file and returns what the client may see of the challenge. */
  start(input: StartInput): Promise<ChallengeView>;
  /** Sends a new code for a challenge (the earlier one stops working), after the cooldown. */
  resend(challengeId: string, input: ResendInput): Promise<ChallengeView>;
  /**
   * Checks a code; on success consumes the challenge and issues a step-up token. The same right
   * code again, from the same subject and binding while the challenge lives, gets that token
   * again (same `jti`): an answer lost to a timeout can be retried. Anything else on a consumed
   * challenge is `challenge_not_found`.
   */
  verify(challengeId: string, code: unknown, input: VerifyInput): Promise<VerifyResult>;
  /** The guard's check of a step-up token; resolves to its claims or rejects with `step_up_required`. */
  checkToken(token: unknown, input: CheckTokenInput): Promise<StepUpClaims>;
  /**
   * `checkToken` for one policy, validated now: the check a guard runs on every request,
   * given the token and the request's facts (`subject`, `transaction`, `binding`, `ip`).
   */
  tokenCheck(policy: TokenPolicy): TokenCheck;
  /** The policy of a configured purpose, for adapters that validate their own options. */
  purpose(name: string): Readonly<ResolvedPurpose> | undefined;
  /**
   * Ends a challenge now, whatever its state: its codes stop working. For example every
   * outstanding password-reset challenge of an account once its password was reset.
   * Resolves also when the challenge no longer exists.
   */
  cancel(challengeId: string): Promise<void>;
  /** Applies a provider's delivery status (from a webhook); a first `failed` sends by the next channel. */
  handleDeliveryStatus(report: DeliveryStatusReport): Promise<DeliveryStatusResult>;
  /** Falls back for sends whose `sends.fallbackAfter` passed without `delivered`; a timer calls it when that option is set. */
  runDueFallbacks(): Promise<number>;
  /** Stops the fallback timer. */
  close(): void;
}

/** Expired challenges linger this long (without their code) so that a late verify hears `challenge_expired`. */
const EXPIRED_GRACE_MS = 5 * 60_000;
const ACR_PREFIX = 'urn:whatsapp-stepup:acr:oob-';
const FALLBACK_POLL_MS = 1000;

/**
 * Validates every option now (bad options throw a TypeError that says how to fix them)
 * and returns the step-up service.
 *
 * @example
 * const stepup = createStepUp({
 *   store: new RedisStore({ client: new Redis(process.env.REDIS_URL) }),
 *   channels: [new OutboxChannel()],
 *   tokens: { issuer: 'https://app.example.com', audience: 'https://app.example.com', secret: process.env.STEPUP_SECRET },
 *   pepper: process.env.STEPUP_PEPPER,
 * });
 */
export function createStepUp(options: StepUpOptions): StepUp {
  const config = resolveOptions(options);
  const stopWorker = config.fallbackAfterMs === undefined ? () => {} : startFallbackWorker(config, FALLBACK_POLL_MS);
  return Object.freeze({
    start: (input: StartInput) => start(config, input),
    resend: (challengeId: string, input: ResendInput) => resend(config, challengeId, input),
    verify: (challengeId: string, code: unknown, input: VerifyInput) => verify(config, challengeId, code, input),
    checkToken: (token: unknown, input: CheckTokenInput) => checkToken(config, token, input),
    tokenCheck: (policy: TokenPolicy) => tokenCheck(config, policy),
    purpose: (name: string) => config.purposes.get(name),
    cancel: async (challengeId: string) => {
      if (isChallengeId(challengeId)) await config.store.delete(challengeId);
    },
    handleDeliveryStatus: (report: DeliveryStatusReport) => handleDeliveryStatus(config, report),
    runDueFallbacks: () => runDueFallbacks(config),
    close: stopWorker,
  });
}

async function start(config: StepUpConfig, input: StartInput): Promise<ChallengeView> {
  if (!input || typeof input !== 'object') throw stepUpError('invalid_request');
  const subject = requireSubject(input.subject);
  const policy = config.purposes.get(input.purpose);
  if (!policy) throw stepUpError('invalid_request', {}, 'Unknown purpose.');
  if (policy.requireTransaction && input.transaction === undefined) {
    throw stepUpError('invalid_request', {}, 'This purpose needs the transaction to approve, with its record\'s `transaction.id`.');
  }
  const transaction = input.transaction === undefined ? undefined : normalizeTransaction(input.transaction, { requireId: policy.requireTransaction });
  const txn = transaction === undefined ? '' : hashTransaction(transaction);
  const budget = budgetOf(policy);
  const phone = await acceptedPhone(config, input, subject, policy.name, budget);
  const locale = optionalText(input.locale, /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'locale') ?? 'en';
  const binding = optionalText(input.binding, /^[\s\S]{1,1024}$/, 'binding');
  const requested = channelIndex(config, input.channel);
  const otherFactors = (input.otherFactors ?? []).map((factor) => optionalText(factor, /^[a-z]{2,8}$/, 'otherFactors')!);

  const now = config.clock();
  const pepper = config.peppers[0]!;
  const subjectKey = subjectHash(pepper, subject);
  const failures = failureLimit(config, subjectKey, now, budget);
  const id = newChallengeId(slotTagOf(subjectKey), budget === 'anonymous');
  const fixedCode = config.testNumbers.get(phone.e164);
  const code = fixedCode ?? generateCode(config.codeLength);
  const channel = config.channels[requested ?? 0]!;
  const record: ChallengeRecord = {
    id, subject, purpose: policy.name, txn, locale,
    bindingHash: binding === undefined ? '' : hashBinding(pepper, binding),
    channel: channel.name, transport: channel.transport,
    digest: digestCode(pepper, id, code), hostedIds: '',
    attempts: 0, maxAttempts: policy.maxAttempts, sends: 1, maxSends: config.sendsPerChallenge,
    createdAt: now, expiresAt: now + config.codeTtlMs, nextSendAt: now + config.sendCooldownsMs[0]!,
    messageId: '', sentAt: 0, deliveryStatus: '',
    sealedPhone: sealText(pepper, id, phone.e164), to: phone.masked,
    sealedPayment: sealPayment(pepper, id, transaction),
    otherFactors: otherFactors.join(','), testNumber: fixedCode !== undefined, locked: false,
  };
  const event = { challengeId: id, subject, purpose: policy.name, to: phone.masked, country: phone.country, ip: input.ip };
  const limited = { purpose: policy.name };
  // A test number sends nothing: no send counts, nothing to know of the number.
  const number = record.testNumber ? '' : numberName(config, phone.e164);
  const limits = record.testNumber ? undefined : sendLimits(config, {
    phone: phone.e164, subject, ip: input.ip, session: record.bindingHash, country: phone.callingCode, purpose: policy.name, budget, names: { number, subject: subjectKey },
  });
  const factKey = record.testNumber ? undefined : numberFactKey(config, phone.e164, number);
  // One step of the store (one round trip on a standalone Redis): the send counters, the
  // subject's wrong codes and what is known of the number, then the challenge only if no
  // limit refuses it (R-I1, R-I9). Stored before sending: with the store down nothing is sent.
  const admitted = await config.store.admit(record, config.codeTtlMs + EXPIRED_GRACE_MS, {
    hits: limits?.hits ?? [], reads: limits?.reads ?? [], facts: factKey === undefined ? [] : [factKey], failures,
  });
  let skip: Set<string>;
  try {
    limits?.judge(admitted.hits, admitted.reads, limited);
    refuseIfLockedOut(config, admitted.failures, limited, { subject, ip: input.ip, budget });
    // The store refused what the limits above let pass: their views differ. Fail closed.
    if (!admitted.created) throw stepUpError('store_unavailable', { retryAfter: 1 });
    skip = channelsClosed(config, phone.country, admitted.facts[0]);
    if (!record.testNumber) {
      await askApp(config, { subject, purpose: policy.name, country: phone.country, to: phone.masked, ip: input.ip, challengeId: undefined, channel: input.channel });
    }
  } catch (error) {
    // Refused after it was stored (the conversion breaker, the app's check): no code went out.
    if (admitted.created) await config.store.delete(id).catch(() => {});
    throw error;
  }
  if (record.testNumber) {
    config.emit({ type: 'challenge.started', ...event, channel: channel.name, testNumber: true });
    return view(config, record, new Set());
  }
  let used;
  try {
    used = await deliverCode(config, { record, phone: phone.e164, code, digest: record.digest, first: requested ?? 0, explicit: requested !== undefined }, skip);
  } catch (error) {
    await config.store.delete(id).catch(() => {});
    throw error;
  }
  config.emit({ type: 'challenge.started', ...event, channel: used.name });
  return view(config, { ...record, channel: used.name, transport: used.transport }, skip);
}

async function resend(config: StepUpConfig, challengeId: string, input: ResendInput): Promise<ChallengeView> {
  if (!input || typeof input !== 'object') throw stepUpError('invalid_request');
  const requested = channelIndex(config, input.channel);
  const owner = ownerOf(config, input);
  if (!isChallengeId(challengeId)) throw stepUpError('challenge_not_found');
  return sendAgain(config, challengeId, owner, { requested, ip: input.ip });
}

/**
 * A new code for a live challenge, by the user's resend or by the library's fallback
 * (system owner: no cooldown, starting after the channel that failed).
 */
export async function sendAgain(
  config: StepUpConfig,
  challengeId: string,
  owner: ChallengeOwner,
  how: { requested?: number | undefined; after?: string; ip?: string | undefined },
): Promise<ChallengeView> {
  if (how.after !== undefined) {
    // Before reserving: a fallback with no channel left must not replace the code that went out, nor count a send.
    const failed = config.channels.findIndex((channel) => channel.name === how.after);
    if (failed === -1 || failed + 1 >= config.channels.length) throw stepUpError('delivery_failed');
  }
  const code = generateCode(config.codeLength);
  const digest = digestCode(config.peppers[0]!, challengeId, code);
  const outcome = await config.store.reserveResend(challengeId, owner, { digest, cooldownMs: config.sendCooldownsMs, keepEarlier: config.keepEarlierCodes });
  const base = { challengeId, subject: owner.subject || undefined, ip: how.ip };
  if (outcome.status === 'cooldown' || outcome.status === 'exhausted') {
    config.emit({ type: 'rate.limited', ...base, reason: 'rate_limited', limit: outcome.status === 'cooldown' ? 'cooldown' : 'sends' });
    const message = outcome.status === 'exhausted' ? 'No more codes can be sent for this verification. Start a new one.' : undefined;
    throw stepUpError('rate_limited', { retryAfter: Math.max(1, Math.ceil(outcome.retryAfterMs / 1000)) }, message);
  }
  if (outcome.status !== 'ok') throw closedError(outcome);
  const record = outcome.record;
  if (record.testNumber) {
    // A test number never receives anything; the store kept its fixed code valid.
    config.emit({ type: 'delivery.sent', ...base, purpose: record.purpose, channel: record.channel, testNumber: true });
    return view(config, record, new Set());
  }
  const phone = openSealed(config.peppers, challengeId, record.sealedPhone);
  if (phone === undefined) throw stepUpError('challenge_not_found');
  const userAsked = owner.subject !== '';
  const region = regionOf(phone);
  try {
    const [skip] = await Promise.all([
      unavailableChannels(config, phone, region.country),
      // A user's resend counts against the send limits; the library's own fallback does not (the per-challenge cap bounds it).
      userAsked ? countSend(config, {
        phone, subject: record.subject, ip: how.ip, session: record.bindingHash, country: region.callingCode, purpose: record.purpose, budget: budgetOf(config.purposes.get(record.purpose)),
      }, { challengeId, purpose: record.purpose }) : undefined,
    ]);
    if (userAsked) {
      await askApp(config, {
        subject: record.subject, purpose: record.purpose, country: undefined, to: record.to, ip: how.ip, challengeId,
        channel: how.requested === undefined ? undefined : config.channels[how.requested]!.name,
      });
    }
    const current = config.channels.findIndex((channel) => channel.name === (how.after ?? record.channel));
    const first = how.requested ?? (how.after === undefined ? Math.max(0, current) : current + 1);
    if (first >= config.channels.length) throw stepUpError('delivery_failed');
    const used = await deliverCode(config, { record, phone, code, digest, first, explicit: how.requested !== undefined }, skip);
    return view(config, { ...record, channel: used.name, transport: used.transport }, skip);
  } catch (error) {
    // The new code went nowhere (a limit, the app's check, or no channel took it): it must not
    // stay valid unsent, beside a hosted provider's code it would double a guesser's odds. The
    // send stays counted: a provider may have been reached.
    await config.store.discardCode(challengeId, digest).catch(() => {});
    throw error;
  }
}

/** The number on file, checked against the country and type rules; a refused one counts against the subject's and the IP's send limits. */
async function acceptedPhone(config: StepUpConfig, input: StartInput, subject: string, purpose: string, budget: Budget) {
  try {
    const phone = normalizePhone(input.phone, config.phone);
    if (closedByCountry(config, phone.country).size === config.channels.length) {
      throw stepUpError('invalid_request', {}, 'Codes cannot be sent to phone numbers of this country.');
    }
    return phone;
  } catch (error) {
    config.emit({ type: 'delivery.failed', subject, purpose, ip: input.ip, reason: 'invalid_request' });
    // The number is refused: only the caller's counters move (nothing is known of the number).
    await countSend(config, { phone: '', subject, ip: input.ip, session: '', country: undefined, purpose: '', budget }, { purpose });
    throw error;
  }
}

/** The app's `beforeSend` check: `false` refuses the send. */
async function askApp(config: StepUpConfig, context: BeforeSendContext): Promise<void> {
  if (!config.beforeSend) return;
  if ((await config.beforeSend(context)) === false) {
    config.emit({ type: 'rate.limited', subject: context.subject, purpose: context.purpose, challengeId: context.challengeId, ip: context.ip, reason: 'invalid_request', limit: 'beforeSend' });
    throw stepUpError('invalid_request', {}, 'The application refused to send a code now.');
  }
}

/** Events about a wrong code name the challenge's purpose and channel, and a test number's say so (they are not a real user's). */
const aboutFailed = ({ testNumber, purpose, channel }: FailedChallenge) => ({ ...(testNumber ? { testNumber: true } : {}), ...(purpose === undefined ? {} : { purpose }), ...(channel === undefined ? {} : { channel }) });

async function verify(config: StepUpConfig, challengeId: string, code: unknown, input: VerifyInput): Promise<VerifyResult> {
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
  if (!policy || (expected && !expected.includes(record.purpose))) {
    // Spent all the same (only the right code reaches this point): nothing may retry it into a token.
    await config.store.delete(challengeId);
    config.emit({ type: 'verify.failed', ...base, purpose: record.purpose, reason: 'challenge_not_found' });
    throw stepUpError('challenge_not_found');
  }
  if (input.transaction !== undefined && !transactionMatches(input.transaction, record.txn)) {
    // A transaction changed after the code was sent invalidates the challenge (R-F2), its retries too.
    await config.store.delete(challengeId);
    config.emit({ type: 'verify.failed', ...base, purpose: record.purpose, reason: 'transaction_mismatch' });
    throw stepUpError('challenge_not_found');
  }
  // The first verify's time and token id: a retry's token is that verify's token again.
  const nowSec = Math.floor(kept.verifiedAt / 1000);
  const otherFactors = record.otherFactors === '' ? [] : record.otherFactors.split(',');
  const claims: StepUpClaims = {
    iss: config.tokens.issuer,
    aud: config.tokens.audience,
    sub: record.subject,
    iat: nowSec,
    exp: nowSec + policy.tokenTtlSec,
    auth_time: nowSec,
    jti: kept.jti,
    acr: ACR_PREFIX + record.transport,
    // RFC 8176: `sms` for SMS; WhatsApp and RCS have no registered value, so `otp`. `mca`: a channel apart from the primary one.
    amr: [record.transport === 'sms' ? 'sms' : 'otp', 'mca', ...otherFactors, ...(otherFactors.length > 0 ? ['mfa'] : [])],
    purpose: record.purpose,
    cid: record.id,
    chn: record.channel,
    ...(record.txn === '' ? {} : { txn: record.txn }),
    ...(input.binding === undefined ? {} : { sbh: hashBinding(config.peppers[0]!, input.binding) }),
  };
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
  const ours = record.digest.split(' ').some((stored) => stored !== '' && digests.some((digest) => safeEqual(digest, stored)));
  if (ours) return config.store.finishHostedCheck(challengeId, true, failures, approved);
  const verdicts: HostedVerdict[] = [];
  if (/^\d{4,10}$/.test(submitted)) {
    for (const entry of record.hostedIds.split(' ').filter(Boolean)) {
      const [name, verificationId] = entry.split('=') as [string, string];
      const channel = hostedChannels.find((candidate) => candidate.name === name);
      if (!channel || !verificationId) continue;
      const verdict = await checkWithTimeout(channel, verificationId, submitted, config.sendTimeoutMs);
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

function view(config: StepUpConfig, record: ChallengeRecord, unavailable: ReadonlySet<string>): ChallengeView {
  return {
    challengeId: record.id,
    purpose: record.purpose,
    channel: record.channel,
    to: record.to,
    expiresAt: new Date(record.expiresAt).toISOString(),
    resendAfter: new Date(record.nextSendAt).toISOString(),
    sendsLeft: Math.max(0, record.maxSends - record.sends),
    attemptsLeft: Math.max(0, record.maxAttempts - record.attempts),
    channels: config.channels.map((channel) => ({
      name: channel.name,
      transport: channel.transport,
      current: channel.name === record.channel,
      available: !unavailable.has(channel.name),
    })),
  };
}

function expectedPurposes(purpose: unknown): string[] | undefined {
  if (purpose === undefined) return undefined;
  const list = Array.isArray(purpose) ? purpose : [purpose];
  if (list.length === 0 || list.some((name) => typeof name !== 'string')) throw new TypeError('verify: `purpose` must be a purpose name or a non-empty list of them.');
  return list as string[];
}

function ownerOf(config: StepUpConfig, input: { subject: unknown; binding?: unknown }): ChallengeOwner {
  const subject = requireSubject(input.subject);
  const binding = optionalText(input.binding, /^[\s\S]{1,1024}$/, 'binding');
  return {
    subject,
    bindingHashes: binding === undefined ? [] : config.peppers.map((keys) => hashBinding(keys, binding)),
    now: config.clock(),
  };
}

function closedError(outcome: ClosedChallenge) {
  if (outcome.status === 'expired') return stepUpError('challenge_expired');
  if (outcome.status === 'locked') return stepUpError('too_many_attempts');
  return stepUpError('challenge_not_found');
}

function requireSubject(subject: unknown): string {
  if (typeof subject !== 'string' || subject === '' || subject.length > 256) {
    throw stepUpError('invalid_request', {}, 'The subject must be a non-empty string of at most 256 characters.');
  }
  return subject;
}

function optionalText(value: unknown, pattern: RegExp, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !pattern.test(value)) throw stepUpError('invalid_request', {}, `The ${name} is not valid.`);
  return value;
}

function channelIndex(config: StepUpConfig, name: unknown): number | undefined {
  if (name === undefined) return undefined;
  const index = config.channels.findIndex((channel) => channel.name === name);
  if (index < 0) throw stepUpError('invalid_request', {}, 'Unknown channel.');
  return index;
}
