import type { ChallengeStore } from '../stores/store.js';
import { isStepUpError, stepUpError } from './errors.js';

/** Every method of the contract: each one's failure is the store's. */
const METHODS = [
  'create', 'admit', 'verify', 'beginHostedCheck', 'finishHostedCheck', 'readFailures', 'reserveResend', 'recordDelivery', 'discardCode',
  'countHits', 'readHits', 'applyStatus', 'delete', 'consumeOnce', 'setFact', 'getFact', 'scheduleFallback', 'cancelFallback', 'claimDueFallbacks',
] as const satisfies readonly (keyof ChallengeStore)[];

type Method = (...args: unknown[]) => Promise<unknown>;

/**
 * The store as the core uses it: whatever a store throws or rejects with (a Redis error, a
 * timeout, a malformed reply, a bug in a store someone wrote) is `store_unavailable` (503,
 * retry after 1 s), never a pass and never mistaken for a channel's failure. The cause keeps
 * the error's message only: a client's error objects can carry command arguments.
 */
export function failingClosed(store: ChallengeStore): ChallengeStore {
  const guarded: Record<string, unknown> = { ephemeral: store.ephemeral };
  for (const name of METHODS) {
    const method = store[name] as unknown as Method | undefined;
    if (typeof method !== 'function') continue;
    guarded[name] = (...args: unknown[]): Promise<unknown> => {
      try {
        return method.apply(store, args).catch(unavailable);
      } catch (error) {
        return unavailable(error);
      }
    };
  }
  return guarded as unknown as ChallengeStore;
}

function unavailable(error: unknown): never {
  if (isStepUpError(error)) throw error;
  const message = error instanceof Error ? error.message : 'The store failed';
  throw stepUpError('store_unavailable', { retryAfter: 1 }, undefined, new Error(message));
}
