import type { Channel, OutgoingMessage } from '../channels/channel.js';
import type { StepUpConfig } from './options.js';
import type { ChallengeRecord } from '../stores/store.js';

/**
 * Tries the channels in order from `first`; a failure or a timeout moves on to the next
 * at once. Returns the channel that accepted the message, or undefined when all failed.
 * Provider errors are not passed on: they may hold the phone number.
 */
export async function deliver(
  config: StepUpConfig,
  record: ChallengeRecord,
  message: OutgoingMessage,
  first: number,
): Promise<Channel | undefined> {
  const base = { challengeId: record.id, subject: record.subject, purpose: record.purpose, to: record.to };
  for (let index = first; index < config.channels.length; index++) {
    const channel = config.channels[index]!;
    if (index > first) config.emit({ type: 'delivery.fallback', ...base, channel: channel.name, reason: 'delivery_failed' });
    try {
      await sendWithTimeout(channel, message, config.sendTimeoutMs);
      config.emit({ type: 'delivery.sent', ...base, channel: channel.name });
      return channel;
    } catch {
      config.emit({ type: 'delivery.failed', ...base, channel: channel.name, reason: 'delivery_failed' });
    }
  }
  return undefined;
}

async function sendWithTimeout(channel: Channel, message: OutgoingMessage, timeoutMs: number): Promise<void> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  // The race covers channels that ignore the signal; the abort stops those that honour it.
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort(new Error('send timed out'));
      reject(new Error('send timed out'));
    }, timeoutMs);
  });
  const sending = Promise.resolve().then(() => channel.send(message, controller.signal));
  try {
    await Promise.race([sending, timeout]);
  } finally {
    clearTimeout(timer);
    sending.catch(() => {});
  }
}
