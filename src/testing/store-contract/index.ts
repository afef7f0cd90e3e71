import { systemOwner, type ChallengeStore, type DeliveryRecord } from '../../stores/store.js';
import { describeConsumeOnce, describeDueFallbacks, describeFactsAndAdmission } from './bookkeeping.js';
import { describeDelivery, describeDeliveryDetails } from './delivery.js';
import { describeSubjectFailures } from './failures.js';
import { challengeRecord, T0, TTL_MS } from './fixtures.js';
import type { ContractKit, StoreContractHooks } from './hooks.js';
import { describeHostedChecks } from './hosted.js';
import { describeExpiryAndResend, describeResendKeeping } from './resend.js';
import { describeDeliveryStatus } from './status.js';
import { describeConcurrentVerifies, describeVerify } from './verify.js';

export type { StoreContractExpect, StoreContractHooks, StoreContractMatchers } from './hooks.js';
export { challengeOwner, challengeRecord } from './fixtures.js';

/**
 * The contract every {@link ChallengeStore} keeps, as one test suite (the MemoryStore, the
 * RedisStore and the RedisStore on a Cluster run it): a challenge opens only for its subject
 * and binding, a right digest consumes it exactly once (a retry gets the first receipt),
 * wrong digests count and lock, the subject's failures are checked and counted in the same
 * step, resends rotate the digest without resetting attempts, delivery statuses only move
 * forward, one-time marks are set once and each due fallback is handed out once.
 *
 * Run it from a test file of your store, under any runner: give it the runner's `describe`,
 * `it`, `beforeEach`, `afterEach` and an `expect` with jest's matchers. `makeStore` is called
 * before each test: return a new store each time, or the same one (a shared database: the
 * suite's ids and keys are random, so tests never meet each other's records; after each test
 * it deletes most challenges the test made, and the rest expire within 10 minutes).
 * Give the runner a timeout of a few seconds per test: a few tests make dozens of calls.
 *
 * @example
 * // vitest (or jest, with its globals)
 * import { afterEach, beforeEach, describe, expect, it } from 'vitest';
 * import { describeStoreContract } from 'whatsapp-stepup/testing';
 * describeStoreContract('PostgresStore', () => new PostgresStore(pool), { describe, it, expect, beforeEach, afterEach });
 *
 * @example
 * // node --test
 * import { afterEach, beforeEach, describe, it } from 'node:test';
 * import { expect } from 'expect';
 * import { describeStoreContract } from 'whatsapp-stepup/testing';
 * describeStoreContract('DynamoStore', () => new DynamoStore(client), { describe, it, expect, beforeEach, afterEach });
 */
export function describeStoreContract(name: string, makeStore: () => ChallengeStore | Promise<ChallengeStore>, hooks: StoreContractHooks): void {
  const { describe, it, expect, beforeEach, afterEach } = hooks;
  describe(`ChallengeStore contract: ${name}`, () => {
    let current: ChallengeStore | undefined;
    let made: string[] = [];
    const store = (): ChallengeStore => {
      if (current === undefined) throw new Error('describeStoreContract: no store; makeStore runs in beforeEach');
      return current;
    };

    beforeEach(async () => {
      current = await makeStore();
      made = [];
    });
    afterEach(async () => {
      const left = made;
      made = [];
      if (current !== undefined) await Promise.all(left.map((id) => current!.delete(id)));
      current = undefined;
    });

    const kit: ContractKit = {
      describe: (title, body) => {
        describe(title, body);
      },
      it: (title, body) => {
        it(title, () => body(store()));
      },
      beforeEach: (body) => {
        beforeEach(() => body(store()));
      },
      expect,
      created: async (overrides = {}) => {
        const record = challengeRecord(overrides);
        await store().create(record, TTL_MS);
        made.push(record.id);
        return record;
      },
      take: async (id) => {
        const outcome = await store().beginHostedCheck(id, systemOwner(T0 + 1_000));
        if (outcome.status !== 'check') throw new Error(`expected the record of ${id}, got ${outcome.status}`);
        return { ...outcome.record, attempts: outcome.record.attempts - 1 };
      },
      resendInput: (digest, keepEarlier) => ({ digest, cooldownMs: 1_000, keepEarlier }),
      delivery: (messageId: string, extra: Partial<DeliveryRecord> = {}): DeliveryRecord => ({
        channel: 'wa', transport: 'whatsapp', messageId, sentAt: T0 + 500, keepEarlier: false, ...extra,
      }),
    };

    // In the order the suite grew: the first contract, then hosted checks, kept codes, delivery bookkeeping, facts, admission and due fallbacks.
    describeVerify(kit);
    describeSubjectFailures(kit);
    describeExpiryAndResend(kit);
    describeDelivery(kit);
    describeConsumeOnce(kit);
    describeHostedChecks(kit);
    describeResendKeeping(kit);
    describeDeliveryDetails(kit);
    describeDeliveryStatus(kit);
    describeFactsAndAdmission(kit);
    describeDueFallbacks(kit);
    describeConcurrentVerifies(kit);
  });
}

