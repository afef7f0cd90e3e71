import { hashBinding } from './codes.js';
import { stepUpError } from './errors.js';
import type { StepUpConfig } from './config.js';
import type { ChallengeOwner, ChallengeRecord, ClosedChallenge } from '../stores/store.js';
import type { BeforeSendContext, ChallengeView } from './types.js';

// What the operations share: the caller's input checked, the app's beforeSend asked, and the
// challenge as the caller sees it.

/** The app's `beforeSend` check: `false` refuses the send. */
export async function askApp(config: StepUpConfig, context: BeforeSendContext): Promise<void> {
  if (!config.beforeSend) return;
  if ((await config.beforeSend(context)) === false) {
    config.emit({ type: 'rate.limited', subject: context.subject, purpose: context.purpose, challengeId: context.challengeId, ip: context.ip, reason: 'invalid_request', limit: 'beforeSend' });
    throw stepUpError('invalid_request', {}, 'The application refused to send a code now.');
  }
}

export function view(config: StepUpConfig, record: ChallengeRecord, unavailable: ReadonlySet<string>): ChallengeView {
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

export function ownerOf(config: StepUpConfig, input: { subject: unknown; binding?: unknown }): ChallengeOwner {
  const subject = requireSubject(input.subject);
  const binding = optionalText(input.binding, /^[\s\S]{1,1024}$/, 'binding');
  return {
    subject,
    bindingHashes: binding === undefined ? [] : config.peppers.map((keys) => hashBinding(keys, binding)),
    now: config.clock(),
  };
}

export function closedError(outcome: ClosedChallenge) {
  if (outcome.status === 'expired') return stepUpError('challenge_expired');
  if (outcome.status === 'locked') return stepUpError('too_many_attempts');
  return stepUpError('challenge_not_found');
}

export function requireSubject(subject: unknown): string {
  if (typeof subject !== 'string' || subject === '' || subject.length > 256) {
    throw stepUpError('invalid_request', {}, 'The subject must be a non-empty string of at most 256 characters.');
  }
  return subject;
}

export function optionalText(value: unknown, pattern: RegExp, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !pattern.test(value)) throw stepUpError('invalid_request', {}, `The ${name} is not valid.`);
  return value;
}

export function channelIndex(config: StepUpConfig, name: unknown): number | undefined {
  if (name === undefined) return undefined;
  const index = config.channels.findIndex((channel) => channel.name === name);
  if (index < 0) throw stepUpError('invalid_request', {}, 'Unknown channel.');
  return index;
}
