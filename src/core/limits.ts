import { createHmac } from 'node:crypto';
import { parseDuration } from '../lib/duration.js';
import { describe, rejectUnknown, requireInteger } from '../lib/validate.js';
import { stepUpError } from './errors.js';
import { callingCodeOfMasked } from './phone.js';
import type { StepUpConfig } from './options.js';
import type { Duration } from './types.js';
import type { CounterState, FailureLimit, LimitedHit } from '../stores/store.js';
import type { PepperKeys } from './codes.js';

/** At most `max` events per `window`, counted in fixed windows that start at the first event. */
export interface LimitRule {
  max: number;
  window: Duration;
}

export interface LimitsOptions {
  /** Sends to one number. Default 5 per 15 minutes. `false` turns it off. */
  phone?: LimitRule | false;
  /** Sends to one number per day. Default 10 per 24 hours. */
  phoneDaily?: LimitRule | false;
  /** Sends for one subject (user). Default 5 per 15 minutes. */
  subject?: LimitRule | false;
  /** Sends asked from one IP address (when the caller passes `ip`). Default 20 per 15 minutes. */
  ip?: LimitRule | false;
  /** Sends asked from one session (the challenge's `binding`). Default 10 per 15 minutes. */
  session?: LimitRule | false;
  /**
   * Sends to one number range: the E.164 number without its last 4 digits, where SMS
   * pumping walks through neighbouring numbers. Default 20 per hour.
   */
  prefix?: LimitRule | false;
  /** Sends to numbers of one country (calling code). Off by default: size it to your traffic. */
  country?: LimitRule | false;
  /** Sends of one purpose overall, a budget per use case (R-I7). Off by default: size it to your traffic. */
  purpose?: LimitRule | false;
  /**
   * Wrong codes of one subject across all of its challenges (R-D2): past `max`, verify and
   * start answer `too_many_attempts` until the window ends. Default 20 per 24 hours.
   */
  failures?: LimitRule | false;
  /**
   * The circuit breaker of R-I5: once a country (calling code) had `minSends` sends in the
   * window and fewer than `minRate` of them were verified, sends to it stop until the
   * window ends (`rate_limited`, and a `rate.limited` event with `limit: 'conversion'` to
   * alert on). Pumped numbers never verify. Off by default, as a breaker that trips on a
   * quiet country's normal traffic would lock its users out: turn it on with thresholds
   * from your own traffic, such as `{ minSends: 100, minRate: 0.1, window: '1h' }`. The
   * two counts run in windows of their own, so the rate is an approximation.
   */
  conversion?: ConversionRule | false;
  /**
   * The budgets of anonymous purposes (`password-reset`, and any purpose with
   * `anonymous: true`), which anyone can start by naming an account: counted apart from the
   * user's own, so that exhausting them (wrong codes and refused requests included) never
   * delays that user's login or payment (R-D4, R-G3, R-N6). They also bound what anonymous
   * requests can make us send to a number, beside what its user asks for. Each rule here
   * defaults as {@link AnonymousLimitsOptions} says; `purpose` and `conversion` above apply
   * to every purpose, with counters of their own per budget.
   */
  anonymous?: AnonymousLimitsOptions;
}

/** The anonymous budgets: the same rules as {@link LimitsOptions}, with smaller defaults. */
export interface AnonymousLimitsOptions {
  /** Anonymous sends to one number. Default 3 per 15 minutes. */
  phone?: LimitRule | false;
  /** Anonymous sends to one number per day. Default 5 per 24 hours. */
  phoneDaily?: LimitRule | false;
  /** Anonymous sends naming one subject. Default 3 per 15 minutes. */
  subject?: LimitRule | false;
  /** Anonymous sends asked from one IP address. Default 10 per 15 minutes. */
  ip?: LimitRule | false;
  /** Anonymous sends asked from one session. Default 5 per 15 minutes. */
  session?: LimitRule | false;
  /** Anonymous sends to one number range (the number without its last 4 digits). Default 10 per hour. */
  prefix?: LimitRule | false;
  /** Anonymous sends to numbers of one country. Off by default. */
  country?: LimitRule | false;
  /**
   * Wrong codes of anonymous challenges naming one subject: past `max`, only its anonymous
   * purposes answer `too_many_attempts` until the window ends. Default 10 per 24 hours.
   */
  failures?: LimitRule | false;
}

