import { factKeys } from './keys.js';
import { isStepUpError, stepUpError } from './errors.js';
import { openSealed } from './codes.js';
import type { StepUpConfig } from './config.js';
import { sendAgain } from './resend.js';
import { systemOwner, type DeliveryStatus } from '../stores/store.js';

/** A provider's delivery report, as webhooks hand it over. */
export interface DeliveryStatusReport {
  /** The provider's message id (a `wamid`, a Twilio `MessageSid`). */
  messageId: string;
  status: DeliveryStatus;
  /** The provider's error codes, for `failed`. */
  errorCodes?: number[];
  /** The provider says the number has no WhatsApp account: skip WhatsApp for it from now on. */
  notOnWhatsApp?: boolean;
}

export type DeliveryStatusResult = 'applied' | 'fell_back' | 'ignored' | 'unknown';

/** Meta's "not a WhatsApp user" family: remember the number and skip WhatsApp next time. */
const NOT_ON_WHATSAPP = new Set([131026]);

/**
 * Applies a status to the challenge whose latest message it names: forward only (a late
 * `delivered` after `failed`, or the same webhook twice, changes nothing), and a first
 * `failed` sends by the next channel, exactly once across every instance on the store.
 */
export async function handleDeliveryStatus(config: StepUpConfig, report: DeliveryStatusReport): Promise<DeliveryStatusResult> {
  if (!report || typeof report.messageId !== 'string' || report.messageId === '' || !['sent', 'delivered', 'read', 'failed'].includes(report.status)) {
    throw stepUpError('invalid_request', {}, 'A delivery status needs a messageId and a status of sent, delivered, read or failed.');
  }
  const challengeId = await config.store.getFact(factKeys.message(report.messageId));
  if (challengeId === undefined) return 'unknown';
  const outcome = await config.store.applyStatus(challengeId, report.messageId, report.status);
  if (outcome.status !== 'applied' && outcome.status !== 'failed') return 'ignored';
  const record = outcome.record;
  const now = config.clock();
  config.emit({
    type: 'delivery.status', challengeId, subject: record.subject, purpose: record.purpose, channel: record.channel, to: record.to,
    status: report.status, latencyMs: Math.max(0, now - record.sentAt),
  });
  if (report.status === 'delivered' || report.status === 'read') {
    await config.store.cancelFallback(`${challengeId} ${report.messageId}`);
    return 'applied';
  }
  if (outcome.status !== 'failed') return 'applied';
  await config.store.cancelFallback(`${challengeId} ${report.messageId}`);
  if (record.transport === 'whatsapp' && (report.notOnWhatsApp || report.errorCodes?.some((code) => NOT_ON_WHATSAPP.has(code)))) {
    const phone = openSealed(config.peppers, challengeId, record.sealedPhone);
    if (phone) await config.store.setFact(factKeys.notOnWhatsApp(config, phone), '1', config.rememberNotOnWhatsAppMs);
  }
  return (await fallBack(config, challengeId, record.channel, 'delivery_failed')) ? 'fell_back' : 'applied';
}

/** Sends by the channel after `failedChannel`; false when there is none or the challenge cannot take another send. */
async function fallBack(config: StepUpConfig, challengeId: string, failedChannel: string, reason: 'delivery_failed' | 'fallback_timeout'): Promise<boolean> {
  try {
    const view = await sendAgain(config, challengeId, systemOwner(config.clock()), { after: failedChannel });
    config.emit({ type: 'delivery.fallback', challengeId, channel: view.channel, reason });
    return true;
  } catch (error) {
    if (!isStepUpError(error)) throw error;
    if (error.code === 'store_unavailable') throw error;
    // No next channel, challenge closed or out of sends: the user can still resend or start over.
    config.emit({ type: 'delivery.failed', challengeId, channel: failedChannel, reason });
    return false;
  }
}

/**
 * Falls back for every send whose `fallbackAfter` passed without a `delivered` status.
 * Each due entry is claimed by one instance only, and the status script lets only one
 * `failed` through, so a webhook and the timer racing still send once.
 */
export async function runDueFallbacks(config: StepUpConfig, limit = 50): Promise<number> {
  const due = await config.store.claimDueFallbacks(config.clock(), limit);
  let sent = 0;
  for (const entry of due) {
    const [challengeId, messageId] = entry.split(' ') as [string, string];
    const outcome = await config.store.applyStatus(challengeId, messageId, 'failed');
    if (outcome.status !== 'failed') continue;
    if (await fallBack(config, challengeId, outcome.record.channel, 'fallback_timeout')) sent++;
  }
  return sent;
}

/** Polls for due fallbacks while the process runs; the timer never keeps the process alive. */
export function startFallbackWorker(config: StepUpConfig, everyMs: number): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    runDueFallbacks(config)
      .catch(() => {})
      .finally(() => {
        running = false;
      });
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
