import { derivePepperKeys, type PepperKeys } from './codes.js';
import { durationOr, parseDuration } from '../lib/duration.js';
import { booleanOr, describe, integerIn, rejectUnknown as rejectUnknownKeys, requireObject } from '../lib/validate.js';
import { createEventSink, type EventSink } from './events.js';
import { operatorLogger, resolveLogger, type StepUpLogger } from './logger.js';
import { resolveMetrics } from './metrics.js';
import { resolveLimits, type LimitsConfig } from './limits.js';
import { checkCountryCode, normalizePhone, NUMBER_TYPES, type PhoneRules } from './phone.js';
import { GENERATE_SECRET, readSecret, type SeenSecrets } from './secret-strength.js';
import { resolveTokenConfig, type TokenConfig } from './tokens.js';
import { isHostedChannel, TRANSPORTS, type Channel, type HostedChannel, type Transport } from '../channels/channel.js';
import type { ChallengeStore } from '../stores/store.js';
import type { PurposePolicy, Secret, SendOptions, StepUpOptions } from './types.js';

export interface ResolvedPurpose {
  name: string;
  tokenTtlSec: number;
  maxAttempts: number;
  requireTransaction: boolean;
  oneTime: boolean;
  /** Anyone may start it by naming an account: its challenges spend the anonymous budgets. */
  anonymous: boolean;
}

/** Options parsed once into a frozen config; nothing downstream re-validates. */
export interface StepUpConfig {
  store: ChallengeStore;
  channels: readonly Channel[];
  /** The channels whose provider makes and checks the code; verify asks them, when any. */
  hostedChannels: readonly HostedChannel[];
  tokens: TokenConfig;
  /** The first is current; the rest still verify challenges made before a rotation. */
  peppers: readonly PepperKeys[];
  codeLength: number;
  codeTtlMs: number;
  /** Waits after the 1st, 2nd, ... send of a challenge; the last repeats. */
  sendCooldownsMs: readonly number[];
  sendsPerChallenge: number;
  sendTimeoutMs: number;
  keepEarlierCodes: boolean;
  fallbackAfterMs: number | undefined;
  rememberNotOnWhatsAppMs: number;
  /** E.164 → fixed code. */
  testNumbers: ReadonlyMap<string, string>;
  purposes: ReadonlyMap<string, ResolvedPurpose>;
  phone: PhoneRules;
  brand: string;
  webOtpDomain: string | undefined;
  limits: LimitsConfig;
  beforeSend: StepUpOptions['beforeSend'];
  emit: EventSink;
  /** Problems that are not events (a misconfigured channel): the app's logger, else the console. */
  log: Pick<StepUpLogger, 'error'>;
  clock: () => number;
}

const KNOWN = [
  'store', 'channels', 'tokens', 'pepper', 'code', 'sends', 'purposes', 'phones', 'brand', 'webOtpDomain', 'onEvent', 'clock',
  'allowMemoryStoreInProduction', 'allowOutboxInProduction', 'testNumbers', 'allowTestNumbersInProduction', 'logger', 'metrics', 'limits', 'beforeSend',
];

/** Presets; an app may override any field or add purposes of its own. */
const PRESETS: Record<string, PurposePolicy> = {
  login: { tokenTtl: '15m', oneTime: false },
  payment: { tokenTtl: '5m', requireTransaction: true, oneTime: true, maxAttempts: 5 },
  'password-reset': { tokenTtl: '10m', oneTime: true, anonymous: true },
};

const PRESET_FLAG_WORDS = { oneTime: 'one-time', requireTransaction: 'transaction-bound', anonymous: 'anonymous (its budgets are apart from the user\'s own)' } as const;

/** Upper bounds of token lifetimes (SECURITY-REQUIREMENTS R-B7). */
const MAX_TOKEN_TTL = { transaction: 300, oneTime: 600, other: 900 };
const MAX_CODE_TTL_SEC = 600;
export const PURPOSE_NAME = /^[a-z][a-z0-9_-]{0,31}$/;
const CHANNEL_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

