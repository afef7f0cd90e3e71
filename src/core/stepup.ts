import { digestCode, generateCode, hashBinding, isRandomId, openSealed, randomId, sealText } from './codes.js';
import { checkToken } from './check-token.js';
import { deliver } from './delivery.js';
import { stepUpError } from './errors.js';
import { renderMessage } from './messages.js';
import { resolveOptions, type ResolvedPurpose, type StepUpConfig } from './options.js';
import { normalizePhone } from './phone.js';
import { newTokenId, signToken } from './tokens.js';
import { hashTransaction } from './transaction.js';
import type { ChallengeOwner, ChallengeRecord, ClosedChallenge } from '../stores/store.js';
import type {
  ChallengeView, CheckTokenInput, ResendInput, StartInput, StepUpClaims, StepUpOptions, VerifyInput, VerifyResult,
} from './types.js';

/** What `createStepUp` returns: the four operations of DESIGN §3. */
export interface StepUp {
  /** Sends a code to the number on file and returns what the client may see of the challenge. */
  start(input: StartInput): Promise<ChallengeView>;
  /** Sends a new code for a challenge (the earlier one stops working), after the cooldown. */
  resend(challengeId: string, input: ResendInput): Promise<ChallengeView>;
  /** Checks a code; on success consumes the challenge and issues a step-up token. */
  verify(challengeId: string, code: unknown, input: VerifyInput): Promise<VerifyResult>;
  /** The guard's check of a step-up token; resolves to its claims or rejects with `step_up_required`. */
  checkToken(token: unknown, input: CheckTokenInput): Promise<StepUpClaims>;
  /** The policy of a configured purpose, for adapters that validate their own options. */
  purpose(name: string): Readonly<ResolvedPurpose> | undefined;
}

/** Expired challenges linger this long (without their code) so that a late verify hears `challenge_expired`. */
const EXPIRED_GRACE_MS = 5 * 60_000;
const ACR_PREFIX = 'urn:whatsapp-stepup:acr:oob-';

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
  return Object.freeze({
    start: (input: StartInput) => start(config, input),
    resend: (challengeId: string, input: ResendInput) => resend(config, challengeId, input),
    verify: (challengeId: string, code: unknown, input: VerifyInput) => verify(config, challengeId, code, input),
    checkToken: (token: unknown, input: CheckTokenInput) => checkToken(config, token, input),
    purpose: (name: string) => config.purposes.get(name),
  });
}

async function start(config: StepUpConfig, input: StartInput): Promise<ChallengeView> {
  if (!input || typeof input !== 'object') throw stepUpError('invalid_request');
  const subject = requireSubject(input.subject);
  const policy = config.purposes.get(input.purpose);
  if (!policy) throw stepUpError('invalid_request', {}, 'Unknown purpose.');
  if (policy.requireTransaction && input.transaction === undefined) {
    throw stepUpError('invalid_request', {}, 'This purpose needs the transaction to approve.');
  }
  const txn = input.transaction === undefined ? '' : hashTransaction(input.transaction);
  const phone = normalizePhone(input.phone, config.phone);
  const locale = optionalText(input.locale, /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'locale') ?? 'en';
  const binding = optionalText(input.binding, /^[\s\S]{1,1024}$/, 'binding');
  const first = channelIndex(config, input.channel) ?? 0;
  const otherFactors = (input.otherFactors ?? []).map((factor) => optionalText(factor, /^[a-z]{2,8}$/, 'otherFactors')!);

  const now = config.clock();
  const id = randomId();
  const code = generateCode(config.codeLength);
  const pepper = config.peppers[0]!;
  const channel = config.channels[first]!;
  const record: ChallengeRecord = {
    id, subject, purpose: policy.name, txn, locale,
    bindingHash: binding === undefined ? '' : hashBinding(pepper, binding),
    channel: channel.name, transport: channel.transport,
    digest: digestCode(pepper, id, code),
    attempts: 0, maxAttempts: policy.maxAttempts, sends: 1, maxSends: config.sendsPerChallenge,
    createdAt: now, expiresAt: now + config.codeTtlMs, nextSendAt: now + config.sendCooldownMs,
    sealedPhone: sealText(pepper, id, phone.e164), to: phone.masked,
    otherFactors: otherFactors.join(','), locked: false,
  };
  // Stored before sending: with the store down nothing is sent (fail closed).
  await config.store.create(record, config.codeTtlMs + EXPIRED_GRACE_MS);
  const used = await deliver(config, record, message(config, record, phone.e164, code), first);
  if (!used) {
    await config.store.delete(id).catch(() => {});
    throw stepUpError('delivery_failed');
  }
  if (used !== channel) await config.store.recordDelivery(id, { channel: used.name, transport: used.transport });
  const sent = { ...record, channel: used.name, transport: used.transport };
  config.emit({ type: 'challenge.started', challengeId: id, subject, purpose: policy.name, channel: used.name, to: phone.masked, ip: input.ip });
  return view(sent);
}

