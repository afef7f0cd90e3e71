// Both stores keep one contract: a challenge opens only for its subject and binding, a
// right digest consumes it exactly once, wrong digests count and lock, resends rotate the
// digest without resetting attempts, and one-time marks are set once. The RedisStore also
// gives every key a bounded TTL and a Cluster hash tag, and refuses unsafe client setups.
import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore, RedisStore, type ChallengeOwner, type ChallengeRecord, type ChallengeStore } from '../src/index.js';
import { redisFixture, type RedisFixture } from './core.fixtures.js';
import { redisUrl } from './support/redis.js';

const T0 = 1_900_000_000_000;
const TTL_MS = 10 * 60_000;

/** A valid record; every field can be overridden. */
function challengeRecord(overrides: Partial<ChallengeRecord> = {}): ChallengeRecord {
  return {
    id: randomBytes(16).toString('base64url'),
    subject: 'usér-1',
    purpose: 'payment',
    bindingHash: '',
    txn: 'txnhash-abc',
    channel: 'whatsapp',
    transport: 'whatsapp',
    digest: 'p1:right',
    hostedIds: '',
    attempts: 0,
    maxAttempts: 3,
    sends: 1,
    maxSends: 3,
    createdAt: T0,
    expiresAt: T0 + 300_000,
    nextSendAt: T0 + 30_000,
    messageId: '',
    sentAt: 0,
    deliveryStatus: '',
    sealedPhone: 'p1.iv.sealed.tag',
    to: '+34 •••••••78',
    locale: 'pt-BR',
    otherFactors: 'pwd',
    testNumber: false,
    locked: false,
    ...overrides,
  };
}

function owner(record: ChallengeRecord, overrides: Partial<ChallengeOwner> = {}): ChallengeOwner {
  return { subject: record.subject, bindingHashes: [], now: T0 + 1_000, ...overrides };
}

