import { ChannelError, isHostedChannel, type Channel, type OutgoingMessage } from '../channels/channel.js';
import { isStepUpError, stepUpError } from './errors.js';
import { factKeys, numberFactKey } from './keys.js';
import { openSealed, sealText, type PepperKeys } from './codes.js';
import { renderMessage, type PaymentSummary } from './messages.js';
import { transportAllows } from './phone.js';
import { withTimeout } from '../lib/timeout.js';
import type { Transaction } from './types.js';
import type { StepUpConfig } from './config.js';
import type { ChallengeRecord } from '../stores/store.js';

export interface DeliveryPlan {
  record: ChallengeRecord;
  /** E.164, opened from the challenge's sealed copy. */
  phone: string;
  code: string;
  /** Digest of `code`: dropped from the challenge when a hosted channel sends its own code instead. */
  digest: string;
  /** Index of the first channel to try. */
  first: number;
  /** The user chose this channel: only it is tried, and its failure is reported by name. */
  explicit: boolean;
}

/** Channels the user may still pick for this number: WhatsApp ones are out once the number is known not to have it. */
export async function unavailableChannels(config: StepUpConfig, phone: string, country: string | undefined): Promise<Set<string>> {
  const key = numberFactKey(config, phone);
  return channelsClosed(config, country, key === undefined ? undefined : await config.store.getFact(key));
}

/** {@link unavailableChannels}, given the fact read under {@link numberFactKey}. */
export function channelsClosed(config: StepUpConfig, country: string | undefined, notOnWhatsApp: string | undefined): Set<string> {
  const closed = closedByCountry(config, country);
  if (notOnWhatsApp) for (const channel of config.channels) if (channel.transport === 'whatsapp') closed.add(channel.name);
  return closed;
}

/** Channels whose transport may not send to this number's country (`phones.allowCountriesByTransport`). */
export function closedByCountry(config: StepUpConfig, country: string | undefined): Set<string> {
  if (config.phone.countriesByTransport.size === 0) return new Set();
  return new Set(config.channels.filter((channel) => !transportAllows(config.phone, channel.transport, country)).map((channel) => channel.name));
}

/**
 * Sends the code by the first channel that accepts it, in configured order from
 * `plan.first`; a failure or a timeout moves on at once. Records which message carried
 * the code, so that webhooks and the fallback timer can find the challenge. Provider
 * errors are not passed on to callers: only their safe messages reach the operator.
 * A number found not to have WhatsApp adds every WhatsApp channel to `skip`: the rest
 * of this send passes them over, and the caller's view shows them unavailable.
 */
