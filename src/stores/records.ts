/** The records a store keeps and the inputs its methods take; `store.ts` gives them with the contract. */
import type { Transport } from '../channels/channel.js';

/** A send by a hosted channel, whose provider made the code and checks it. */
export interface HostedSend {
  /** The channel's name. */
  channel: string;
  /** The provider's id for the verification, which its check takes. */
  id: string;
}

/**
 * A challenge as the store keeps it. It holds no code (only keyed digests) and no
 * phone number in clear (only a sealed copy, for resends and fallbacks). A store keeps
 * it as it likes (the RedisStore as one hash, in its codec) and gives it back as given.
 */
export interface ChallengeRecord {
  id: string;
  subject: string;
  purpose: string;
  /** Keyed hash of the session binding; absent when unbound. */
  binding?: string;
  /** Hash of the bound transaction; absent when none. */
  txn?: string;
  /** Channel of the last send, and its transport. */
  channel: string;
  transport: Transport;
  /** `pepperId:hex` digests of the live codes; empty once expired or locked, or for hosted channels. */
  digests: string[];
  /** The hosted sends whose provider checks the code. */
  hosted: HostedSend[];
  attempts: number;
  maxAttempts: number;
  sends: number;
  maxSends: number;
  /** Epoch milliseconds. */
  createdAt: number;
  expiresAt: number;
  nextSendAt: number;
  /** The provider's id of the last message (absent until a send returns one), its send time (ms) and its delivery status (absent until one arrives). */
  messageId?: string;
  sentAt: number;
  deliveryStatus?: DeliveryStatus;
  /** AES-GCM sealed E.164 number. */
  sealedPhone: string;
  /** AES-GCM sealed `{ amount, currency, payee }` that payment messages state; absent when none. */
  sealedPayment?: string;
  /** Masked number, for views and events. */
  to: string;
  locale: string;
  /** Factors checked before this challenge in the same event (for `amr`). */
  otherFactors: string[];
  /** A configured test number: nothing is sent, a fixed code is accepted. */
  testNumber: boolean;
  locked: boolean;
}

/** Who may touch a challenge: its subject, from the session it is bound to. */
export interface ChallengeOwner {
  subject: string;
  /** Keyed hashes of the caller's binding, one per live pepper; empty when the caller has none. */
  bindingHashes: string[];
  now: number;
}

/**
 * A subject's wrong codes across all of its challenges (R-D2), counted by the same atomic
 * step that checks a code: at `max` nothing verifies until the window ends; a right code
 * clears the count. The store keeps it in the slot of the subject's challenges.
 */
export interface FailureLimit {
  /** The counter's name: a keyed hash of the subject, never the subject itself (R-J12). */
  key: string;
  /** 0: nothing is counted or refused (the record is still kept beside the challenges). */
  max: number;
  /** The window starts at the first failure after a clear. */
  windowMs: number;
  /** The caller's clock (ms). */
  now: number;
}

/**
 * What the verify that consumed a challenge leaves in it: a retry of the same right code by the
 * same owner, while the challenge lives, gets the same token back (its answer may have been
 * lost to a timeout after the store had consumed the challenge).
 */
export interface VerifyReceipt {
  /** The token id issued for the challenge: a one-time guard accepts it once, however often it is issued. */
  jti: string;
  /** Epoch ms of the verify that consumed it: the token's `iat` and `auth_time`. */
  verifiedAt: number;
}

/** What a consumed challenge still has to say: the token's claims and the events need no more (nor a store to send more). */
export type VerifiedChallenge = Pick<ChallengeRecord, 'id' | 'subject' | 'purpose' | 'txn' | 'channel' | 'transport' | 'to' | 'otherFactors' | 'testNumber'>;

export interface ResendInput {
  /** Digest of the new code (a hosted channel's send drops it again: its provider makes its own). */
  digest: string;
  /**
   * Wait after this send before the next one. A list grows with the sends: after the n-th
   * send of the challenge the wait is the n-th entry, the last one repeating.
   */
  cooldownMs: number | readonly number[];
  /** Keep earlier codes valid beside the new one (otherwise the new code replaces them). */
  keepEarlier: boolean;
}

export interface DeliveryRecord {
  channel: string;
  transport: Transport;
  /** Absent when the channel returned none. */
  messageId?: string;
  sentAt: number;
  /** For a hosted channel, whose provider made the code: the provider's verification id. */
  hostedId?: string;
  /** With `hostedId`: the digest of our own code, which was never sent and must not stay valid. */
  dropDigest?: string;
  /** Keep earlier hosted sends valid beside this one (otherwise this send's code replaces them). */
  keepEarlier: boolean;
  /**
   * The message's fact, written with the record: `key` names the message id, the value is
   * the challenge id, so that a webhook finds the challenge. Only while the challenge exists
   * (a store may still write it when the challenge is gone: it then names nothing).
   */
  messageFact?: { key: string; ttlMs: number };
}

export type DeliveryStatus = 'sent' | 'delivered' | 'read' | 'failed';

/** A counter of events in a fixed window that starts with its first event. */
export interface CounterHit {
  key: string;
  windowMs: number;
}

/** A counter a start moves; with `max` (1 or more), a count past it refuses the start. */
export interface LimitedHit extends CounterHit {
  max?: number;
}

/**
 * What a new challenge must pass before it is stored (R-I1): its send counters, all
 * counted, and its subject's wrong codes. With them the store reads what the start needs
 * to know (counters read without counting, facts).
 */
export interface Admission {
  hits: LimitedHit[];
  reads: string[];
  facts: string[];
  /** The subject's wrong codes: at `max` (when not 0) the challenge is not stored. */
  failures: FailureLimit;
}

export interface CounterState {
  /** Events in the current window (0 when none). */
  count: number;
  /** Milliseconds until the window ends (0 when none is running). */
  resetInMs: number;
}