export function describeStoreContract(name: string, makeStore: () => ChallengeStore): void {
  describe(`ChallengeStore contract: ${name}`, () => {
    let store: ChallengeStore;
    beforeAll(() => {
      store = makeStore();
    });

    async function created(overrides: Partial<ChallengeRecord> = {}): Promise<ChallengeRecord> {
      const record = challengeRecord(overrides);
      await store.create(record, TTL_MS);
      return record;
    }

    describe('create and verify', () => {
      it('a right digest returns the record as created and consumes it: a second verify is not_found', async () => {
        const record = await created();
        expect(await store.verify(record.id, owner(record), ['p2:other', 'p1:right'])).toEqual({ status: 'ok', record });
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'not_found' });
      });

      it('a record with empty optional fields (txn, bindingHash, otherFactors) round-trips unchanged', async () => {
        const record = await created({ txn: '', bindingHash: '', otherFactors: '', transport: 'sms', channel: 'sms', locale: 'en' });
        expect(await store.verify(record.id, owner(record, { bindingHashes: ['any'] }), ['p1:right'])).toEqual({ status: 'ok', record });
      });

      it('an unknown id is not_found', async () => {
        expect(await store.verify(randomBytes(16).toString('base64url'), owner(challengeRecord()), ['p1:right'])).toEqual({ status: 'not_found' });
      });

      it('create replaces an earlier record with the same id', async () => {
        const first = await created({ digest: 'p1:first' });
        const second = challengeRecord({ id: first.id, digest: 'p1:second', attempts: 0 });
        await store.verify(first.id, owner(first), ['p1:wrong']);
        await store.create(second, TTL_MS);
        expect(await store.verify(first.id, owner(first), ['p1:first'])).toEqual({ status: 'invalid', attemptsLeft: 2 });
        expect(await store.verify(first.id, owner(first), ['p1:second'])).toMatchObject({ status: 'ok' });
      });
    });

    describe('wrong digests', () => {
      it('count an attempt each, attemptsLeft falling, then lock at maxAttempts (locked_now, then locked)', async () => {
        const record = await created({ maxAttempts: 3 });
        expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'invalid', attemptsLeft: 2 });
        expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'invalid', attemptsLeft: 1 });
        expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'locked_now' });
        expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'locked' });
      });

      it('a locked challenge has no digest: the right one no longer opens it, and resend is refused', async () => {
        const record = await created({ maxAttempts: 1 });
        expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'locked_now' });
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'locked' });
        expect(await store.reserveResend(record.id, owner(record, { now: T0 + 60_000 }), { digest: 'p1:new', cooldownMs: 1, keepEarlier: false })).toEqual({ status: 'locked' });
      });

      it('an empty stored digest never matches an empty candidate', async () => {
        const record = await created({ digest: '' });
        expect(await store.verify(record.id, owner(record), [''])).toEqual({ status: 'invalid', attemptsLeft: 2 });
      });
    });

    describe('owner checks', () => {
      it('another subject gets not_found and costs no attempt', async () => {
        const record = await created();
        expect(await store.verify(record.id, owner(record, { subject: 'user-2' }), ['p1:right'])).toEqual({ status: 'not_found' });
        expect(await store.verify(record.id, owner(record, { subject: 'user-2' }), ['p1:wrong'])).toEqual({ status: 'not_found' });
        expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'invalid', attemptsLeft: 2 });
      });

      it('a bound challenge is not_found for another binding or none, without costing an attempt', async () => {
        const record = await created({ bindingHash: 'bind-A' });
        expect(await store.verify(record.id, owner(record, { bindingHashes: ['bind-B'] }), ['p1:right'])).toEqual({ status: 'not_found' });
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'not_found' });
        expect(await store.reserveResend(record.id, owner(record, { bindingHashes: ['bind-B'], now: T0 + 60_000 }), { digest: 'p1:x', cooldownMs: 1, keepEarlier: false })).toEqual({ status: 'not_found' });
        expect(await store.verify(record.id, owner(record, { bindingHashes: ['bind-A'] }), ['p1:wrong'])).toEqual({ status: 'invalid', attemptsLeft: 2 });
      });

      it('a bound challenge opens when any of the caller binding hashes matches (pepper rotation)', async () => {
        const record = await created({ bindingHash: 'bind-A' });
        expect(await store.verify(record.id, owner(record, { bindingHashes: ['bind-new', 'bind-A'] }), ['p1:right'])).toMatchObject({ status: 'ok' });
      });

      it('an unbound challenge accepts any binding', async () => {
        const record = await created({ bindingHash: '' });
        expect(await store.verify(record.id, owner(record, { bindingHashes: ['whatever'] }), ['p1:right'])).toMatchObject({ status: 'ok' });
      });
    });

    describe('expiry', () => {
      it('at owner.now >= expiresAt verify is expired, even with the right digest, and the digest is cleared', async () => {
        const record = await created();
        expect(await store.verify(record.id, owner(record, { now: record.expiresAt }), ['p1:right'])).toEqual({ status: 'expired' });
        expect(await store.verify(record.id, owner(record, { now: record.expiresAt + 1_000 }), ['p1:right'])).toEqual({ status: 'expired' });
        // A caller whose clock is behind still cannot use the code: it is gone.
        expect(await store.verify(record.id, owner(record, { now: record.expiresAt - 1 }), ['p1:right'])).toEqual({ status: 'invalid', attemptsLeft: 2 });
      });

      it('one millisecond before expiresAt the right digest still verifies', async () => {
        const record = await created();
        expect(await store.verify(record.id, owner(record, { now: record.expiresAt - 1 }), ['p1:right'])).toMatchObject({ status: 'ok' });
      });

      it('resend of an expired challenge is expired', async () => {
        const record = await created();
        expect(await store.reserveResend(record.id, owner(record, { now: record.expiresAt }), { digest: 'p1:new', cooldownMs: 1, keepEarlier: false })).toEqual({ status: 'expired' });
      });
    });

    describe('reserveResend', () => {
      it('inside the cooldown answers cooldown with the exact retryAfterMs, changing nothing', async () => {
        const record = await created({ nextSendAt: T0 + 30_000 });
        expect(await store.reserveResend(record.id, owner(record, { now: T0 + 10_000 }), { digest: 'p1:new', cooldownMs: 30_000, keepEarlier: false })).toEqual({ status: 'cooldown', retryAfterMs: 20_000 });
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toMatchObject({ status: 'ok', record: { sends: 1 } });
      });

      it('after the cooldown replaces the digest (the old one no longer verifies, R-C5), counts the send and restarts the cooldown', async () => {
        const record = await created({ nextSendAt: T0 + 30_000 });
        const now = T0 + 30_000;
        const outcome = await store.reserveResend(record.id, owner(record, { now }), { digest: 'p1:new', cooldownMs: 45_000, keepEarlier: false });
        expect(outcome).toEqual({ status: 'ok', record: { ...record, digest: 'p1:new', sends: 2, nextSendAt: now + 45_000 } });
        expect(await store.verify(record.id, owner(record, { now }), ['p1:right'])).toEqual({ status: 'invalid', attemptsLeft: 2 });
        expect(await store.verify(record.id, owner(record, { now }), ['p1:new'])).toMatchObject({ status: 'ok', record: { digest: 'p1:new', sends: 2 } });
      });

      it('at maxSends answers exhausted (even inside a cooldown)', async () => {
        const record = await created({ sends: 2, maxSends: 3, nextSendAt: T0 });
        expect(await store.reserveResend(record.id, owner(record, { now: T0 }), { digest: 'p1:2', cooldownMs: 30_000, keepEarlier: false })).toMatchObject({ status: 'ok', record: { sends: 3 } });
        expect(await store.reserveResend(record.id, owner(record, { now: T0 + 1 }), { digest: 'p1:3', cooldownMs: 30_000, keepEarlier: false })).toEqual({ status: 'exhausted', retryAfterMs: record.expiresAt - (T0 + 1) });
        expect(await store.reserveResend(record.id, owner(record, { now: T0 + 60_000 }), { digest: 'p1:3', cooldownMs: 30_000, keepEarlier: false })).toEqual({ status: 'exhausted', retryAfterMs: record.expiresAt - (T0 + 60_000) });
      });

      it('never resets attempts: failures before the resend still count after it', async () => {
        const record = await created({ maxAttempts: 3, nextSendAt: T0 });
        expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'invalid', attemptsLeft: 2 });
        expect(await store.reserveResend(record.id, owner(record), { digest: 'p1:new', cooldownMs: 1, keepEarlier: false })).toMatchObject({ status: 'ok', record: { attempts: 1 } });
        expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'invalid', attemptsLeft: 1 });
        expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'locked_now' });
      });

      it('another subject or an unknown id is not_found', async () => {
        const record = await created({ nextSendAt: T0 });
        expect(await store.reserveResend(record.id, owner(record, { subject: 'other' }), { digest: 'p1:new', cooldownMs: 1, keepEarlier: false })).toEqual({ status: 'not_found' });
        expect(await store.reserveResend(randomBytes(16).toString('base64url'), owner(record), { digest: 'p1:new', cooldownMs: 1, keepEarlier: false })).toEqual({ status: 'not_found' });
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toMatchObject({ status: 'ok', record: { sends: 1 } });
      });
    });

    describe('recordDelivery', () => {
      it('changes the channel, transport and last message of a live challenge', async () => {
        const record = await created();
        await store.recordDelivery(record.id, { channel: 'sms-backup', transport: 'sms', messageId: 'SM1', sentAt: T0, keepEarlier: false });
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({
          status: 'ok',
          record: { ...record, channel: 'sms-backup', transport: 'sms', messageId: 'SM1', sentAt: T0 },
        });
      });

      it('never recreates a deleted challenge', async () => {
        const record = await created();
        await store.delete(record.id);
        await store.recordDelivery(record.id, { channel: 'sms-backup', transport: 'sms', messageId: 'SM1', sentAt: T0, keepEarlier: false });
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'not_found' });
      });

      it('never recreates a consumed challenge', async () => {
        const record = await created();
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toMatchObject({ status: 'ok' });
        await store.recordDelivery(record.id, { channel: 'sms-backup', transport: 'sms', messageId: 'SM1', sentAt: T0, keepEarlier: false });
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'not_found' });
      });
    });

    describe('delete', () => {
      it('removes a challenge; deleting an unknown id is harmless', async () => {
        const record = await created();
        await store.delete(record.id);
        expect(await store.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'not_found' });
        await expect(store.delete(record.id)).resolves.toBeUndefined();
      });
    });

    describe('consumeOnce', () => {
      it('is true the first time and false after, per key', async () => {
        const key = randomBytes(16).toString('base64url');
        expect(await store.consumeOnce(key, 60_000)).toBe(true);
        expect(await store.consumeOnce(key, 60_000)).toBe(false);
        expect(await store.consumeOnce(`${key}x`, 60_000)).toBe(true);
      });

      it('of many concurrent calls for one key exactly one is true', async () => {
        const key = randomBytes(16).toString('base64url');
        const results = await Promise.all(Array.from({ length: 20 }, () => store.consumeOnce(key, 60_000)));
        expect(results.filter(Boolean)).toHaveLength(1);
      });
    });

    it('of many concurrent verifies with the right digest exactly one is ok (R-C3)', async () => {
      const record = await created({ maxAttempts: 5 });
      const outcomes = await Promise.all(Array.from({ length: 30 }, () => store.verify(record.id, owner(record), ['p1:right'])));
      expect(outcomes.filter((outcome) => outcome.status === 'ok')).toHaveLength(1);
      expect(outcomes.filter((outcome) => outcome.status === 'not_found')).toHaveLength(29);
    });

    it('of many concurrent wrong verifies the attempts count exactly (one locked_now)', async () => {
      const record = await created({ maxAttempts: 5 });
      const outcomes = await Promise.all(Array.from({ length: 8 }, () => store.verify(record.id, owner(record), ['p1:wrong'])));
      const statuses = outcomes.map((outcome) => outcome.status).sort();
      expect(statuses).toEqual(['invalid', 'invalid', 'invalid', 'invalid', 'locked', 'locked', 'locked', 'locked_now']);
      const left = outcomes.flatMap((outcome) => (outcome.status === 'invalid' ? [outcome.attemptsLeft] : [])).sort();
      expect(left).toEqual([1, 2, 3, 4]);
    });
  });
}