export function resolveOptions(options: StepUpOptions): StepUpConfig {
  if (!options || typeof options !== 'object') throw new TypeError('createStepUp needs an options object; see the README for a complete example.');
  rejectUnknown(options, KNOWN, 'createStepUp options');
  const store = resolveStore(options);
  const channels = resolveChannels(options);
  // One record of every secret read, so that no pepper repeats a token secret or another pepper.
  const secrets: SeenSecrets = new Map();
  const tokens = resolveTokenConfig(options.tokens, secrets);
  const peppers = resolvePeppers(options.pepper, secrets);

  const code = options.code ?? {};
  rejectUnknown(code, ['length', 'ttl', 'maxAttempts'], 'code');
  const codeLength = integerIn(code.length, 6, 10, 6, 'code.length');
  const codeTtlSec = durationOr(code.ttl, 300, 'code.ttl');
  if (codeTtlSec > MAX_CODE_TTL_SEC || codeTtlSec < 30) {
    throw new TypeError(`\`code.ttl\` must be from 30 seconds to 10 minutes (received ${codeTtlSec} s); NIST SP 800-63B caps a code's life at 10 minutes. Omit it to use '5m'.`);
  }
  const defaultAttempts = integerIn(code.maxAttempts, 1, 10, 5, 'code.maxAttempts');

  const sends = options.sends ?? {};
  rejectUnknown(sends, ['cooldown', 'maxPerChallenge', 'timeout', 'keepEarlierCodes', 'fallbackAfter', 'rememberNotOnWhatsApp'], 'sends');
  const sendCooldownsMs = resolveCooldowns(sends.cooldown);
  const sendsPerChallenge = integerIn(sends.maxPerChallenge, 1, 10, 3, 'sends.maxPerChallenge');
  const sendTimeoutMs = durationOr(sends.timeout, 10, 'sends.timeout') * 1000;
  const keepEarlierCodes = booleanOr(sends.keepEarlierCodes, false, 'sends.keepEarlierCodes');
  const fallbackAfterMs = sends.fallbackAfter === undefined ? undefined : parseDuration(sends.fallbackAfter, 'sends.fallbackAfter') * 1000;
  if (fallbackAfterMs !== undefined && fallbackAfterMs >= codeTtlSec * 1000) {
    throw new TypeError(`\`sends.fallbackAfter\` must be shorter than \`code.ttl\` (${codeTtlSec} s), or the fallback would come after the code expired.`);
  }
  const rememberNotOnWhatsAppMs = durationOr(sends.rememberNotOnWhatsApp, 30 * 86400, 'sends.rememberNotOnWhatsApp') * 1000;

  const purposes = resolvePurposes(options.purposes, defaultAttempts);
  const phone = resolvePhones(options.phones);
  const brand = options.brand ?? 'Your app';
  if (typeof brand !== 'string' || brand.trim() === '' || brand.length > 40) {
    throw new TypeError(`\`brand\` must be a name of 1 to 40 characters shown in messages (received ${describe(brand)}).`);
  }
  const webOtpDomain = options.webOtpDomain;
  if (webOtpDomain !== undefined && (typeof webOtpDomain !== 'string' || !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/.test(webOtpDomain))) {
    throw new TypeError(`\`webOtpDomain\` must be a lower-case host name such as 'app.example.com', without scheme or port (received ${describe(webOtpDomain)}).`);
  }
  if (options.onEvent !== undefined && typeof options.onEvent !== 'function') throw new TypeError('`onEvent` must be a function (event) => void.');
  if (options.clock !== undefined && typeof options.clock !== 'function') throw new TypeError('`clock` must be a function returning epoch milliseconds. Omit it to use Date.now.');
  const clock = options.clock ?? Date.now;
  const testNumbers = resolveTestNumbers(options, codeLength, phone);
  const logger = resolveLogger(options.logger);
  const metrics = resolveMetrics(options.metrics);
  const limits = resolveLimits(options.limits);
  const beforeSend = options.beforeSend;
  if (beforeSend !== undefined && typeof beforeSend !== 'function') {
    throw new TypeError('`beforeSend` must be a function (context) => boolean | void, or a Promise of one; return false to refuse a send.');
  }

  return Object.freeze({
    store, channels, hostedChannels: channels.filter(isHostedChannel), tokens, peppers, codeLength, codeTtlMs: codeTtlSec * 1000, sendCooldownsMs, sendsPerChallenge, sendTimeoutMs, limits, beforeSend,
    keepEarlierCodes, fallbackAfterMs, rememberNotOnWhatsAppMs, testNumbers, purposes, phone, brand, webOtpDomain, emit: createEventSink({ onEvent: options.onEvent, logger, metrics }, clock), log: operatorLogger(logger), clock,
  });
}

