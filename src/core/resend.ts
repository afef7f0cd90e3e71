import { digestCode, generateCode, isChallengeId, openSealed } from './codes.js';
import { askApp, channelIndex, closedError, ownerOf, view } from './challenge.js';
import { deliverCode, unavailableChannels } from './delivery.js';
import { stepUpError } from './errors.js';
import type { StepUpConfig } from './config.js';
import { regionOf } from './phone.js';
import { budgetOf, countSend } from './limits.js';
import type { ChallengeOwner } from '../stores/store.js';
import type { ChallengeView, ResendInput } from './types.js';

/** `resend` of {@link StepUp}: a new code for the caller's challenge, after the cooldown. */
export async function resend(config: StepUpConfig, challengeId: string, input: ResendInput): Promise<ChallengeView> {
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
        phone, subject: record.subject, ip: how.ip, session: record.binding, country: region.callingCode, purpose: record.purpose, budget: budgetOf(config.purposes.get(record.purpose)),
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
