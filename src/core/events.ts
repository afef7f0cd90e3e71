import type { StepUpErrorCode, StepUpRejectionReason } from './errors.js';

export type StepUpEventType =
  | 'challenge.started'
  | 'delivery.sent'
  | 'delivery.failed'
  | 'delivery.fallback'
  | 'delivery.status'
  | 'verify.succeeded'
  | 'verify.failed'
  | 'challenge.locked'
  | 'rate.limited'
  | 'token.accepted'
  | 'token.rejected';

/**
 * An audit event. It carries the masked number only, and never a code, a token,
 * a pepper or a secret.
 */
export interface StepUpEvent {
  type: StepUpEventType;
  /** ISO 8601 instant. */
  at: string;
  challengeId?: string;
  subject?: string;
  purpose?: string;
  channel?: string;
  /** Masked phone number. */
  to?: string;
  /** ISO 3166 country of the number, for `challenge.started` (conversion by country, R-M1). */
  country?: string;
  ip?: string;
  /** Error code or guard reason behind a failure. */
  reason?: StepUpErrorCode | StepUpRejectionReason | 'channel_misconfigured' | 'fallback_timeout' | 'not_on_whatsapp';
  /** A provider's delivery status, for `delivery.status`. */
  status?: string;
  /** Milliseconds: the provider's answer for `delivery.*`, from send to status for `delivery.status`. */
  latencyMs?: number;
  /** The challenge is for a configured test number: nothing was sent. */
  testNumber?: boolean;
  attemptsLeft?: number;
  /** For `rate.limited`: the limits that refused, comma separated (a name of `limits`, or `cooldown`, `sends`, `beforeSend`). */
  limit?: string;
  /** Token id, for `token.*` and `verify.succeeded` events. */
  jti?: string;
  /**
   * For `verify.succeeded`: a retry of the right code after the challenge was consumed (its
   * first answer may have been lost); the token is the first one's, with the same `jti`.
   */
  repeated?: boolean;
}