async function resend(config: StepUpConfig, challengeId: string, input: ResendInput): Promise<ChallengeView> {
  if (!input || typeof input !== 'object') throw stepUpError('invalid_request');
  const requested = channelIndex(config, input.channel);
  const owner = ownerOf(config, input);
  if (!isRandomId(challengeId)) throw stepUpError('challenge_not_found');
  const code = generateCode(config.codeLength);
  const outcome = await config.store.reserveResend(challengeId, owner, {
    digest: digestCode(config.peppers[0]!, challengeId, code),
    cooldownMs: config.sendCooldownMs,
  });
  const base = { challengeId, subject: owner.subject, ip: input.ip };
  if (outcome.status === 'cooldown' || outcome.status === 'exhausted') {
    const retryAfter = outcome.status === 'cooldown' ? Math.ceil(outcome.retryAfterMs / 1000) : Math.ceil(config.codeTtlMs / 1000);
    config.emit({ type: 'rate.limited', ...base, reason: 'rate_limited' });
    const message = outcome.status === 'exhausted' ? 'No more codes can be sent for this verification. Start a new one.' : undefined;
    throw stepUpError('rate_limited', { retryAfter }, message);
  }
  if (outcome.status !== 'ok') throw closedError(outcome);
  const record = outcome.record;
  const phone = openSealed(config.peppers, challengeId, record.sealedPhone);
  if (phone === undefined) throw stepUpError('challenge_not_found');
  const first = requested ?? Math.max(0, config.channels.findIndex((channel) => channel.name === record.channel));
  const used = await deliver(config, record, message(config, record, phone, code), first);
  if (!used) throw stepUpError('delivery_failed');
  if (used.name !== record.channel) await config.store.recordDelivery(challengeId, { channel: used.name, transport: used.transport });
  return view({ ...record, channel: used.name, transport: used.transport });
}

async function verify(config: StepUpConfig, challengeId: string, code: unknown, input: VerifyInput): Promise<VerifyResult> {
  if (!input || typeof input !== 'object') throw stepUpError('invalid_request');
  const owner = ownerOf(config, input);
  const base = { challengeId, subject: owner.subject, ip: input.ip };
  if (!isRandomId(challengeId)) {
    config.emit({ type: 'verify.failed', ...base, challengeId: undefined, reason: 'challenge_not_found' });
    throw stepUpError('challenge_not_found');
  }
  // Anything that is not a string of digits still costs an attempt: it can never match.
  const submitted = typeof code === 'string' ? code.trim() : typeof code === 'number' ? String(code) : '';
  const digests = config.peppers.map((keys) => digestCode(keys, challengeId, submitted));
  const outcome = await config.store.verify(challengeId, owner, digests);
  if (outcome.status === 'invalid') {
    config.emit({ type: 'verify.failed', ...base, reason: 'invalid_code', attemptsLeft: outcome.attemptsLeft });
    throw stepUpError('invalid_code', { attemptsLeft: outcome.attemptsLeft });
  }
  if (outcome.status === 'locked_now') {
    config.emit({ type: 'verify.failed', ...base, reason: 'too_many_attempts', attemptsLeft: 0 });
    config.emit({ type: 'challenge.locked', ...base, reason: 'too_many_attempts' });
    throw stepUpError('too_many_attempts');
  }
  if (outcome.status !== 'ok') {
    const error = closedError(outcome);
    config.emit({ type: 'verify.failed', ...base, reason: error.code });
    throw error;
  }
  const record = outcome.record;
  const policy = config.purposes.get(record.purpose);
  if (!policy) throw stepUpError('challenge_not_found');
  const nowSec = Math.floor(config.clock() / 1000);
  const otherFactors = record.otherFactors === '' ? [] : record.otherFactors.split(',');
  const claims: StepUpClaims = {
    iss: config.tokens.issuer,
    aud: config.tokens.audience,
    sub: record.subject,
    iat: nowSec,
    exp: nowSec + policy.tokenTtlSec,
    auth_time: nowSec,
    jti: newTokenId(),
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
  config.emit({ type: 'verify.succeeded', ...base, purpose: record.purpose, channel: record.channel, to: record.to, jti: claims.jti });
  return { token, claims, expiresIn: policy.tokenTtlSec };
}

function message(config: StepUpConfig, record: ChallengeRecord, to: string, code: string) {
  const ttlSeconds = Math.max(1, Math.round((record.expiresAt - config.clock()) / 1000));
  const text = renderMessage({ brand: config.brand, purpose: record.purpose, code, ttlSeconds, webOtpDomain: config.webOtpDomain });
  return { to, code, text, purpose: record.purpose, locale: record.locale, challengeId: record.id, ttlSeconds };
}

function view(record: ChallengeRecord): ChallengeView {
  return {
    challengeId: record.id,
    purpose: record.purpose,
    channel: record.channel,
    to: record.to,
    expiresAt: new Date(record.expiresAt).toISOString(),
    resendAfter: new Date(record.nextSendAt).toISOString(),
    sendsLeft: Math.max(0, record.maxSends - record.sends),
    attemptsLeft: Math.max(0, record.maxAttempts - record.attempts),
  };
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
