import { digestCode, generateCode, hashBinding, newChallengeId, sealText } from './codes.js';
import { askApp, channelIndex, optionalText, requireSubject, view } from './challenge.js';
import { channelsClosed, closedByCountry, deliverCode, sealPayment } from './delivery.js';
import { stepUpError } from './errors.js';
import type { StepUpConfig } from './config.js';
import { normalizePhone } from './phone.js';
import { hashTransaction, normalizeTransaction } from './transaction.js';
import { budgetOf, countSend, refuseIfLockedOut, sendLimits } from './limits.js';
import type { Budget } from './config.js';
import { failureLimit, numberFactKey, numberName, subjectHash } from './keys.js';
import { slotTagOf, type ChallengeRecord } from '../stores/store.js';
import type { ChallengeView, StartInput } from './types.js';

/** Expired challenges linger this long (without their code) so that a late verify hears `challenge_expired`. */
const EXPIRED_GRACE_MS = 5 * 60_000;

/** `start` of {@link StepUp}: a new challenge, its code sent to the number on file. */
export async function start(config: StepUpConfig, input: StartInput): Promise<ChallengeView> {
  if (!input || typeof input !== 'object') throw stepUpError('invalid_request');
  const subject = requireSubject(input.subject);
  const policy = config.purposes.get(input.purpose);
  if (!policy) throw stepUpError('invalid_request', {}, 'Unknown purpose.');
  if (policy.requireTransaction && input.transaction === undefined) {
    throw stepUpError('invalid_request', {}, 'This purpose needs the transaction to approve, with its record\'s `transaction.id`.');
  }
  const transaction = input.transaction === undefined ? undefined : normalizeTransaction(input.transaction, { requireId: policy.requireTransaction });
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
  const sealedPayment = sealPayment(pepper, id, transaction);
  const record: ChallengeRecord = {
    id, subject, purpose: policy.name, locale,
    ...(transaction === undefined ? {} : { txn: hashTransaction(transaction) }),
    ...(binding === undefined ? {} : { binding: hashBinding(pepper, binding) }),
    channel: channel.name, transport: channel.transport,
    digests: [digestCode(pepper, id, code)], hosted: [],
    attempts: 0, maxAttempts: policy.maxAttempts, sends: 1, maxSends: config.sendsPerChallenge,
    createdAt: now, expiresAt: now + config.codeTtlMs, nextSendAt: now + config.sendCooldownsMs[0]!,
    sentAt: 0,
    sealedPhone: sealText(pepper, id, phone.e164), to: phone.masked,
    ...(sealedPayment === undefined ? {} : { sealedPayment }),
    otherFactors, testNumber: fixedCode !== undefined, locked: false,
  };
  const event = { challengeId: id, subject, purpose: policy.name, to: phone.masked, country: phone.country, ip: input.ip };
  const limited = { purpose: policy.name };
  // A test number sends nothing: no send counts, nothing to know of the number.
  const number = record.testNumber ? '' : numberName(config, phone.e164);
  const limits = record.testNumber ? undefined : sendLimits(config, {
    phone: phone.e164, subject, ip: input.ip, session: record.binding, country: phone.callingCode, purpose: policy.name, budget, names: { number, subject: subjectKey },
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
    used = await deliverCode(config, { record, phone: phone.e164, code, digest: record.digests[0]!, first: requested ?? 0, explicit: requested !== undefined }, skip);
  } catch (error) {
    await config.store.delete(id).catch(() => {});
    throw error;
  }
  config.emit({ type: 'challenge.started', ...event, channel: used.name });
  return view(config, { ...record, channel: used.name, transport: used.transport }, skip);
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
