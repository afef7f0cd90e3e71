import { parseDuration, type Duration } from '../../lib/duration.js';
import { describe, rejectUnknown, requireInteger } from '../../lib/validate.js';

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

export interface ConversionRule {
  minSends: number;
  /** Verified codes per send, from 0 to 1. */
  minRate: number;
  window: Duration;
}

/**
 * Whose budget a challenge spends: its user's own (`user`: login, payments, any purpose that
 * needs the user's session), or the one that anyone naming the user shares (`anonymous`).
 */
export type Budget = 'user' | 'anonymous';

export interface ResolvedConversion {
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

export type BudgetLimits = Readonly<Partial<Record<LimitName, ResolvedLimit>>>;

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
  const given = budgetRules(options, 'limits', 5);
  const user = resolveBudget(given, DEFAULTS, 'limits', ['conversion', 'anonymous']);
  const anonymous = resolveBudget(budgetRules(given.anonymous, 'limits.anonymous', 3), ANONYMOUS_DEFAULTS, 'limits.anonymous', []);
  const conversion = resolveConversion(given.conversion);
  return Object.freeze({ user, anonymous, ...(conversion ? { conversion } : {}) });
}

/** A budget's rules as given: an object, or nothing for the defaults. */
function budgetRules(value: unknown, where: string, exampleMax: number): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`\`${where}\` must be an object such as { phone: { max: ${exampleMax}, window: '15m' } }; omit it for the defaults.`);
  }
  return value as Record<string, unknown>;
}

/** A rule's window in ms: from 1 second to 31 days. */
function windowMsOf(window: unknown, option: string): number {
  const windowSec = parseDuration(window, option);
  if (windowSec < 1 || windowSec > 31 * 86400) throw new TypeError(`\`${option}\` must be from 1 second to 31 days (received ${windowSec} s).`);
  return Math.round(windowSec * 1000);
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
    resolved[name] = Object.freeze({ name: where === 'limits' ? name : `anonymous.${name}`, max, windowMs: windowMsOf(window, `${option}.window`) });
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
  return Object.freeze({ minSends, minRate, windowMs: windowMsOf(window, `${option}.window`) });
}
