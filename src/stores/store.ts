import type { Transport } from '../channels/channel.js';

/**
 * A challenge as the store keeps it. It holds no code (only its keyed digest) and
 * no phone number in clear (only a sealed copy, for resends).
 */
export interface ChallengeRecord {
  id: string;
  subject: string;
  purpose: string;
  /** Keyed hash of the session binding, or '' when unbound. */
  bindingHash: string;
  /** Hash of the bound transaction, or '' when none. */
  txn: string;
  /** Channel of the last send, and its transport. */
  channel: string;
  transport: Transport;
  /** `pepperId:hex` digest of the live code; '' once expired or locked. */
  digest: string;
  attempts: number;
  maxAttempts: number;
  sends: number;
  maxSends: number;
  /** Epoch milliseconds. */
  createdAt: number;
  expiresAt: number;
  nextSendAt: number;
  /** AES-GCM sealed E.164 number. */
  sealedPhone: string;
  /** Masked number, for views and events. */
  to: string;
  locale: string;
  /** Factors checked before this challenge in the same event, comma separated (for `amr`). */
  otherFactors: string;
  locked: boolean;
}

/** Who may touch a challenge: its subject, from the session it is bound to. */
export interface ChallengeOwner {
  subject: string;
  /** Keyed hashes of the caller's binding, one per live pepper; empty when the caller has none. */
  bindingHashes: string[];
  now: number;
}

export type ClosedChallenge = { status: 'not_found' } | { status: 'expired' } | { status: 'locked' };

export type VerifyOutcome =
  | { status: 'ok'; record: ChallengeRecord }
  | { status: 'invalid'; attemptsLeft: number }
  /** This failure used the last attempt; the challenge is locked. */
  | { status: 'locked_now' }
  | ClosedChallenge;

export type ResendOutcome =
  | { status: 'ok'; record: ChallengeRecord }
  | { status: 'exhausted' }
  | { status: 'cooldown'; retryAfterMs: number }
  | ClosedChallenge;

/**
 * Persistence for challenges and one-time token ids. Every method that changes state
 * does all of its checks and its change in one atomic step: that is what makes a code
 * single-use and the attempt count exact under concurrency.
 */
export interface ChallengeStore {
  /** True for stores that lose state on restart and are not shared between processes. */
  readonly ephemeral?: boolean;
  /** Creates a challenge that the store drops `ttlMs` from now. */
  create(record: ChallengeRecord, ttlMs: number): Promise<void>;
  /** Compares one of `digests` with the live code; consumes on success, counts and maybe locks on failure. */
  verify(id: string, owner: ChallengeOwner, digests: string[]): Promise<VerifyOutcome>;
  /** Checks cooldown and send cap, then replaces the live code by `digest` and counts the send. */
  reserveResend(id: string, owner: ChallengeOwner, input: { digest: string; cooldownMs: number }): Promise<ResendOutcome>;
  /** Records which channel delivered the last code. No effect if the challenge is gone. */
  recordDelivery(id: string, delivery: { channel: string; transport: Transport }): Promise<void>;
  /** Removes a challenge. */
  delete(id: string): Promise<void>;
  /** Marks `key` used; false if it was already. The mark lasts `ttlMs`. */
  consumeOnce(key: string, ttlMs: number): Promise<boolean>;
}