/** One wait, or a list that grows with the resends; each at most 10 minutes (a code's longest life). */
function resolveCooldowns(value: SendOptions['cooldown']): number[] {
  if (value === undefined) return [30_000, 60_000, 120_000];
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0 || list.length > 10) {
    throw new TypeError("`sends.cooldown` must be a duration or a list of 1 to 10 durations such as ['30s', '60s', '120s'].");
  }
  return list.map((wait, index) => {
    const seconds = parseDuration(wait, Array.isArray(value) ? `sends.cooldown[${index}]` : 'sends.cooldown');
    if (seconds > MAX_CODE_TTL_SEC) throw new TypeError(`\`sends.cooldown\` waits must be at most 10 minutes (received ${seconds} s).`);
    return Math.round(seconds * 1000);
  });
}

function resolveStore(options: StepUpOptions): ChallengeStore {
  const store = options.store;
  const methods = ['create', 'verify', 'reserveResend', 'recordDelivery', 'delete', 'consumeOnce'] as const;
  if (!store || typeof store !== 'object' || methods.some((method) => typeof store[method] !== 'function')) {
    throw new TypeError('`store` is required: new RedisStore({ client: new Redis(url) }) in production, or new MemoryStore() for development.');
  }
  if (store.ephemeral && process.env.NODE_ENV === 'production' && options.allowMemoryStoreInProduction !== true) {
    throw new TypeError(
      'A MemoryStore was given with NODE_ENV=production: it forgets challenges on restart and is not shared between processes. Use new RedisStore({ client }), or pass allowMemoryStoreInProduction: true if you really run one process.',
    );
  }
  return store;
}

function resolveTestNumbers(options: StepUpOptions, codeLength: number, rules: PhoneRules): Map<string, string> {
  const entries = options.testNumbers;
  const allowInProduction = booleanOr(options.allowTestNumbersInProduction, false, 'allowTestNumbersInProduction');
  if (entries === undefined) return new Map();
  if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) {
    throw new TypeError("`testNumbers` must be an object of E.164 number to fixed code, such as { '+15005550006': '123456' }.");
  }
  if (process.env.NODE_ENV === 'production' && !allowInProduction) {
    throw new TypeError('`testNumbers` was given with NODE_ENV=production: they accept a fixed code. Remove them, or pass allowTestNumbersInProduction: true for an app-store review build.');
  }
  const numbers = new Map<string, string>();
  // Keys are named by their last two characters only: a test number may be someone's real number.
  for (const [number, code] of Object.entries(entries)) {
    const key = `'…${number.slice(-2)}'`;
    const which = `\`testNumbers\` key ${key}`;
    let e164: string;
    let country: string | undefined;
    try {
      ({ e164, country } = normalizePhone(number, { ...rules, allowCountries: undefined, denyTypes: new Set(), countriesByTransport: new Map() }));
    } catch {
      throw new TypeError(`${which} is not a valid phone number; use E.164 such as '+15005550006'.`);
    }
    if (rules.allowCountries && (!country || !rules.allowCountries.has(country))) {
      throw new TypeError(`${which} is in a country missing from \`phones.allowCountries\`: no challenge could ever use it. Add the country or remove the number.`);
    }
    if (numbers.has(e164)) throw new TypeError(`${which} is the same number as an earlier key (after normalizing to E.164); give each number once.`);
    if (typeof code !== 'string' || !new RegExp(`^\\d{${codeLength}}$`).test(code)) {
      throw new TypeError(`\`testNumbers\` codes must be strings of exactly ${codeLength} digits (\`code.length\`), such as '${'1'.repeat(codeLength)}'; the code of key ${key} is not.`);
    }
    numbers.set(e164, code);
  }
  return numbers;
}