/**
 * Whose budget a challenge spends: its user's own (`user`: login, payments, any purpose that
 * needs the user's session), or the one that anyone naming the user shares (`anonymous`).
 */
export type Budget = 'user' | 'anonymous';

export interface ConversionRule {
  minSends: number;
  /** Verified codes per send, from 0 to 1. */
  minRate: number;
  window: Duration;
}

interface ResolvedConversion {
  minSends: number;
  minRate: number;
  windowMs: number;
}

export type LimitName = 'phone' | 'phoneDaily' | 'subject' | 'ip' | 'session' | 'prefix' | 'country' | 'purpose' | 'failures';

export interface ResolvedLimit {
  /** As `rate.limited` events name it: `phone`, or `anonymous.phone` for an anonymous budget's. */
  name: string;
  max: number;
  windowMs: number;
}

type BudgetLimits = Readonly<Partial<Record<LimitName, ResolvedLimit>>>;

export type LimitsConfig = Readonly<Record<Budget, BudgetLimits> & { conversion?: ResolvedConversion }>;

const DEFAULTS: Record<LimitName, { max: number; window: Duration } | false> = {
  phone: { max: 5, window: '15m' },
  phoneDaily: { max: 10, window: '24h' },
  subject: { max: 5, window: '15m' },
  ip: { max: 20, window: '15m' },
  session: { max: 10, window: '15m' },
  prefix: { max: 20, window: '1h' },
  country: false,
  purpose: false,
  failures: { max: 20, window: '24h' },
};
type AnonymousName = keyof AnonymousLimitsOptions;
const ANONYMOUS_DEFAULTS: Record<AnonymousName, { max: number; window: Duration } | false> = {
  phone: { max: 3, window: '15m' },
  phoneDaily: { max: 5, window: '24h' },
  subject: { max: 3, window: '15m' },
  ip: { max: 10, window: '15m' },
  session: { max: 5, window: '15m' },
  prefix: { max: 10, window: '1h' },
  country: false,
  failures: { max: 10, window: '24h' },
};
/** An example rule for the how-to-fix messages of limits that are off by default. */
const EXAMPLE = { max: 1000, window: '1h' } as const;

export function resolveLimits(options: LimitsOptions | undefined): LimitsConfig {
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    throw new TypeError('`limits` must be an object such as { phone: { max: 5, window: \'15m\' } }; omit it for the defaults.');
  }
  const given = (options ?? {}) as Record<string, unknown>;
  const user = resolveBudget(given, DEFAULTS, 'limits', ['conversion', 'anonymous']);
  const anonymousGiven = given.anonymous ?? {};
  if (typeof anonymousGiven !== 'object' || anonymousGiven === null || Array.isArray(anonymousGiven)) {
    throw new TypeError('`limits.anonymous` must be an object such as { phone: { max: 3, window: \'15m\' } }; omit it for the defaults.');
  }
  const anonymous = resolveBudget(anonymousGiven as Record<string, unknown>, ANONYMOUS_DEFAULTS, 'limits.anonymous', []);
  const conversion = resolveConversion(given.conversion);
  return Object.freeze({ user, anonymous, ...(conversion ? { conversion } : {}) });
}

/** One budget's rules: each given one validated, the others at their defaults. */
function resolveBudget(
  given: Record<string, unknown>, defaults: Partial<Record<LimitName, { max: number; window: Duration } | false>>, where: string, others: string[],
): BudgetLimits {
  const names = Object.keys(defaults) as LimitName[];
  rejectUnknown(given, [...names, ...others], `\`${where}\``);
  const resolved: Partial<Record<LimitName, ResolvedLimit>> = {};
  for (const name of names) {
    const rule = given[name] ?? defaults[name];
    if (rule === false) continue;
    const option = `${where}.${name}`;
    if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) {
      const example = defaults[name] || EXAMPLE;
      throw new TypeError(`\`${option}\` must be { max, window } such as { max: ${example.max}, window: '${example.window}' }, or false to turn it off.`);
    }
    rejectUnknown(rule, ['max', 'window'], `\`${option}\``);
    const { window } = rule as Partial<LimitRule>;
    const max = requireInteger((rule as Partial<LimitRule>).max, 1, 100_000, `${option}.max`, 'a whole number from 1 to 100000');
    const windowSec = parseDuration(window, `${option}.window`);
    if (windowSec < 1 || windowSec > 31 * 86400) throw new TypeError(`\`${option}.window\` must be from 1 second to 31 days (received ${windowSec} s).`);
    resolved[name] = Object.freeze({ name: where === 'limits' ? name : `anonymous.${name}`, max, windowMs: Math.round(windowSec * 1000) });
  }
  return Object.freeze(resolved);
}

