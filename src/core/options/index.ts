import { durationOr, parseDuration } from '../../lib/duration.js';
import { booleanOr, describe, integerIn, requireOptions } from '../../lib/validate.js';
import { createEventSink } from '../event-sink.js';
import { failingClosed } from '../fail-closed.js';
import { operatorLogger, resolveLogger } from '../logger.js';
import { resolveMetrics } from '../metrics.js';
import type { StepUpConfig } from '../config.js';
import type { SeenSecrets } from '../secret-strength.js';
import { isHostedChannel, TRANSPORTS, type Channel, type Transport } from '../../channels/channel.js';
import type { ChallengeStore } from '../../stores/store.js';
import type { SendOptions, StepUpOptions } from '../types.js';
import { resolveLimits } from './limits.js';
import { resolvePeppers } from './peppers.js';
import { resolvePhones } from './phones.js';
import { resolvePurposes } from './purposes.js';
import { resolveTestNumbers } from './test-numbers.js';
import { resolveTokenConfig } from './tokens.js';

// Options are parsed once, here, into the frozen StepUpConfig; each group has its file.

const KNOWN = [
  'store', 'channels', 'tokens', 'pepper', 'code', 'sends', 'purposes', 'phones', 'brand', 'webOtpDomain', 'onEvent', 'clock',
  'allowMemoryStoreInProduction', 'allowOutboxInProduction', 'testNumbers', 'allowTestNumbersInProduction', 'logger', 'metrics', 'limits', 'beforeSend',
];

const MAX_CODE_TTL_SEC = 600;
const CHANNEL_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

export function resolveOptions(options: StepUpOptions): StepUpConfig {
  if (!options || typeof options !== 'object') throw new TypeError('createStepUp needs an options object; see the README for a complete example.');
  requireOptions(options, KNOWN, 'createStepUp options');
  const store = resolveStore(options);
  const channels = resolveChannels(options);
  // One record of every secret read, so that no pepper repeats a token secret or another pepper.
  const secrets: SeenSecrets = new Map();
  const tokens = resolveTokenConfig(options.tokens, secrets);
  const peppers = resolvePeppers(options.pepper, secrets);

  const code = options.code ?? {};
  requireOptions(code, ['length', 'ttl', 'maxAttempts'], 'code');
  const codeLength = integerIn(code.length, 6, 10, 6, 'code.length');
  const codeTtlSec = durationOr(code.ttl, 300, 'code.ttl');
  if (codeTtlSec > MAX_CODE_TTL_SEC || codeTtlSec < 30) {
    throw new TypeError(`\`code.ttl\` must be from 30 seconds to 10 minutes (received ${codeTtlSec} s); NIST SP 800-63B caps a code's life at 10 minutes. Omit it to use '5m'.`);
  }
  const defaultAttempts = integerIn(code.maxAttempts, 1, 10, 5, 'code.maxAttempts');

  const sends = options.sends ?? {};
  requireOptions(sends, ['cooldown', 'maxPerChallenge', 'timeout', 'keepEarlierCodes', 'fallbackAfter', 'rememberNotOnWhatsApp'], 'sends');
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
    throw new TypeError('`store` is required: new RedisStore({ client: new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false }) }) in production, or new MemoryStore() for development.');
  }
  if (store.ephemeral && process.env.NODE_ENV === 'production' && options.allowMemoryStoreInProduction !== true) {
    throw new TypeError(
      'A MemoryStore was given with NODE_ENV=production: it forgets challenges on restart and is not shared between processes. Use new RedisStore({ client }), or pass allowMemoryStoreInProduction: true if you really run one process.',
    );
  }
  return failingClosed(store);
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