function resolveChannels(options: StepUpOptions): Channel[] {
  const channels: unknown = options.channels;
  const allowOutbox = booleanOr(options.allowOutboxInProduction, false, 'allowOutboxInProduction');
  if (!Array.isArray(channels) || channels.length === 0) {
    throw new TypeError('`channels` must be a non-empty array in fallback order, such as [whatsapp, sms]; use [new OutboxChannel()] in development.');
  }
  const names = new Set<string>();
  for (const [index, channel] of channels.entries()) {
    const candidate = channel as Partial<Channel> | null;
    if (!candidate || typeof candidate !== 'object' || typeof candidate.send !== 'function') {
      throw new TypeError(`\`channels[${index}]\` is not a channel: it needs a name, a transport and a send(message, signal) method.`);
    }
    if (typeof candidate.name !== 'string' || !CHANNEL_NAME.test(candidate.name)) {
      throw new TypeError(`\`channels[${index}].name\` must be lower-case letters, digits, '-' or '_' (received ${describe(candidate.name)}).`);
    }
    if (!TRANSPORTS.includes(candidate.transport as Transport)) {
      throw new TypeError(`\`channels[${index}]\` has the unknown transport ${describe(candidate.transport)}; it must be one of ${TRANSPORTS.join(', ')}.`);
    }
    if (names.has(candidate.name)) throw new TypeError(`Two channels are named '${candidate.name}'; channel names must be unique.`);
    if (candidate.keepsCodes === true && process.env.NODE_ENV === 'production' && !allowOutbox) {
      throw new TypeError(
        `\`channels[${index}]\` is an OutboxChannel with NODE_ENV=production: it delivers nothing and keeps every code in memory, where the app can read it. Use a real channel (whatsappCloudChannel, twilioChannel), or pass allowOutboxInProduction: true for a staging build that runs with NODE_ENV=production.`,
      );
    }
    names.add(candidate.name);
  }
  return [...channels] as Channel[];
}

function resolvePeppers(pepper: Secret | { id: string; secret: Secret }[] | undefined, seen: SeenSecrets): PepperKeys[] {
  const list = Array.isArray(pepper) ? pepper : pepper === undefined ? [] : [{ id: 'p1', secret: pepper }];
  if (list.length === 0) {
    throw new TypeError(
      `\`pepper\` is required: a server secret of at least 32 random bytes that keys the codes' hashes, kept out of Redis. ${GENERATE_SECRET}`,
    );
  }
  const ids = new Set<string>();
  return list.map((entry, index) => {
    const option = Array.isArray(pepper) ? `pepper[${index}]` : 'pepper';
    if (!entry || typeof entry !== 'object' || typeof entry.id !== 'string' || !/^[A-Za-z0-9_-]{1,16}$/.test(entry.id)) {
      throw new TypeError(`\`${option}.id\` must be 1 to 16 letters, digits, '-' or '_'.`);
    }
    if (ids.has(entry.id)) throw new TypeError(`\`${option}.id\` repeats '${entry.id}'; pepper ids must be unique.`);
    ids.add(entry.id);
    return derivePepperKeys(entry.id, readSecret(entry.secret, Array.isArray(pepper) ? `${option}.secret` : option, seen));
  });
}

