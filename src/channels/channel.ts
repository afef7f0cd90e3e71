/** How a message travels; decides the token's `amr` (`otp` for WhatsApp, `sms` for SMS) and `acr`. */
export type Transport = 'whatsapp' | 'sms';

/** What the core hands a channel to deliver. */
export interface OutgoingMessage {
  /** E.164 destination. */
  to: string;
  /** The digits, for channels that place them in a template parameter. */
  code: string;
  /** Full message text, for channels that carry free text (SMS, outbox). */
  text: string;
  purpose: string;
  locale: string;
  challengeId: string;
  /** Seconds the code stays valid, for template expiry lines and message TTLs. */
  ttlSeconds: number;
}

export interface SendReceipt {
  /** The provider's message id (for example a `wamid`), kept for delivery webhooks. */
  messageId?: string;
}

/**
 * A delivery channel. `send` resolves once the provider accepted the message and
 * rejects on any failure, which makes the core fall back to the next channel.
 * It must honour `signal`: the core aborts slow sends.
 */
export interface Channel {
  /** Unique among the configured channels; shown to users and carried as `chn`. */
  readonly name: string;
  readonly transport: Transport;
  send(message: OutgoingMessage, signal: AbortSignal): Promise<SendReceipt>;
}
