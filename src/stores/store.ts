import type {
  Admission, ChallengeOwner, ChallengeRecord, CounterHit, CounterState, DeliveryRecord, DeliveryStatus, FailureLimit, ResendInput, VerifiedChallenge, VerifyReceipt,
} from './records.js';

/** The records a store keeps and the inputs its methods take. */
export type {
  Admission, ChallengeOwner, ChallengeRecord, CounterHit, CounterState, DeliveryRecord, DeliveryStatus, FailureLimit, HostedSend, LimitedHit, ResendInput, VerifiedChallenge, VerifyReceipt,
} from './records.js';

/**
 * How long the shared set of due fallbacks outlives its last schedule. Every entry falls due
 * within a code's life (at most 10 minutes), so anything older belongs to a dead challenge.
 */
export const DUE_FALLBACKS_TTL_MS = 86_400_000;

/** The library itself acting on a challenge (a fallback): no owner check, no cooldown. */
export function systemOwner(now: number): ChallengeOwner {
  return { subject: '', bindingHashes: [], now };
}

export type ClosedChallenge = { status: 'not_found' } | { status: 'expired' } | { status: 'locked' };

/**
 * The number of characters at the start of a challenge id that name its Cluster hash tag:
 * the tag of its subject, so that the challenge and the subject's failure counter share a
 * slot and one script can check and count both (R-J1, R-J2).
 */
export const SLOT_TAG_LENGTH = 4;

/** The hash tag a challenge id carries. */
export function slotTagOf(id: string): string {
  return id.slice(0, SLOT_TAG_LENGTH);
}

/** What a wrong code's outcome tells of its challenge. A store may leave `purpose` and `channel` out. */
export interface FailedChallenge {
  testNumber?: boolean;
  purpose?: string;
  /** The channel of the last send. */
  channel?: string;
}

/** The subject is past its limit of wrong codes; nothing was compared or counted. */
export type LockedOut = { status: 'locked_out'; retryAfterMs: number };

/** A right code's outcome: the receipt is the first verify's; `repeated` when this one came after it. */
export type VerifiedOutcome = { status: 'ok'; record: VerifiedChallenge; receipt: VerifyReceipt; repeated: boolean };

export type VerifyOutcome =
  | VerifiedOutcome
  /** `testNumber`: the challenge is for a configured test number (its events say so); `purpose` and `channel` are the challenge's, for the events. */
  | ({ status: 'invalid'; attemptsLeft: number } & FailedChallenge)
  /** This failure used the last attempt; the challenge is locked. */
  | ({ status: 'locked_now' } & FailedChallenge)
  | LockedOut
  | ClosedChallenge;

/** A consumed challenge's retry is `ok` at once: the provider has nothing more to check. */
export type HostedCheckOutcome = { status: 'check'; record: ChallengeRecord } | VerifiedOutcome | LockedOut | ClosedChallenge;

export type ResendOutcome =
  | { status: 'ok'; record: ChallengeRecord }
  | { status: 'exhausted'; retryAfterMs: number }
  | { status: 'cooldown'; retryAfterMs: number }
  | ClosedChallenge;

export interface AdmissionOutcome {
  /** False when a hit passed its `max` or the subject is at its failure limit: nothing was stored. */
  created: boolean;
  /** In the order asked. */
  hits: CounterState[];
  reads: CounterState[];
  facts: (string | undefined)[];
  failures: CounterState;
}

export type StatusOutcome =
  /** The status moved forward; `failed` is returned to exactly one caller, which may fall back. */
  | { status: 'applied' | 'failed'; record: ChallengeRecord }
  /** Out of order, repeated, or not the challenge's latest message. */
  | { status: 'ignored' | 'stale' | 'gone' };

/**
 * Persistence for challenges, one-time token ids and delivery bookkeeping. Every method
 * that changes a challenge does all of its checks and its change in one atomic step:
 * that is what makes a code single-use and the attempt count exact under concurrency.
 * A method that cannot do its work rejects, with any error: the service answers
 * `store_unavailable` (503) for every rejection and keeps only the error's message.
 */
