import { stepUpError } from './errors.js';
import type { Budget, LimitName, ResolvedLimit, StepUpConfig } from './config.js';
import { BUDGET_PREFIX, counterKey, numberName, subjectHash } from './keys.js';
import { callingCodeOfMasked } from './phone.js';
import type { CounterState, LimitedHit } from '../stores/store.js';

// The limits' checks that run per request: what a send counts, and the refusals. Their
// options are parsed by options/limits.ts, their store keys named by keys.ts.

export interface SendContext {
  /** E.164, or '' for a refused number (then only the caller's counters move). */
  phone: string;
  subject: string;
  ip: string | undefined;
  /** The keyed hash of the challenge's binding; absent when unbound. */
  session: string | undefined;
  /** Calling code of the number, such as '34'. */
  country: string | undefined;
  purpose: string;
  /** The budget the send spends: the purpose's ({@link budgetOf}). */
  budget: Budget;
  /** The number's {@link numberName} and the subject's {@link subjectHash}, when the caller has them already. */
  names?: { number: string; subject: string };
}

/**
 * The send counters a send touches. The number's two counters (and its facts) share one
 * keyed name, as the subject's counter shares its failure record's: one HMAC each.
 */
function sendCounters(config: StepUpConfig, context: SendContext): { limit: ResolvedLimit; key: string }[] {
  const limits = config.limits[context.budget];
  const prefix = BUDGET_PREFIX[context.budget];
  const counters: { limit: ResolvedLimit; key: string }[] = [];
  if (context.phone !== '' && (limits.phone || limits.phoneDaily)) {
    const number = context.names?.number ?? numberName(config, context.phone);
    if (limits.phone) counters.push({ limit: limits.phone, key: `${prefix}phone:${number}` });
    if (limits.phoneDaily) counters.push({ limit: limits.phoneDaily, key: `${prefix}phoneDaily:${number}` });
  }
  if (limits.subject && context.subject !== '') {
    counters.push({ limit: limits.subject, key: `${prefix}subject:${context.names?.subject ?? subjectHash(config.peppers[0]!, context.subject)}` });
  }
  const hashed: [LimitName, string | undefined][] = [
    ['ip', context.ip], ['session', context.session], ['prefix', context.phone.slice(0, -4)], ['country', context.country],
  ];
  for (const [name, value] of hashed) {
    const limit = limits[name];
    if (limit && value !== undefined && value !== '') counters.push({ limit, key: counterKey(config, name, value, context.budget) });
  }
  // Per purpose already: a purpose spends one budget only.
  const purpose = config.limits.user.purpose;
  if (purpose && context.purpose !== '') counters.push({ limit: purpose, key: counterKey(config, 'purpose', context.purpose, 'user') });
  return counters;
}

/** A send's counters, for the store, and the judgement of their counts. */
export interface SendLimits {
  /** Counted: the send limits (each with its `max`), then the conversion breaker's sends to the country. */
  hits: LimitedHit[];
  /** Read: the conversion breaker's verified codes of the country. */
  reads: string[];
  /**
   * Refuses the send (`rate_limited`, with the seconds until the tightest window ends)
   * when a count passed its `max` or the country's conversion is under its rate.
   */
  judge(counted: readonly CounterState[], read: readonly CounterState[], base: { challengeId?: string; purpose?: string }): void;
}

/**
 * What one send counts, in every window that applies. Every counter moves, the refused
 * ones too, so the counts stay an upper bound of what was asked. Nothing is sent on a
 * refusal (R-I1).
 */
