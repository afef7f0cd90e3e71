import type { Transport } from '../channels/channel.js';

/**
 * A challenge as the store keeps it. It holds no code (only keyed digests) and no
 * phone number in clear (only a sealed copy, for resends and fallbacks).
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
  /** Space-separated `pepperId:hex` digests of the live codes; '' once expired or locked, or for hosted channels. */
  digest: string;
  /** Space-separated `channel=verificationId` of hosted sends, whose provider checks the code. */
  hostedIds: string;
  attempts: number;
  maxAttempts: number;
  sends: number;
  maxSends: number;
  /** Epoch milliseconds. */
  createdAt: number;
  expiresAt: number;
  nextSendAt: number;
  /** The provider's id of the last message, its send time (ms) and its delivery status ('' until one arrives). */
  messageId: string;
  sentAt: number;
  deliveryStatus: string;
  /** AES-GCM sealed E.164 number. */
  sealedPhone: string;
  /** AES-GCM sealed `{ amount, currency, payee }` that payment messages state, or '' when none. */
  sealedPayment: string;
  /** Masked number, for views and events. */
  to: string;
  locale: string;
  /** Factors checked before this challenge in the same event, comma separated (for `amr`). */
  otherFactors: string;
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

/** What a wrong code's outcome tells of its challenge. A store may leave `purpose` and `channel` out. */
export interface FailedChallenge {
  testNumber?: boolean;
  purpose?: string;
  /** The channel of the last send. */
  channel?: string;
}

/** The subject is past its limit of wrong codes; nothing was compared or counted. */
export type LockedOut = { status: 'locked_out'; retryAfterMs: number };

/** What a consumed challenge still has to say: the token's claims and the events need no more (nor a store to send more). */
export type VerifiedChallenge = Pick<ChallengeRecord, 'id' | 'subject' | 'purpose' | 'txn' | 'channel' | 'transport' | 'to' | 'otherFactors' | 'testNumber'>;

/** The {@link VerifiedChallenge} of a full record. */
export function verifiedPart(record: ChallengeRecord): VerifiedChallenge {
  const { id, subject, purpose, txn, channel, transport, to, otherFactors, testNumber } = record;
  return { id, subject, purpose, txn, channel, transport, to, otherFactors, testNumber };
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

export interface ResendInput {
  /** Digest of the new code ('' for a hosted channel). */
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
  messageId: string;
  sentAt: number;
  /** `channel=verificationId` for hosted channels, whose provider made the code. */
  hostedId?: string;
  /** With `hostedId`: the digest of our own code, which was never sent and must not stay valid. */
  dropDigest?: string;
  /** Keep earlier hosted ids valid beside this one (otherwise this send's code replaces them). */
  keepEarlier: boolean;
  /**
   * The message's fact, written with the record: `key` names the message id, the value is
   * the challenge id, so that a webhook finds the challenge. Only while the challenge exists
   * (a store may still write it when the challenge is gone: it then names nothing).
   */
  messageFact?: { key: string; ttlMs: number };
}

export type DeliveryStatus = 'sent' | 'delivered' | 'read' | 'failed';

/** The wait after the `sends`-th send (1-based) of a challenge. */
export function cooldownAfter(cooldownMs: number | readonly number[], sends: number): number {
  if (typeof cooldownMs === 'number') return cooldownMs;
  return cooldownMs[Math.min(sends, cooldownMs.length) - 1] ?? 0;
}

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

export interface AdmissionOutcome {
  /** False when a hit passed its `max` or the subject is at its failure limit: nothing was stored. */
  created: boolean;
  /** In the order asked. */
  hits: CounterState[];
  reads: CounterState[];
  facts: (string | undefined)[];
  failures: CounterState;
}

const NO_COUNT: CounterState = { count: 0, resetInMs: 0 };

/** Whether counted hits and the subject's failures let a challenge be stored. */
function admits(admission: Admission, hits: readonly CounterState[], failed: CounterState): boolean {
  const { max } = admission.failures;
  return (max === 0 || failed.count < max) && admission.hits.every((hit, index) => !hit.max || hits[index]!.count <= hit.max);
}

/**
 * {@link ChallengeStore.admit} from the store's other methods: the counters, the failure
 * count and the facts together, then the challenge. For a store that cannot do it in one step.
 */
export async function admitInSteps(store: ChallengeStore, record: ChallengeRecord, ttlMs: number, admission: Admission): Promise<AdmissionOutcome> {
  const { failures } = admission;
  const [failed, hits, reads, facts] = await Promise.all([
    failures.max === 0 ? NO_COUNT : store.readFailures(slotTagOf(record.id), failures),
    admission.hits.length === 0 ? [] : store.countHits(admission.hits),
    admission.reads.length === 0 ? [] : store.readHits(admission.reads),
    Promise.all(admission.facts.map((key) => store.getFact(key))),
  ]);
  const created = admits(admission, hits, failed);
  if (created) await store.create(record, ttlMs, failures);
  return { created, hits, reads, facts, failures: failed };
}

export interface CounterState {
  /** Events in the current window (0 when none). */
  count: number;
  /** Milliseconds until the window ends (0 when none is running). */
  resetInMs: number;
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