function resolvePurposes(custom: Record<string, PurposePolicy> | undefined, defaultAttempts: number): Map<string, ResolvedPurpose> {
  if (custom !== undefined && (typeof custom !== 'object' || custom === null || Array.isArray(custom))) {
    throw new TypeError("`purposes` must be an object such as { 'change-email': { tokenTtl: '5m', oneTime: true } }.");
  }
  const merged: Record<string, PurposePolicy> = { ...PRESETS };
  for (const [name, policy] of Object.entries(custom ?? {})) {
    const preset = PRESETS[name];
    // A preset's name carries its protections: code that guards 'payment' trusts that such
    // tokens are transaction-bound and single-use. Weaken them under another name, not this one.
    // An anonymous preset spends budgets apart from the user's; turned off, anyone could lock the user out.
    for (const flag of ['oneTime', 'requireTransaction', 'anonymous'] as const) {
      if (preset?.[flag] === true && policy && typeof policy === 'object' && policy[flag] === false) {
        throw new TypeError(`\`purposes['${name}'].${flag}\` cannot be false: the preset '${name}' is ${PRESET_FLAG_WORDS[flag]}. Define a purpose with another name if you need a weaker policy.`);
      }
    }
    merged[name] = { ...preset, ...policy };
  }
  const resolved = new Map<string, ResolvedPurpose>();
  for (const [name, policy] of Object.entries(merged)) {
    const option = `purposes['${name}']`;
    if (!PURPOSE_NAME.test(name)) throw new TypeError(`Purpose names must be lower-case letters, digits, '-' or '_', starting with a letter (received ${describe(name)}).`);
    rejectUnknown(policy, ['tokenTtl', 'maxAttempts', 'requireTransaction', 'oneTime', 'anonymous'], option);
    const requireTransaction = booleanOr(policy.requireTransaction, false, `${option}.requireTransaction`);
    const oneTime = booleanOr(policy.oneTime, false, `${option}.oneTime`);
    const anonymous = booleanOr(policy.anonymous, false, `${option}.anonymous`);
    const tokenTtlSec = durationOr(policy.tokenTtl, 300, `${option}.tokenTtl`);
    const limit = requireTransaction ? MAX_TOKEN_TTL.transaction : oneTime ? MAX_TOKEN_TTL.oneTime : MAX_TOKEN_TTL.other;
    if (tokenTtlSec > limit) {
      throw new TypeError(`\`${option}.tokenTtl\` may be at most ${limit} seconds for this kind of purpose (received ${tokenTtlSec}); step-up tokens must be short-lived.`);
    }
    const maxAttempts = integerIn(policy.maxAttempts, 1, requireTransaction ? 5 : 10, Math.min(defaultAttempts, requireTransaction ? 5 : 10), `${option}.maxAttempts`);
    resolved.set(name, Object.freeze({ name, tokenTtlSec, maxAttempts, requireTransaction, oneTime, anonymous }));
  }
  return resolved;
}

function resolvePhones(phones: StepUpOptions['phones']): PhoneRules {
  const denyTypes = resolveDenyTypes(phones?.denyTypes);
  const countriesByTransport = resolveCountriesByTransport(phones?.allowCountriesByTransport);
  if (phones === undefined) return { defaultCountry: undefined, allowCountries: undefined, denyTypes, countriesByTransport };
  rejectUnknown(phones, ['defaultCountry', 'allowCountries', 'denyTypes', 'allowCountriesByTransport'], 'phones');
  const defaultCountry = phones.defaultCountry === undefined ? undefined : checkCountryCode(phones.defaultCountry, 'phones.defaultCountry');
  let allowCountries: Set<string> | undefined;
  if (phones.allowCountries !== undefined) {
    if (!Array.isArray(phones.allowCountries) || phones.allowCountries.length === 0) {
      throw new TypeError("`phones.allowCountries` must be a non-empty array of ISO 3166 countries such as ['ES', 'MX']; omit it to allow every country.");
    }
    allowCountries = new Set(phones.allowCountries.map((country, index) => checkCountryCode(country, `phones.allowCountries[${index}]`)));
  }
  return { defaultCountry, allowCountries, denyTypes, countriesByTransport };
}

function resolveCountriesByTransport(value: unknown): Map<string, Set<string>> {
  const map = new Map<string, Set<string>>();
  if (value === undefined) return map;
  const option = 'phones.allowCountriesByTransport';
  rejectUnknown(value, [...TRANSPORTS], option);
  for (const [transport, countries] of Object.entries(value as Record<string, unknown>)) {
    if (!Array.isArray(countries) || countries.length === 0) {
      throw new TypeError(`\`${option}.${transport}\` must be a non-empty array of ISO 3166 countries such as ['ES', 'MX']; leave the transport out to allow every country.`);
    }
    map.set(transport, new Set(countries.map((country, index) => checkCountryCode(country, `${option}.${transport}[${index}]`))));
  }
  return map;
}

function resolveDenyTypes(value: unknown): ReadonlySet<string> {
  if (value === undefined) return new Set(['PREMIUM_RATE', 'SHARED_COST']);
  const known: readonly string[] = NUMBER_TYPES;
  if (!Array.isArray(value) || value.some((type) => !known.includes(type))) {
    throw new TypeError(`\`phones.denyTypes\` must be an array of number types among ${NUMBER_TYPES.join(', ')} (received ${describe(value)}); [] refuses none.`);
  }
  return new Set(value as string[]);
}

function rejectUnknown(value: unknown, known: string[], where: string): void {
  requireObject(value, where);
  rejectUnknownKeys(value, known, `\`${where}\``);
}
