import { randomBytes } from 'node:crypto';
import { verifiedPart } from '../../stores/record-rules.js';
import type { ChallengeOwner, ChallengeRecord, VerifiedOutcome, VerifyReceipt } from '../../stores/store.js';

/** The suite's clock (epoch ms): records are created at it, owners act a second later. */
export const T0 = 1_900_000_000_000;
/** The TTL the suite creates challenges with. */
export const TTL_MS = 10 * 60_000;
/** What a wrong code's outcome names of a challenge made by {@link challengeRecord}. */
export const FAILED = { purpose: 'payment', channel: 'whatsapp' } as const;
/** What a consuming verify leaves in the challenge (the token id and its time)... */
export const RECEIPT: VerifyReceipt = { jti: 'jti-first', verifiedAt: T0 + 1_000 };
/** ...and what a store keeps when the verify gave none. */
export const NO_RECEIPT: VerifyReceipt = { jti: '', verifiedAt: T0 + 1_000 };

/** A fresh challenge id (22 characters, base64url); its first 4 name its slot tag. */
export function randomId(): string {
  return randomBytes(16).toString('base64url');
}

/** An id in the same slot as `id` (the same subject's tag): another challenge of that subject. */
export function sameSlotId(id: string): string {
  return id.slice(0, 4) + randomId();
}

/**
 * A valid record, unbound, with one live code (`p1:right`), a transaction and one earlier
 * factor; every field can be overridden, and an optional field overridden with `undefined`
 * is left out (as a store must give back a record that lacks it).
 *
 * @example
 * const record = challengeRecord({ binding: 'bind-A', maxAttempts: 1 });
 * await store.create(record, 60_000);
 */
export function challengeRecord(overrides: Partial<ChallengeRecord> = {}): ChallengeRecord {
  const record: ChallengeRecord = {
    id: randomId(),
    subject: 'usér-1',
    purpose: 'payment',
    txn: 'txnhash-abc',
    channel: 'whatsapp',
    transport: 'whatsapp',
    digests: ['p1:right'],
    hosted: [],
    attempts: 0,
    maxAttempts: 3,
    sends: 1,
    maxSends: 3,
    createdAt: T0,
    expiresAt: T0 + 300_000,
    nextSendAt: T0 + 30_000,
    sentAt: 0,
    sealedPhone: 'p1.iv.sealed.tag',
    to: '+34 •••••••78',
    locale: 'pt-BR',
    otherFactors: ['pwd'],
    testNumber: false,
    locked: false,
    ...overrides,
  };
  const given: Partial<ChallengeRecord> = record;
  for (const key of Object.keys(overrides) as (keyof ChallengeRecord)[]) if (overrides[key] === undefined) delete given[key];
  return record;
}

/** The record's own subject, with no binding, acting at `T0 + 1000`; every field can be overridden. */
export function challengeOwner(record: ChallengeRecord, overrides: Partial<ChallengeOwner> = {}): ChallengeOwner {
  return { subject: record.subject, bindingHashes: [], now: T0 + 1_000, ...overrides };
}

/** The outcome of the verify that consumed `record`. */
export function consumedBy(record: ChallengeRecord, receipt: VerifyReceipt = NO_RECEIPT): VerifiedOutcome {
  return { status: 'ok', record: verifiedPart(record), receipt, repeated: false };
}

/** The outcome of a retry of the code that consumed `record`. */
export function repeatOf(record: ChallengeRecord, receipt: VerifyReceipt = NO_RECEIPT): VerifiedOutcome {
  return { status: 'ok', record: verifiedPart(record), receipt, repeated: true };
}
