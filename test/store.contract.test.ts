// Both stores keep one contract, the suite in src/testing/store-contract (exported from
// whatsapp-stepup/testing for store authors; store.contract-node.test.ts runs it under
// node --test): a challenge opens only for its subject and binding, a right digest consumes
// it exactly once, wrong digests count and lock, resends rotate the digest without resetting
// attempts, and one-time marks are set once. Here vitest runs it on the MemoryStore, Redis and
// a Cluster. The RedisStore also gives every key a bounded TTL and a Cluster hash tag, and
// refuses unsafe client setups.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, RedisStore } from '../src/index.js';
import type { ChallengeRecord } from '../src/store/index.js';
import { failingClosed } from '../src/core/fail-closed.js';
import { DUE_FALLBACKS_TTL_MS } from '../src/stores/store.js';
import { describeStoreContract } from '../src/testing/index.js';
import { challengeOwner as owner, challengeRecord, FAILED, T0, TTL_MS } from '../src/testing/store-contract/fixtures.js';
import { redisFixture, uniquePrefix, type RedisFixture } from './core.fixtures.js';
import { connectCluster, redisUrl } from './support/redis.js';

// ---- MemoryStore ------------------------------------------------------------------

describeStoreContract('MemoryStore', () => new MemoryStore(), { describe, it, expect, beforeEach, afterEach });

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

  it('drops a fact when its TTL passes on the injected clock', async () => {
    let now = T0;
    const store = new MemoryStore({ clock: () => now });
    await store.setFact('nowa:abc', '1', 30_000);
    now += 29_999;
    expect(await store.getFact('nowa:abc')).toBe('1');
    now += 1;
    expect(await store.getFact('nowa:abc')).toBeUndefined();
    await store.setFact('nowa:abc', '1', 30_000);
    expect(await store.getFact('nowa:abc')).toBe('1');
  });

  it('forgets due fallbacks a day after the last schedule, as the RedisStore key TTL does (R-J11)', async () => {
    let now = T0;
    const store = new MemoryStore({ clock: () => now });
    await store.scheduleFallback('c1 m1', T0 + 1_000);
    now += DUE_FALLBACKS_TTL_MS - 1;
    await store.scheduleFallback('c2 m2', T0 + 2_000);
    now += DUE_FALLBACKS_TTL_MS - 1;
    expect(await store.claimDueFallbacks(now, 1)).toEqual(['c1 m1']);
    now += 1;
    expect(await store.claimDueFallbacks(now, 10)).toEqual([]);
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

  describeStoreContract('RedisStore', () => fixture.store, { describe, it, expect, beforeEach, afterEach });

  describe('RedisStore specifics', () => {
    it('a challenge\'s hash leaves out its id (the key names it) and the fields that hold their default; every operation reads them back as the defaults', async () => {
      const { client, prefix } = fixture;
      const store = new RedisStore({ client, prefix: `${prefix}lean:` });
      const hashOf = (record: ChallengeRecord) => client.hgetall(`${prefix}lean:{${record.id.slice(0, 4)}}ch:${record.id}`);
      const fresh = challengeRecord({ txn: undefined, otherFactors: [], nextSendAt: T0 });
      await store.create(fresh, TTL_MS);
      expect(Object.keys(await hashOf(fresh)).sort()).toEqual(['chn', 'cre', 'dig', 'exp', 'loc', 'max', 'msnd', 'nxt', 'phn', 'pur', 'snd', 'sub', 'to', 'trp']);
      expect(await store.reserveResend(fresh.id, owner(fresh), { digest: 'p1:new', cooldownMs: 1_000, keepEarlier: false }))
        .toEqual({ status: 'ok', record: { ...fresh, digests: ['p1:new'], sends: 2, nextSendAt: T0 + 2_000 } });

      // The same fields, holding other values, are kept and read back.
      const full = challengeRecord({ binding: 'b1', hosted: [{ channel: 'mc', id: 'V1' }], attempts: 1, messageId: 'wamid.A', sentAt: T0, deliveryStatus: 'sent', sealedPayment: 'p1.x.y.z', testNumber: true, nextSendAt: T0 });
      await store.create(full, TTL_MS);
      expect(Object.keys(await hashOf(full))).toEqual(expect.arrayContaining(['bnd', 'txn', 'hid', 'att', 'mid', 'sat', 'dst', 'pay', 'ofa', 'tst']));
      expect(await store.beginHostedCheck(full.id, owner(full, { bindingHashes: ['b1'] }))).toEqual({ status: 'check', record: { ...full, attempts: 2 } });
      expect(await store.applyStatus(full.id, 'wamid.A', 'delivered')).toEqual({ status: 'applied', record: { ...full, attempts: 2 } });

      // A new message has no status yet and, without keepEarlier, no hosted sends: both fields go rather than hold an empty value.
      await store.recordDelivery(full.id, { channel: 'sms', transport: 'sms', messageId: 'SM2', sentAt: T0 + 1, keepEarlier: false });
      const afterSend = await hashOf(full);
      expect(afterSend).toMatchObject({ chn: 'sms', trp: 'sms', mid: 'SM2' });
      expect(Object.keys(afterSend)).not.toContain('dst');
      expect(Object.keys(afterSend)).not.toContain('hid');
      expect(await store.applyStatus(full.id, 'SM2', 'sent')).toEqual({
        status: 'applied', record: { ...full, attempts: 2, channel: 'sms', transport: 'sms', messageId: 'SM2', sentAt: T0 + 1, deliveryStatus: undefined, hosted: [] },
      });
    });

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

    it('names the challenge key <prefix>{<tag>}ch:<id> (the tag: the id\'s first 4 characters, its subject\'s) and the one-time mark <prefix>jti:{<key>}: one hash tag each, fixing the Cluster slot', async () => {
      const { client, prefix } = fixture;
      const store = new RedisStore({ client, prefix: `${prefix}names:` });
      const record = challengeRecord();
      await store.create(record, 60_000);
      await store.consumeOnce('the-jti', 60_000);
      const keys = (await scan(client, `${prefix}names:*`)).sort();
      expect(keys).toEqual([`${prefix}names:{${record.id.slice(0, 4)}}ch:${record.id}`, `${prefix}names:jti:{the-jti}`].sort());
      for (const key of keys) expect(key.match(/[{}]/g)).toEqual(['{', '}']);
    });

    it('create keeps the subject\'s failure record in the challenge\'s slot at least as long as the challenge, so that verify\'s two keys exist together (a migrating Cluster slot serves a two-key script only then)', async () => {
      const { client, prefix } = fixture;
      const store = new RedisStore({ client, prefix: `${prefix}keep:` });
      const failures = { key: 'failures:subject-hash', max: 0, windowMs: 0, now: T0 };
      const long = challengeRecord();
      await store.create(long, 90_000, failures);
      const failuresKey = `${prefix}keep:{${long.id.slice(0, 4)}}lim:failures:subject-hash`;
      expect(await client.hgetall(failuresKey)).toEqual({ n: '0' });
      expect(await client.pttl(failuresKey)).toBeGreaterThan(89_000);
      // A shorter challenge does not shorten it; a right code (max 0: nothing counted) does not remove it.
      await store.create(challengeRecord({ id: long.id.slice(0, 4) + randomBytes(16).toString('base64url') }), 10_000, failures);
      expect(await client.pttl(failuresKey)).toBeGreaterThan(89_000);
      expect(await store.verify(long.id, owner(long), ['p1:right'], failures)).toMatchObject({ status: 'ok' });
      expect(await client.exists(failuresKey)).toBe(1);
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
      // The consumed challenge stays for a retry, no longer than its code would have lived.
      const left = await scan(client, `${prefix}gone:*`);
      expect(left).toEqual([`${prefix}gone:{${consumed.id.slice(0, 4)}}ch:${consumed.id}`]);
      const ttl = await client.pttl(left[0]!);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(consumed.expiresAt - owner(consumed).now);
      expect(await client.hget(left[0]!, 'mid')).toBeNull();
    });

    it('a locked or expired challenge keeps no digest at rest', async () => {
      const { client, prefix } = fixture;
      const store = new RedisStore({ client, prefix: `${prefix}wipe:` });
      const locked = challengeRecord({ maxAttempts: 1 });
      const expired = challengeRecord();
      await store.create(locked, 60_000);
      await store.create(expired, 60_000);
      expect(await store.verify(locked.id, owner(locked), ['p1:wrong'])).toEqual({ status: 'locked_now', ...FAILED });
      expect(await store.verify(expired.id, owner(expired, { now: expired.expiresAt }), ['p1:wrong'])).toEqual({ status: 'expired' });
      expect(await client.hget(`${prefix}wipe:{${locked.id.slice(0, 4)}}ch:${locked.id}`, 'dig')).toBe('');
      expect(await client.hget(`${prefix}wipe:{${locked.id.slice(0, 4)}}ch:${locked.id}`, 'lck')).toBe('1');
      expect(await client.hget(`${prefix}wipe:{${expired.id.slice(0, 4)}}ch:${expired.id}`, 'dig')).toBe('');
    });

    it('R-J11: facts and the due-fallback set carry a PTTL > 0 and within their bound', async () => {
      const { client, prefix } = fixture;
      const store = new RedisStore({ client, prefix: `${prefix}facts:` });
      await store.setFact('msg:wamid.1', 'challenge-1', 45_000);
      await store.setFact('nowa:hash', '1', 30 * 86_400_000);
      await store.scheduleFallback('challenge-1 wamid.1', Date.now() + 60_000);
      const keys = (await scan(client, `${prefix}facts:*`)).sort();
      expect(keys).toEqual([`${prefix}facts:fact:{msg:wamid.1}`, `${prefix}facts:fact:{nowa:hash}`, `${prefix}facts:{fallbacks}`]);
      const bounds: Record<string, number> = {
        [`${prefix}facts:fact:{msg:wamid.1}`]: 45_000,
        [`${prefix}facts:fact:{nowa:hash}`]: 30 * 86_400_000,
        [`${prefix}facts:{fallbacks}`]: 86_400_000,
      };
      for (const key of keys) {
        const pttl = await client.pttl(key);
        expect(pttl, key).toBeGreaterThan(0);
        expect(pttl, key).toBeLessThanOrEqual(bounds[key]!);
      }
    });

    it('a fact is gone once its PTTL has passed', async () => {
      const { client, prefix } = fixture;
      const store = new RedisStore({ client, prefix: `${prefix}factttl:` });
      await store.setFact('short', 'x', 5);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await store.getFact('short')).toBeUndefined();
    });

    it('two RedisStore instances on one redis (two clients, one prefix) never claim the same due fallback', async () => {
      const { prefix } = fixture;
      const clients = [new Redis(redisUrl(), { autoResendUnfulfilledCommands: false }), new Redis(redisUrl(), { autoResendUnfulfilledCommands: false })];
      otherClients.push(...clients);
      const [a, b] = clients.map((client) => new RedisStore({ client, prefix: `${prefix}due2:` })) as [RedisStore, RedisStore];
      for (let round = 0; round < 5; round++) {
        const entries = Array.from({ length: 30 }, (_, index) => `r${round}c${index} m`);
        await Promise.all(entries.map((entry, index) => (index % 2 === 0 ? a : b).scheduleFallback(entry, T0 + index)));
        const claims = await Promise.all([a.claimDueFallbacks(T0 + 1_000, 20), b.claimDueFallbacks(T0 + 1_000, 20), a.claimDueFallbacks(T0 + 1_000, 20), b.claimDueFallbacks(T0 + 1_000, 20)]);
        const all = claims.flat();
        expect(new Set(all).size, `round ${round}`).toBe(all.length);
        expect(all.sort()).toEqual([...entries].sort());
      }
    });

    it('the due-fallback set is shared by instances with one prefix and apart for another prefix', async () => {
      const { client, prefix } = fixture;
      const a = new RedisStore({ client, prefix: `${prefix}dueA:` });
      const a2 = new RedisStore({ client, prefix: `${prefix}dueA:` });
      const b = new RedisStore({ client, prefix: `${prefix}dueB:` });
      await a.scheduleFallback('c1 m1', T0);
      expect(await b.claimDueFallbacks(T0, 10)).toEqual([]);
      expect(await a2.claimDueFallbacks(T0, 10)).toEqual(['c1 m1']);
      expect(await a.claimDueFallbacks(T0, 10)).toEqual([]);
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
      const primaries = new Cluster([{ host: '127.0.0.1', port }], { lazyConnect: true, scaleReads: 'master', redisOptions: { autoResendUnfulfilledCommands: false } });
      expect(() => new RedisStore({ client: primaries, prefix: fixture.prefix })).not.toThrow();
      cluster.disconnect();
      primaries.disconnect();
    });

    it('R-J8: rejects a client that would resend unfulfilled commands after a reconnect (the ioredis default)', () => {
      const port = Number(new URL(redisUrl()).port);
      const resending = new Redis(redisUrl(), { lazyConnect: true });
      const cluster = new Cluster([{ host: '127.0.0.1', port }], { lazyConnect: true, scaleReads: 'master' });
      otherClients.push(resending);
      expect(() => new RedisStore({ client: resending })).toThrow(/autoResendUnfulfilledCommands: false/);
      expect(() => new RedisStore({ client: cluster })).toThrow(/autoResendUnfulfilledCommands: false.*redisOptions/);
      cluster.disconnect();
    });

    it('R-J8: a connection dropped right after the verify script ran counts the attempt exactly once and answers store_unavailable', async () => {
      // A TCP proxy that forwards everything, except that it can cut the client off instead of
      // passing on Redis's next answer: the script has run, its reply is lost.
      let dropNextReply = false;
      const sockets = new Set<Socket>();
      const proxy = createNetServer((downstream) => {
        const upstream = connect(Number(new URL(redisUrl()).port), '127.0.0.1');
        sockets.add(downstream).add(upstream);
        downstream.on('data', (chunk) => upstream.write(chunk));
        upstream.on('data', (chunk) => {
          if (dropNextReply) {
            dropNextReply = false;
            downstream.destroy();
            upstream.destroy();
            return;
          }
          downstream.write(chunk);
        });
        for (const socket of [downstream, upstream]) socket.on('error', () => undefined).on('close', () => { downstream.destroy(); upstream.destroy(); });
      });
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      const proxied = new Redis((proxy.address() as AddressInfo).port, '127.0.0.1', {
        enableOfflineQueue: false, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false, retryStrategy: () => 100,
      });
      proxied.on('error', () => undefined);
      otherClients.push(proxied);
      try {
        await once(proxied, 'ready');
        // As the core holds it: whatever the store rejects with is store_unavailable.
        const store = failingClosed(new RedisStore({ client: proxied, prefix: `${fixture.prefix}rj8:` }));
        const record = challengeRecord({ digests: ['p1:right'] });
        await store.create(record, 60_000);
        await store.verify(record.id, owner(record), ['p1:warm-up']); // scripts loaded, one attempt counted
        dropNextReply = true;
        await expect(store.verify(record.id, owner(record), ['p1:wrong'])).rejects.toMatchObject({ code: 'store_unavailable' });
        // Whatever the client does after reconnecting, Redis ran the script once: two attempts in all.
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(await fixture.client.hget(`${fixture.prefix}rj8:{${record.id.slice(0, 4)}}ch:${record.id}`, 'att')).toBe('2');
      } finally {
        proxied.disconnect();
        for (const socket of sockets) socket.destroy();
        proxy.close();
      }
    });

    it('with enableAutoPipelining, the verify script (and a start\'s admission) goes out on its own; other commands still auto-pipeline, and no other client changes', async () => {
      const client = new Redis(redisUrl(), { enableOfflineQueue: false, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false, enableAutoPipelining: true, autoPipeliningIgnoredCommands: ['hgetall'] });
      const bystander = new Redis(redisUrl(), { lazyConnect: true, enableAutoPipelining: true });
      otherClients.push(client, bystander);
      await once(client, 'ready');
      const store = new RedisStore({ client, prefix: `${fixture.prefix}ap:` });
      expect(client.options.autoPipeliningIgnoredCommands).toEqual(['hgetall', 'stepupVerify', 'stepupBeginHosted', 'stepupFinishHosted', 'stepupAdmit', 'stepupRecordSent']);
      // ioredis's default list is one array for all its clients: ours was a copy.
      expect(bystander.options.autoPipeliningIgnoredCommands).toEqual([]);
      const record = challengeRecord({ digests: ['p1:right'] });
      await store.create(record, 60_000);

      const verified = store.verify(record.id, owner(record), ['p1:right']);
      expect(client.autoPipelineQueueSize).toBe(0);
      const other = client.get(`${fixture.prefix}ap:unrelated`);
      expect(client.autoPipelineQueueSize).toBe(1);
      await expect(verified).resolves.toMatchObject({ status: 'ok' });
      await other;
    });

    it("R-J4: rejects a Sentinel client created with role: 'slave'; role 'master' is accepted", () => {
      const sentinel = (role: 'master' | 'slave') => {
        const client = new Redis({ sentinels: [{ host: '127.0.0.1', port: 1 }], name: 'mymaster', role, lazyConnect: true, autoResendUnfulfilledCommands: false });
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

// ---- RedisStore on Redis Cluster ----------------------------------------------------
// The same contract on the suite's shared 3-primary cluster (global setup), through the
// Cluster client the README recommends. A script that touched keys of two slots would
// fail here with CROSSSLOT, surfacing as store_unavailable.

describe('RedisStore on a 3-primary Redis Cluster', () => {
  let cluster: Cluster;
  let store: RedisStore;
  const prefix = uniquePrefix('cluster');

  beforeAll(async () => {
    cluster = await connectCluster();
    store = new RedisStore({ client: cluster, prefix });
  });
  afterAll(async () => {
    if (!cluster) return;
    // One DEL per key: a multi-key DEL across slots would itself be CROSSSLOT.
    for (const key of await scanCluster(cluster, `${prefix}*`)) await cluster.del(key);
    cluster.disconnect();
  });

  describeStoreContract('RedisStore on Redis Cluster', () => store, { describe, it, expect, beforeEach, afterEach });

  describe('Cluster specifics', () => {
    // The scripts' own R-J1 check (keys only from KEYS) is in store.redis-scripts.test.ts, beside their text.
    it('R-J1: a start\'s admission takes its steps on a Cluster (counters, reads and facts, then the challenge), and so does a delivery record with its message fact: the standalone scripts never run there', async () => {
      const client = await connectCluster();
      try {
        // Defined before the store: the store keeps a command the client already has.
        client.defineCommand('stepupAdmit', { lua: 'return redis.error_reply("the standalone admission ran on a Cluster")' });
        client.defineCommand('stepupRecordSent', { numberOfKeys: 2, lua: 'return redis.error_reply("the standalone delivery record ran on a Cluster")' });
        const own = new RedisStore({ client, prefix: `${prefix}steps:` });
        const hits = Array.from({ length: 6 }, (_, index) => ({ key: `ip:10.1.0.${index}`, windowMs: 60_000, max: 1 }));
        const record = challengeRecord();
        const admission = { hits, reads: ['verifiedIn:34'], facts: ['nowa:x'], failures: { key: 'failures:steps', max: 3, windowMs: 60_000, now: T0 + 1_000 } };
        expect(await own.admit(record, TTL_MS, admission)).toMatchObject({ created: true, hits: hits.map(() => ({ count: 1 })), facts: [undefined] });
        expect(await own.admit(challengeRecord(), TTL_MS, admission)).toMatchObject({ created: false });
        await own.recordDelivery(record.id, { channel: 'wa', transport: 'whatsapp', messageId: 'wamid.S', sentAt: T0, keepEarlier: false, messageFact: { key: 'msg:wamid.S', ttlMs: 60_000 } });
        expect(await own.getFact('msg:wamid.S')).toBe(record.id);
        expect(await own.verify(record.id, owner(record), ['p1:right'])).toMatchObject({ status: 'ok' });
      } finally {
        client.disconnect();
      }
    });

    it('R-J1 R-J11: every operation, on keys spread over all three primaries, runs without CROSSSLOT; each key is one hash tag on its own slot, with a bounded TTL', async () => {
      const own = new RedisStore({ client: cluster, prefix: `${prefix}all:` });
      const records = Array.from({ length: 24 }, () => challengeRecord({ nextSendAt: T0 }));
      await Promise.all(records.map((record) => own.create(record, 90_000)));
      await Promise.all(records.map(async (record, index) => {
        const who = owner(record);
        switch (index % 6) {
          case 0:
            // With the subject's failure counter: a second key, in the challenge's slot.
            expect(await own.verify(record.id, who, ['p1:wrong'], { key: `failures:${index}`, max: 5, windowMs: 60_000, now: T0 + 1_000 })).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
            return;
          case 1:
            expect(await own.reserveResend(record.id, who, { digest: 'p1:new', cooldownMs: 1_000, keepEarlier: true })).toMatchObject({ status: 'ok' });
            return;
          case 2:
            await own.recordDelivery(record.id, { channel: 'sms', transport: 'sms', messageId: `SM${index}`, sentAt: T0, keepEarlier: false });
            expect(await own.applyStatus(record.id, `SM${index}`, 'delivered')).toMatchObject({ status: 'applied' });
            return;
          case 3:
            expect(await own.beginHostedCheck(record.id, who)).toMatchObject({ status: 'check' });
            expect(await own.finishHostedCheck(record.id, false)).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
            return;
          case 4:
            await own.discardCode(record.id, 'p1:right');
            return;
          default:
            expect(await own.verify(record.id, who, ['p1:right'])).toMatchObject({ status: 'ok' });
        }
      }));
      const counters = Array.from({ length: 12 }, (_, index) => ({ key: `ip:10.0.0.${index}`, windowMs: 60_000 }));
      expect(await own.countHits(counters)).toEqual(counters.map(() => ({ count: 1, resetInMs: expect.any(Number) })));
      expect((await own.readHits(counters.map(({ key }) => key))).map(({ count }) => count)).toEqual(counters.map(() => 1));
      await Promise.all(Array.from({ length: 8 }, (_, index) => own.setFact(`msg:wamid.${index}`, 'c', 45_000)));
      expect(await own.getFact('msg:wamid.3')).toBe('c');
      await own.scheduleFallback('c1 m1', T0);
      expect(await own.consumeOnce('jti-a', 45_000)).toBe(true);
      expect(await own.consumeOnce('jti-b', 45_000)).toBe(true);

      const keys = await scanCluster(cluster, `${prefix}all:*`);
      // 24 challenges (4 of them consumed, kept for a retry until they expire), 4 subjects' failures, 12 counters, 8 facts, the due set, 2 one-time marks.
      expect(keys).toHaveLength(24 + 4 + 12 + 8 + 1 + 2);
      for (const record of records.filter((_, index) => index % 6 === 0)) {
        const failures = keys.find((key) => key.startsWith(`${prefix}all:{${record.id.slice(0, 4)}}lim:failures:`));
        expect(Number(await cluster.call('CLUSTER', 'KEYSLOT', failures!))).toBe(Number(await cluster.call('CLUSTER', 'KEYSLOT', `${prefix}all:{${record.id.slice(0, 4)}}ch:${record.id}`)));
      }
      const slots = new Set<number>();
      for (const key of keys) {
        const tags = key.match(/\{([^{}]*)\}/g) ?? [];
        expect(tags, key).toHaveLength(1);
        const slot = Number(await cluster.call('CLUSTER', 'KEYSLOT', key));
        expect(Number(await cluster.call('CLUSTER', 'KEYSLOT', tags[0]!.slice(1, -1))), key).toBe(slot);
        slots.add(slot);
        const pttl = await cluster.pttl(key);
        expect(pttl, key).toBeGreaterThan(0);
        expect(pttl, key).toBeLessThanOrEqual(86_400_000);
      }
      expect(slots.size).toBeGreaterThan(30);
      // The run really used every primary.
      const perNode = await Promise.all(cluster.nodes('master').map(async (node) => (await scan(node, `${prefix}all:*`)).length));
      expect(perNode).toHaveLength(3);
      for (const count of perNode) expect(count).toBeGreaterThan(0);
    });

    it('R-J10: after SCRIPT FLUSH on every primary the next operations still work (EVALSHA falls back to EVAL)', async () => {
      const record = challengeRecord();
      await store.create(record, TTL_MS);
      await Promise.all(cluster.nodes('master').map((node) => node.script('FLUSH')));
      expect(await store.verify(record.id, owner(record), ['p1:wrong'])).toEqual({ status: 'invalid', attemptsLeft: 2, ...FAILED });
      const more = Array.from({ length: 9 }, () => challengeRecord());
      await Promise.all(more.map((one) => store.create(one, TTL_MS)));
      expect(await store.verify(record.id, owner(record), ['p1:right'])).toMatchObject({ status: 'ok' });
      for (const one of more) expect(await store.verify(one.id, owner(one), ['p1:right'])).toMatchObject({ status: 'ok' });
    });
  });
});

async function scanCluster(cluster: Cluster, pattern: string): Promise<string[]> {
  return (await Promise.all(cluster.nodes('master').map((node) => scan(node, pattern)))).flat();
}

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
