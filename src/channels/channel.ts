/** How a message travels; decides the token's `amr` (`otp` for WhatsApp and RCS, `sms` for SMS) and `acr`. */
export type Transport = 'whatsapp' | 'sms' | 'rcs';

export const TRANSPORTS: readonly Transport[] = ['whatsapp', 'sms', 'rcs'];

/** What the core hands a channel to deliver. */
export interface OutgoingMessage {
  /** E.164 destination. */
  to: string;
  /** The digits, for channels that place them in a template parameter. Empty for hosted channels. */
  code: string;
  /** Full message text, for channels that carry free text (SMS, RCS, outbox). */
  text: string;
  purpose: string;
  locale: string;
  challengeId: string;
  /** Seconds the code stays valid, for template expiry lines and message TTLs. */
  ttlSeconds: number;
}

export interface SendReceipt {
  /** The provider's message id (a `wamid`, a Twilio `sid`, a Message Central verification id), kept for webhooks and hosted checks. */
  messageId?: string;
}

/**
 * A delivery channel. `send` resolves once the provider accepted the message (accepted
 * is not delivered) and rejects on any failure, which makes the core fall back to the
 * next channel; a {@link ChannelError} says whether the failure is the recipient's
 * (fall back) or the configuration's (fall back, and report loudly). It must honour
 * `signal`: the core aborts slow sends.
 */
export interface Channel {
  /** Unique among the configured channels; shown to users and carried as `chn`. */
  readonly name: string;
  readonly transport: Transport;
  /**
   * The channel keeps the codes it sends where the app can read them (the development
   * outbox): `createStepUp` refuses it under NODE_ENV=production unless `allowOutboxInProduction`.
   */
  readonly keepsCodes?: boolean;
  send(message: OutgoingMessage, signal: AbortSignal): Promise<SendReceipt>;
}

/** The provider's verdict on a code, for hosted channels. */
export type HostedVerdict = 'approved' | 'wrong_code' | 'expired' | 'already_verified' | 'unknown';

/**
 * A channel whose provider makes and checks the code (Message Central Verify Now). The
 * core still counts attempts, consumes once and checks binding in its store; it asks the
 * provider only whether the code is right.
 */
export interface HostedChannel extends Channel {
  readonly hosted: true;
  check(messageId: string, code: string, signal: AbortSignal): Promise<HostedVerdict>;
}

export function isHostedChannel(channel: Channel): channel is HostedChannel {
  return (channel as Partial<HostedChannel>).hosted === true && typeof (channel as Partial<HostedChannel>).check === 'function';
}

// Brand, not class identity: channel modules and the core may come from different copies (ESM/CJS builds).
const BRAND = Symbol.for('whatsapp-stepup/ChannelError');

export interface ChannelErrorDetails {
  /** `fallback`: the recipient or the provider failed this time. `configuration`: our setup is wrong (token, template, account). */
  kind: 'fallback' | 'configuration';
  /** The provider's own error code, for operators. Never holds a secret or a phone number. */
  providerCode?: string | number;
  /** The provider says the number has no WhatsApp account: go straight to the next channel next time. */
  notOnWhatsApp?: boolean;
  /** The provider says to wait this many seconds (rate limit). */
  retryAfter?: number;
}

/**
 * A provider failure, with a message safe to log: channels build it from the provider's
 * error code and their own words, never from request data, tokens or numbers.
 */
export class ChannelError extends Error {
  readonly details: Readonly<ChannelErrorDetails>;

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }

  constructor(message: string, details: ChannelErrorDetails) {
    super(message);
    this.name = 'ChannelError';
    this.details = Object.freeze({ ...details });
    Object.defineProperty(this, BRAND, { value: true });
  }
}
