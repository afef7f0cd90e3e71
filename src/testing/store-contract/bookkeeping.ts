import { randomBytes } from 'node:crypto';
import { challengeOwner as owner, challengeRecord, randomId, sameSlotId, T0, TTL_MS } from './fixtures.js';
import type { ContractKit } from './hooks.js';

// One-time marks, facts, a start's admission and the due fallbacks.

export function describeConsumeOnce({ describe, it, expect }: ContractKit): void {
  describe('consumeOnce', () => {
    it('is true the first time and false after, per key', async (store) => {
      const key = randomId();
      expect(await store.consumeOnce(key, 60_000)).toBe(true);
      expect(await store.consumeOnce(key, 60_000)).toBe(false);
      expect(await store.consumeOnce(`${key}x`, 60_000)).toBe(true);
    });

    it('of many concurrent calls for one key exactly one is true', async (store) => {
      const key = randomId();
      const results = await Promise.all(Array.from({ length: 20 }, () => store.consumeOnce(key, 60_000)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });
}

export function describeFactsAndAdmission({ describe, it, expect, created }: ContractKit): void {
  describe('facts', () => {
    it('getFact returns what setFact stored, undefined for an unknown key, and a later set replaces', async (store) => {
      const key = `msg:${randomBytes(8).toString('hex')}`;
      expect(await store.getFact(key)).toBeUndefined();
      await store.setFact(key, 'challenge-1', 60_000);
      expect(await store.getFact(key)).toBe('challenge-1');
      await store.setFact(key, 'challenge-2', 60_000);
      expect(await store.getFact(key)).toBe('challenge-2');
      expect(await store.getFact(`${key}x`)).toBeUndefined();
    });
  });
  describe('admit: a start\'s counters, reads and facts, and the challenge only when no limit refuses it (R-I1)', () => {
    const unique = (what: string) => `${what}:${randomBytes(8).toString('hex')}`;
    const failureLimit = (max: number) => ({ key: unique('failures'), max, windowMs: 60_000, now: T0 + 1_000 });

    it('under every limit: counts each hit, reads counters and facts, and creates the challenge', async (store) => {
      const [phone, ip, read, fact] = [unique('phone'), unique('ip'), unique('verifiedIn'), unique('nowa')];
      await store.countHits([{ key: read, windowMs: 60_000 }]);
      await store.setFact(fact, '1', 60_000);
      const record = challengeRecord();
      const outcome = await store.admit(record, TTL_MS, {
        hits: [{ key: phone, windowMs: 60_000, max: 1 }, { key: ip, windowMs: 30_000 }], reads: [read, unique('unread')], facts: [fact, unique('unknown')], failures: failureLimit(3),
      });
      // The read counter's window started a moment ago: any rest of it will do.
      const readWindow = outcome.reads[0]?.resetInMs;
      expect(typeof readWindow).toBe('number');
      expect(outcome).toEqual({
        created: true,
        failures: { count: 0, resetInMs: 0 },
        hits: [{ count: 1, resetInMs: 60_000 }, { count: 1, resetInMs: 30_000 }],
        reads: [{ count: 1, resetInMs: readWindow }, { count: 0, resetInMs: 0 }],
        facts: ['1', undefined],
      });
      expect(await store.verify(record.id, owner(record), ['p1:right'])).toMatchObject({ status: 'ok' });
    });

    it('a hit past its max: nothing is stored, and every counter still moved', async (store) => {
      const [phone, ip] = [unique('phone'), unique('ip')];
      const admission = { hits: [{ key: phone, windowMs: 60_000, max: 1 }, { key: ip, windowMs: 60_000, max: 5 }], reads: [], facts: [], failures: failureLimit(0) };
      expect(await store.admit(challengeRecord(), TTL_MS, admission)).toMatchObject({ created: true });
      const refused = challengeRecord();
      expect(await store.admit(refused, TTL_MS, admission)).toMatchObject({ created: false, hits: [{ count: 2 }, { count: 2 }] });
      expect(await store.verify(refused.id, owner(refused), ['p1:right'])).toEqual({ status: 'not_found' });
      expect((await store.readHits([phone, ip])).map(({ count }) => count)).toEqual([2, 2]);
    });

    it('a hit without max counts and never refuses', async (store) => {
      const key = unique('sentTo');
      for (let sends = 1; sends <= 3; sends++) {
        expect(await store.admit(challengeRecord(), TTL_MS, { hits: [{ key, windowMs: 60_000 }], reads: [], facts: [], failures: failureLimit(0) }))
          .toMatchObject({ created: true, hits: [{ count: sends }] });
      }
    });

    it('a subject at its failure limit: nothing is stored, the counters still moved, and the count says how long', async (store) => {
      const failures = failureLimit(2);
      const first = await created();
      for (let i = 0; i < 2; i++) await store.verify(first.id, owner(first), ['p1:wrong'], failures);
      const counter = unique('subject');
      const refused = challengeRecord({ id: sameSlotId(first.id) });
      const outcome = await store.admit(refused, TTL_MS, { hits: [{ key: counter, windowMs: 60_000, max: 5 }], reads: [], facts: [], failures });
      expect(outcome).toMatchObject({ created: false, failures: { count: 2 }, hits: [{ count: 1 }] });
      expect(outcome.failures.resetInMs).toBeGreaterThan(0);
      expect(outcome.failures.resetInMs).toBeLessThanOrEqual(60_000);
      expect(await store.verify(refused.id, owner(refused), ['p1:right'])).toEqual({ status: 'not_found' });
      // Under the limit the same subject's challenge is stored, and its wrong codes count on the same record.
      const under = challengeRecord({ id: sameSlotId(first.id) });
      expect(await store.admit(under, TTL_MS, { hits: [], reads: [], facts: [], failures: { ...failures, max: 3 } })).toMatchObject({ created: true, failures: { count: 2 } });
      expect(await store.verify(under.id, owner(under), ['p1:wrong'], { ...failures, max: 3 })).toMatchObject({ status: 'invalid' });
      expect(await store.readFailures(under.id.slice(0, 4), failures)).toMatchObject({ count: 3 });
    });
  });
}

export function describeDueFallbacks({ describe, it, expect, beforeEach }: ContractKit): void {
  describe('due fallbacks', () => {
    // Every test starts with no due entry left by another one.
    beforeEach(async (store) => {
      await store.claimDueFallbacks(Number.MAX_SAFE_INTEGER, 10_000);
    });

    it('hands out only the entries due at now, oldest first, at most limit, and each once', async (store) => {
      await store.scheduleFallback('c3 m3', T0 + 3_000);
      await store.scheduleFallback('c1 m1', T0 + 1_000);
      await store.scheduleFallback('late m9', T0 + 9_000);
      await store.scheduleFallback('c2 m2', T0 + 2_000);
      expect(await store.claimDueFallbacks(T0 + 500, 10)).toEqual([]);
      expect(await store.claimDueFallbacks(T0 + 3_000, 2)).toEqual(['c1 m1', 'c2 m2']);
      expect(await store.claimDueFallbacks(T0 + 3_000, 10)).toEqual(['c3 m3']);
      expect(await store.claimDueFallbacks(T0 + 3_000, 10)).toEqual([]);
      expect(await store.claimDueFallbacks(T0 + 9_000, 10)).toEqual(['late m9']);
    });

    it('cancelFallback removes an entry; cancelling an unknown one is harmless', async (store) => {
      await store.scheduleFallback('c1 m1', T0 + 1_000);
      await store.scheduleFallback('c2 m2', T0 + 1_000);
      await store.cancelFallback('c1 m1');
      expect(await store.cancelFallback('never scheduled')).toBeUndefined();
      expect(await store.claimDueFallbacks(T0 + 1_000, 10)).toEqual(['c2 m2']);
    });

    it('scheduling the same entry again moves its due time instead of adding a second one', async (store) => {
      await store.scheduleFallback('c1 m1', T0 + 1_000);
      await store.scheduleFallback('c1 m1', T0 + 5_000);
      expect(await store.claimDueFallbacks(T0 + 1_000, 10)).toEqual([]);
      expect(await store.claimDueFallbacks(T0 + 5_000, 10)).toEqual(['c1 m1']);
    });

    it('two concurrent claimers never get the same entry, and together get every due one', async (store) => {
      const entries = Array.from({ length: 40 }, (_, index) => `c${index} m${index}`);
      for (const [index, entry] of entries.entries()) await store.scheduleFallback(entry, T0 + index);
      const [a, b] = await Promise.all([store.claimDueFallbacks(T0 + 100, 25), store.claimDueFallbacks(T0 + 100, 25)]);
      expect(a.filter((entry) => b.includes(entry))).toEqual([]);
      expect([...a, ...b].sort()).toEqual([...entries].sort());
    });
  });
}