export function sendLimits(config: StepUpConfig, context: SendContext): SendLimits {
  const counters = sendCounters(config, context);
  const conversion = config.limits.conversion && context.country ? config.limits.conversion : undefined;
  const hits: LimitedHit[] = counters.map(({ key, limit }) => ({ key, windowMs: limit.windowMs, max: limit.max }));
  const reads: string[] = [];
  if (conversion) {
    hits.push({ key: counterKey(config, 'sentTo', context.country!, context.budget), windowMs: conversion.windowMs });
    reads.push(counterKey(config, 'verifiedIn', context.country!, context.budget));
  }
  return {
    hits,
    reads,
    judge(counted, read, base) {
      refuseIfOver(config, counters.map(({ limit }, index) => ({ limit, state: counted[index]! })), base, context);
      if (!conversion) return;
      const sent = counted[counters.length]!;
      const verified = read[0]!;
      if (sent.count > conversion.minSends && verified.count / sent.count < conversion.minRate) {
        config.emit({ type: 'rate.limited', ...base, subject: context.subject || undefined, ip: context.ip, reason: 'rate_limited', limit: 'conversion' });
        throw stepUpError('rate_limited', { retryAfter: Math.max(1, Math.ceil(sent.resetInMs / 1000)) }, 'Codes cannot be sent to this country right now. Try again later.');
      }
    },
  };
}

/** Counts one send ({@link sendLimits}) and refuses it past a limit; for sends after a challenge's first. */
export async function countSend(config: StepUpConfig, context: SendContext, base: { challengeId?: string; purpose?: string }): Promise<void> {
  const limits = sendLimits(config, context);
  if (limits.hits.length === 0) return;
  const [counted, read] = await Promise.all([
    config.store.countHits(limits.hits),
    limits.reads.length === 0 ? [] : config.store.readHits(limits.reads),
  ]);
  limits.judge(counted, read, base);
}

/**
 * Counts a verified code for its country (the calling code, read off the masked number).
 * Not awaited by verify: a lost count only makes the breaker more careful.
 */
export function countConversion(config: StepUpConfig, masked: string, budget: Budget): void {
  const rule = config.limits.conversion;
  if (!rule) return;
  const country = callingCodeOfMasked(masked);
  if (!country) return;
  config.store.countHits([{ key: counterKey(config, 'verifiedIn', country, budget), windowMs: rule.windowMs }]).catch(() => {});
}

/** The budget a purpose's challenges spend. */
export function budgetOf(purpose: { anonymous: boolean } | undefined): Budget {
  return purpose?.anonymous ? 'anonymous' : 'user';
}

/** Refuses a start while the subject is at its budget's limit of wrong codes (R-D2). */
export function refuseIfLockedOut(
  config: StepUpConfig, state: CounterState, base: { purpose: string }, context: { subject: string; ip: string | undefined; budget: Budget },
): void {
  const limit = config.limits[context.budget].failures;
  if (limit && state.count >= limit.max) lockedOut(config, state.resetInMs, base, context);
}

/** `too_many_attempts` for a subject past its budget's limit of wrong codes, with the wait until the window ends. */
export function lockedOut(
  config: StepUpConfig, retryAfterMs: number, base: { challengeId?: string; purpose?: string }, context: { subject: string; ip: string | undefined; budget: Budget },
): never {
  refuse(config, config.limits[context.budget].failures?.name ?? 'failures', retryAfterMs, base, context, 'too_many_attempts');
}

function refuseIfOver(
  config: StepUpConfig,
  counted: { limit: ResolvedLimit; state: CounterState }[],
  base: { challengeId?: string; purpose?: string },
  context: { subject: string; ip: string | undefined },
): void {
  const over = counted.filter(({ limit, state }) => state.count > limit.max);
  if (over.length === 0) return;
  refuse(config, over.map(({ limit }) => limit.name).join(','), Math.max(...over.map(({ state }) => state.resetInMs)), base, context, 'rate_limited');
}

/** Emits `rate.limited` for the limits named and throws `code`, retryable when the tightest window ends. */
function refuse(
  config: StepUpConfig,
  limit: string,
  retryAfterMs: number,
  base: { challengeId?: string; purpose?: string },
  context: { subject: string; ip: string | undefined },
  code: 'rate_limited' | 'too_many_attempts',
): never {
  config.emit({ type: 'rate.limited', ...base, subject: context.subject || undefined, ip: context.ip, reason: code, limit });
  throw stepUpError(code, { retryAfter: Math.max(1, Math.ceil(retryAfterMs / 1000)) }, code === 'too_many_attempts'
    ? 'Too many wrong codes for this account. Try again later.'
    : 'Too many codes were requested. Try again later.');
}