export async function deliverCode(config: StepUpConfig, plan: DeliveryPlan, skip: Set<string>): Promise<Channel> {
  const { record } = plan;
  const base = { challengeId: record.id, subject: record.subject, purpose: record.purpose, to: record.to };
  // A channel the user chose that cannot take this number (not on WhatsApp, a country its
  // transport may not send to) is not tried: its failure is reported by name below.
  const candidates = plan.explicit
    ? [config.channels[plan.first]!].filter((channel) => !skip.has(channel.name))
    : config.channels.slice(plan.first).filter((channel) => !skip.has(channel.name));
  let retryAfter: number | undefined;
  let tried = 0;
  for (const channel of candidates) {
    if (!plan.explicit && skip.has(channel.name)) continue;
    if (tried++ > 0) config.emit({ type: 'delivery.fallback', ...base, channel: channel.name, reason: 'delivery_failed' });
    const hosted = isHostedChannel(channel);
    const message = outgoing(config, record, plan.phone, hosted ? '' : plan.code);
    const startedAt = Date.now();
    try {
      const receipt = await sendWithTimeout(channel, message, config.sendTimeoutMs);
      const messageId = receipt.messageId ?? '';
      const now = config.clock();
      const remainingMs = Math.max(1, record.expiresAt - now);
      await Promise.all([
        config.store.recordDelivery(record.id, {
          channel: channel.name,
          transport: channel.transport,
          ...(messageId === '' ? {} : { messageId }),
          sentAt: now,
          ...(hosted ? { hostedId: messageId, dropDigest: plan.digest } : {}),
          keepEarlier: config.keepEarlierCodes,
          ...(messageId === '' ? {} : { messageFact: { key: factKeys.message(messageId), ttlMs: remainingMs } }),
        }),
        config.fallbackAfterMs !== undefined && !plan.explicit && hasNext(config, channel, skip) && messageId !== ''
          ? config.store.scheduleFallback(`${record.id} ${messageId}`, now + config.fallbackAfterMs)
          : undefined,
      ]);
      config.emit({ type: 'delivery.sent', ...base, channel: channel.name, latencyMs: Date.now() - startedAt });
      return channel;
    } catch (error) {
      // A store failure after the provider accepted: nothing would record the message. Fail closed.
      if (isStepUpError(error)) throw error;
      const details = error instanceof ChannelError ? error.details : undefined;
      if (details?.kind === 'configuration') {
        // Loud: a misconfigured channel fails every user until someone fixes it.
        config.log.error({ channel: channel.name, reason: 'channel_misconfigured' }, `channel '${channel.name}' is misconfigured: ${(error as Error).message}`);
      }
      if (details?.notOnWhatsApp) {
        await config.store.setFact(factKeys.notOnWhatsApp(config, plan.phone), '1', config.rememberNotOnWhatsAppMs).catch(() => {});
        for (const other of config.channels) if (other.transport === 'whatsapp') skip.add(other.name);
      }
      if (details?.retryAfter !== undefined) retryAfter = Math.max(retryAfter ?? 0, details.retryAfter);
      config.emit({
        type: 'delivery.failed', ...base, channel: channel.name,
        reason: details?.kind === 'configuration' ? 'channel_misconfigured' : 'delivery_failed',
        latencyMs: Date.now() - startedAt,
      });
    }
  }
  if (retryAfter !== undefined) throw stepUpError('rate_limited', { retryAfter: Math.ceil(retryAfter) });
  if (plan.explicit) {
    throw stepUpError('delivery_failed', {}, `The code could not be delivered by ${config.channels[plan.first]!.name}. Try another channel or try again later.`);
  }
  throw stepUpError('delivery_failed');
}

function hasNext(config: StepUpConfig, channel: Channel, skip: ReadonlySet<string>): boolean {
  return config.channels.slice(config.channels.indexOf(channel) + 1).some((next) => !skip.has(next.name));
}

const PAYMENT_LABEL = '#payment';

/** What a payment message states, sealed like the number: a reader of the store sees no amount or payee. */
export function sealPayment(keys: PepperKeys, challengeId: string, transaction: Transaction | undefined): string | undefined {
  const { amount, currency, payee } = transaction ?? {};
  if (typeof amount !== 'string' || typeof currency !== 'string') return undefined;
  const summary: PaymentSummary = { amount, currency, ...(typeof payee === 'string' ? { payee } : {}) };
  return sealText(keys, challengeId, JSON.stringify(summary), PAYMENT_LABEL);
}

function openPayment(config: StepUpConfig, record: ChallengeRecord): PaymentSummary | undefined {
  if (!record.sealedPayment) return undefined;
  const text = openSealed(config.peppers, record.id, record.sealedPayment, PAYMENT_LABEL);
  return text === undefined ? undefined : (JSON.parse(text) as PaymentSummary);
}

function outgoing(config: StepUpConfig, record: ChallengeRecord, to: string, code: string): OutgoingMessage {
  const ttlSeconds = Math.max(1, Math.round((record.expiresAt - config.clock()) / 1000));
  const text = code === '' ? '' : renderMessage({
    brand: config.brand, purpose: record.purpose, code, ttlSeconds, locale: record.locale, webOtpDomain: config.webOtpDomain,
    transaction: openPayment(config, record),
  });
  return { to, code, text, purpose: record.purpose, locale: record.locale, challengeId: record.id, ttlSeconds };
}

function sendWithTimeout(channel: Channel, message: OutgoingMessage, timeoutMs: number) {
  return withTimeout((signal) => channel.send(message, signal), timeoutMs, () => {
    throw new ChannelError('The provider did not answer in time.', { kind: 'fallback', providerCode: 'timeout' });
  });
}