function resolveConversion(value: unknown): ResolvedConversion | undefined {
  if (value === false || value === undefined) return undefined;
  const rule = value as Partial<ConversionRule>;
  const option = 'limits.conversion';
  if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) {
    throw new TypeError(`\`${option}\` must be { minSends, minRate, window } such as { minSends: 100, minRate: 0.1, window: '1h' }, or false to turn it off.`);
  }
  rejectUnknown(rule, ['minSends', 'minRate', 'window'], `\`${option}\``);
  const { minRate, window } = rule;
  const minSends = requireInteger(rule.minSends, 1, 1_000_000, `${option}.minSends`, 'a whole number from 1 to 1000000');
  if (typeof minRate !== 'number' || !(minRate > 0 && minRate <= 1)) {
    throw new TypeError(`\`${option}.minRate\` must be a share of verified sends above 0 and at most 1, such as 0.1 (received ${describe(minRate)}).`);
  }
  const windowSec = parseDuration(window, `${option}.window`);
  if (windowSec < 1 || windowSec > 31 * 86400) throw new TypeError(`\`${option}.window\` must be from 1 second to 31 days (received ${windowSec} s).`);
  return Object.freeze({ minSends, minRate, windowMs: Math.round(windowSec * 1000) });
}

/**
 * Store keys of the counters: keyed hashes, so that no number, user id or address is
 * readable in the store (R-J12), each its own key (one Cluster slot each).
 */
function counterKey(config: StepUpConfig, name: LimitName | 'sentTo' | 'verifiedIn', value: string, budget: Budget): string {
  return `${BUDGET_PREFIX[budget]}${name}:${keyedName(config.peppers[0]!, `limit:${name}:${value}`)}`;
}

/** Counters of the anonymous budget are other keys than the user's: nothing anonymous fills a user's. */
const BUDGET_PREFIX: Record<Budget, string> = { user: '', anonymous: 'anon.' };

/**
 * 128 bits of an HMAC under the pepper's binding key, base64url: a key name that tells
 * nothing of what it counts and cannot collide, 32 B smaller in Redis than the whole HMAC.
 */
function keyedName(keys: PepperKeys, input: string): string {
  return createHmac('sha256', keys.binding).update(input).digest().toString('base64url', 0, 16);
}

export interface SendContext {
  /** E.164, or '' for a refused number (then only the caller's counters move). */
  phone: string;
  subject: string;
  ip: string | undefined;
  /** The keyed hash of the challenge's binding, '' when unbound. */
  session: string;
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

/** A keyed hash of a number (E.164): the name of its send counters and of what is known of it. */
export function numberName(config: StepUpConfig, phone: string): string {
  return keyedName(config.peppers[0]!, `phone:${phone}`);
}

/**
 * A keyed hash of the subject under one pepper. Its first characters are the slot tag of the
 * subject's challenges (their ids start with it); the whole names its failure counter and
 * its send counter.
 */
export function subjectHash(keys: PepperKeys, subject: string): string {
  return keyedName(keys, `subject:${subject}`);
}

/**
 * The subject's limit of wrong codes across its challenges (R-D2), for the store. Without
 * the limit, max 0: the store counts nothing but still keeps the record beside the challenges.
 */
export function failureLimit(config: StepUpConfig, hash: string, now: number, budget: Budget): FailureLimit {
  const limit = config.limits[budget].failures;
  return { key: `${BUDGET_PREFIX[budget]}failures:${hash}`, max: limit?.max ?? 0, windowMs: limit?.windowMs ?? 0, now };
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