export interface ChallengeStore {
  /** True for stores that lose state on restart and are not shared between processes. */
  readonly ephemeral?: boolean;
  /**
   * Creates a challenge that the store drops `ttlMs` from now. With `failures`, the subject's
   * failure record lives at least as long (a Redis Cluster slot in migration serves a
   * two-key script only while both keys exist).
   */
  create(record: ChallengeRecord, ttlMs: number, failures?: FailureLimit): Promise<void>;
  /**
   * A start's store work: counts the admission's hits, reads its counters, facts and the
   * subject's failures, and creates the challenge only when no hit passed its `max` and the
   * subject is under its limit (keeping the failure record beside it where `create` would:
   * on a Cluster). {@link admitInSteps} does it from the other methods.
   */
  admit(record: ChallengeRecord, ttlMs: number, admission: Admission): Promise<AdmissionOutcome>;
  /**
   * Refuses while the subject is at its limit of `failures`; then compares one of `digests` with the live
   * codes: consumes (keeping `receipt` and the matching digest, and nothing else it no longer
   * needs, until the challenge's `expiresAt`) and clears the subject's failures on success,
   * counts both (and maybe locks the challenge) on failure. One atomic step. A consumed
   * challenge answers its owner's retry of the same code with the first receipt (`repeated`),
   * and anything else with `not_found`, counting nothing.
   */
  verify(id: string, owner: ChallengeOwner, digests: string[], failures?: FailureLimit, receipt?: VerifyReceipt): Promise<VerifyOutcome>;
  /**
   * Hosted channels, step one: checks the owner and the subject's failures, and reserves an
   * attempt before the provider is asked. A consumed challenge answers as `verify` does, for
   * `digests` of the code being checked (none: `not_found`).
   */
  beginHostedCheck(id: string, owner: ChallengeOwner, failures?: FailureLimit, digests?: string[]): Promise<HostedCheckOutcome>;
  /**
   * Step two: consumes (keeping `receipt` and its `digest`, of the code the provider approved)
   * and clears the subject's failures on `approved` (one caller wins, the others get its
   * receipt); otherwise counts a subject failure and locks when the reserved attempt was the last.
   */
  finishHostedCheck(id: string, approved: boolean, failures?: FailureLimit, receipt?: VerifyReceipt & { digest: string }): Promise<VerifyOutcome>;
  /** The subject's failure count and the rest of its window, kept in the slot named by `slotTag` (that of the subject's challenges). */
  readFailures(slotTag: string, failures: FailureLimit): Promise<CounterState>;
  /** Checks cooldown (not for the system owner) and send cap, then installs the new code and counts the send. */
  reserveResend(id: string, owner: ChallengeOwner, input: ResendInput): Promise<ResendOutcome>;
  /** Records the message that carried the last code. No effect if the challenge is gone. */
  recordDelivery(id: string, delivery: DeliveryRecord): Promise<void>;
  /** Takes a code that was never sent out of the live ones (its send failed). No effect if the challenge is gone. */
  discardCode(id: string, digest: string): Promise<void>;
  /**
   * Counts one event on each counter, atomically per counter, and returns the new states
   * (send limits, failures across challenges). Each counter is one key with a TTL.
   */
  countHits(hits: CounterHit[]): Promise<CounterState[]>;
  /** The counters' states, without counting. */
  readHits(keys: string[]): Promise<CounterState[]>;
  /** Applies a provider's delivery status to the challenge's latest message, monotonically. */
  applyStatus(id: string, messageId: string, status: DeliveryStatus): Promise<StatusOutcome>;
  /** Removes a challenge. */
  delete(id: string): Promise<void>;
  /** Marks `key` used; false if it was already. The mark lasts `ttlMs`. */
  consumeOnce(key: string, ttlMs: number): Promise<boolean>;
  /** A short-lived fact (a message id's challenge, a number without WhatsApp); '' clears nothing. */
  setFact(key: string, value: string, ttlMs: number): Promise<void>;
  getFact(key: string): Promise<string | undefined>;
  /**
   * Fallbacks due later, shared by every instance on the store. The set of them lives
   * {@link DUE_FALLBACKS_TTL_MS} after the last schedule (R-J11: no key without a TTL).
   */
  scheduleFallback(id: string, dueAt: number): Promise<void>;
  cancelFallback(id: string): Promise<void>;
  /** Takes up to `limit` fallbacks due at `now`; each is handed to exactly one caller. */
  claimDueFallbacks(now: number, limit: number): Promise<string[]>;
}