// ---- MemoryStore ------------------------------------------------------------------

describeStoreContract('MemoryStore', () => new MemoryStore());

describe('MemoryStore specifics', () => {
  it('drops a challenge and a one-time mark when its TTL passes on the injected clock', async () => {
    let now = T0;
    const store = new MemoryStore({ clock: () => now });
    const record = challengeRecord({ expiresAt: T0 + 10 * 60_000 });
    await store.create(record, 60_000);
    expect(await store.consumeOnce('jti-1', 60_000)).toBe(true);
    now += 59_999;
    expect(await store.consumeOnce('jti-1', 60_000)).toBe(false);
    now += 1;
    expect(await store.verify(record.id, owner(record, { now }), ['p1:right'])).toEqual({ status: 'not_found' });
    expect(await store.consumeOnce('jti-1', 60_000)).toBe(true);
  });

  it('is marked ephemeral and refuses a clock that is not a function', () => {
    expect(new MemoryStore().ephemeral).toBe(true);
    expect(() => new MemoryStore({ clock: 5 as unknown as () => number })).toThrow(/`clock` must be a function/);
  });
});

// ---- RedisStore -------------------------------------------------------------------

let fixture: RedisFixture;
let fixturePromise: Promise<RedisFixture> | undefined;
const otherClients: Redis[] = [];

