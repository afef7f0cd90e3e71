/** The rules every store applies to its records the same way. */
import type { ChallengeRecord, VerifiedChallenge } from './store.js';

/** The {@link VerifiedChallenge} of a full record. */
export function verifiedPart(record: ChallengeRecord): VerifiedChallenge {
  const { id, subject, purpose, txn, channel, transport, to, otherFactors, testNumber } = record;
  return { id, subject, purpose, ...(txn === undefined ? {} : { txn }), channel, transport, to, otherFactors: [...otherFactors], testNumber };
}

/** The wait after the `sends`-th send (1-based) of a challenge. */
export function cooldownAfter(cooldownMs: number | readonly number[], sends: number): number {
  if (typeof cooldownMs === 'number') return cooldownMs;
  return cooldownMs[Math.min(sends, cooldownMs.length) - 1] ?? 0;
}