describe('RedisStore', () => {
  beforeAll(async () => {
    fixturePromise ??= redisFixture('contract');
    fixture = await fixturePromise;
  });
  afterAll(async () => {
    await fixture?.close();
    for (const client of otherClients) client.disconnect();
  });

  describeStoreContract('RedisStore', () => fixture.store);

  describe('RedisStore specifics', () => {
    it('R-J11: every key it creates has a PTTL > 0 and no longer than the TTL it was given, across every operation', async () => {
      const { client, prefix } = fixture;
      const store = new RedisStore({ client, prefix: `${prefix}ttl:` });
      const record = challengeRecord({ nextSendAt: T0 });
      await store.create(record, 90_000);
      await store.verify(record.id, owner(record), ['p1:wrong']);
      await store.reserveResend(record.id, owner(record), { digest: 'p1:new', cooldownMs: 1_000, keepEarlier: false });
      await store.recordDelivery(record.id, { channel: 'sms', transport: 'sms', messageId: 'SM1', sentAt: T0, keepEarlier: false });
      await store.verify(record.id, owner(record, { now: record.expiresAt }), ['p1:new']);
      await store.consumeOnce('some-jti', 45_000);
      const keys = await scan(client, `${prefix}ttl:*`);
      expect(keys).toHaveLength(2);
      for (const key of keys) {
        const pttl = await client.pttl(key);
        const bound = key.includes(':jti:') ? 45_000 : 90_000;
        expect(pttl, key).toBeGreaterThan(0);
        expect(pttl, key).toBeLessThanOrEqual(bound);
      }
    });

    it('names the challenge key <prefix>ch:{<id>} and the one-time mark <prefix>jti:{<key>}: one hash tag each, fixing the Cluster slot', async () => {
      const { client, prefix } = fixture;
      const store = new RedisStore({ client, prefix: `${prefix}names:` });
      const record = challengeRecord();
      await store.create(record, 60_000);
      await store.consumeOnce('the-jti', 60_000);
      const keys = (await scan(client, `${prefix}names:*`)).sort();
      expect(keys).toEqual([`${prefix}names:ch:{${record.id}}`, `${prefix}names:jti:{the-jti}`]);
      for (const key of keys) expect(key.match(/[{}]/g)).toEqual(['{', '}']);
    });

    it('recordDelivery on a deleted or consumed challenge leaves no key behind (no key without a TTL)', async () => {
      const { client, prefix } = fixture;
      const store = new RedisStore({ client, prefix: `${prefix}gone:` });
      const deleted = challengeRecord();
      const consumed = challengeRecord();
      await store.create(deleted, 60_000);
      await store.create(consumed, 60_000);
      await store.delete(deleted.id);
      expect(await store.verify(consumed.id, owner(consumed), ['p1:right'])).toMatchObject({ status: 'ok' });
      await store.recordDelivery(deleted.id, { channel: 'sms', transport: 'sms', messageId: 'SM1', sentAt: T0, keepEarlier: false });
      await store.recordDelivery(consumed.id, { channel: 'sms', transport: 'sms', messageId: 'SM1', sentAt: T0, keepEarlier: false });
      await store.recordDelivery(challengeRecord().id, { channel: 'sms', transport: 'sms', messageId: 'SM1', sentAt: T0, keepEarlier: false });
      expect(await scan(client, `${prefix}gone:*`)).toEqual([]);
    });

    it('a locked or expired challenge keeps no digest at rest', async () => {
      const { client, prefix } = fixture;
      const store = new RedisStore({ client, prefix: `${prefix}wipe:` });
      const locked = challengeRecord({ maxAttempts: 1 });
      const expired = challengeRecord();
      await store.create(locked, 60_000);
      await store.create(expired, 60_000);
      expect(await store.verify(locked.id, owner(locked), ['p1:wrong'])).toEqual({ status: 'locked_now' });
      expect(await store.verify(expired.id, owner(expired, { now: expired.expiresAt }), ['p1:wrong'])).toEqual({ status: 'expired' });
      expect(await client.hget(`${prefix}wipe:ch:{${locked.id}}`, 'dig')).toBe('');
      expect(await client.hget(`${prefix}wipe:ch:{${locked.id}}`, 'lck')).toBe('1');
      expect(await client.hget(`${prefix}wipe:ch:{${expired.id}}`, 'dig')).toBe('');
    });

    it('keeps stores with different prefixes apart', async () => {
      const { client, prefix } = fixture;
      const a = new RedisStore({ client, prefix: `${prefix}a:` });
      const b = new RedisStore({ client, prefix: `${prefix}b:` });
      const record = challengeRecord();
      await a.create(record, 60_000);
      expect(await b.verify(record.id, owner(record), ['p1:right'])).toEqual({ status: 'not_found' });
      expect(await b.consumeOnce('k', 60_000)).toBe(true);
      expect(await a.consumeOnce('k', 60_000)).toBe(true);
      expect(await a.verify(record.id, owner(record), ['p1:right'])).toMatchObject({ status: 'ok' });
    });

    it('R-J12: rejects a prefix containing { or } at construction', () => {
      for (const prefix of ['app{x}:', 'app{', 'app}:']) {
        expect(() => new RedisStore({ client: fixture.client, prefix })).toThrow(/`prefix`.*'\{' or '\}'/);
      }
    });

    it("R-J12: rejects an ioredis client whose keyPrefix contains braces", () => {
      const client = new Redis(redisUrl(), { lazyConnect: true, keyPrefix: 'app{1}:' });
      otherClients.push(client);
      expect(() => new RedisStore({ client })).toThrow(/keyPrefix/);
    });

    it("R-J4: rejects a Cluster client created with scaleReads: 'slave' (replica reads)", () => {
      const port = Number(new URL(redisUrl()).port);
      const cluster = new Cluster([{ host: '127.0.0.1', port }], { lazyConnect: true, scaleReads: 'slave' });
      expect(() => new RedisStore({ client: cluster })).toThrow(/scaleReads: 'master'/);
      const primaries = new Cluster([{ host: '127.0.0.1', port }], { lazyConnect: true, scaleReads: 'master' });
      expect(() => new RedisStore({ client: primaries, prefix: fixture.prefix })).not.toThrow();
      cluster.disconnect();
      primaries.disconnect();
    });

    it("R-J4: rejects a Sentinel client created with role: 'slave'; role 'master' is accepted", () => {
      const sentinel = (role: 'master' | 'slave') => {
        const client = new Redis({ sentinels: [{ host: '127.0.0.1', port: 1 }], name: 'mymaster', role, lazyConnect: true });
        otherClients.push(client);
        return client;
      };
      expect(() => new RedisStore({ client: sentinel('slave') })).toThrow(/role: 'master'/);
      expect(() => new RedisStore({ client: sentinel('master'), prefix: fixture.prefix })).not.toThrow();
    });

    it('rejects missing options, a non-ioredis client, unknown options and an out-of-range timeoutMs, naming the option', () => {
      expect(() => new RedisStore(undefined as never)).toThrow(/RedisStore needs options/);
      expect(() => new RedisStore({ client: {} as never })).toThrow(/`client` must be an ioredis client/);
      expect(() => new RedisStore({ client: fixture.client, keyPrefix: 'x' } as never)).toThrow(/`keyPrefix`/);
      expect(() => new RedisStore({ client: fixture.client, timeoutMs: 10 })).toThrow(/`timeoutMs`/);
    });
  });
});

async function scan(client: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    found.push(...batch);
  } while (cursor !== '0');
  return found;
}
