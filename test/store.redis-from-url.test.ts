// A RedisStore that makes its own client from a URL, Cluster nodes or Sentinels: with the
// options the store needs (no offline queue, one retry, no blind resend; primaries only), so
// that it starts and verifies on a real Redis with nothing else configured, and `close()`
// ends the client it made. Every mistake in the options throws before any connection opens.
import { afterEach, describe, expect, it } from 'vitest';
import { RedisStore } from '../src/index.js';
import { makeStepUp, rejection, startChallenge, SUBJECT, uniquePrefix } from './core.fixtures.js';
import { redisClusterNodes, redisUrl, startRedis } from './support/redis.js';
import { startSentinel, type SentinelSetup } from './support/redis-sentinel.js';

const stores: RedisStore[] = [];
const setups: SentinelSetup[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
  await Promise.all(setups.splice(0).map((setup) => setup.stop()));
});

function own(options: ConstructorParameters<typeof RedisStore>[0]): RedisStore {
  const store = new RedisStore(options);
  stores.push(store);
  return store;
}

/** A whole step-up on the store: start, the right code, and the same token for a retry of it. */
async function stepUpOn(store: RedisStore): Promise<void> {
  const harness = makeStepUp({ store });
  const { challengeId, code } = await startChallenge(harness);
  const { token } = await harness.stepup.verify(challengeId, code, { subject: SUBJECT });
  await expect(harness.stepup.verify(challengeId, code, { subject: SUBJECT })).resolves.toMatchObject({ token });
}

describe('RedisStore from where Redis is', () => {
  it('from a URL: ready() waits for the connection, a step-up runs, close() ends the client, after which operations fail closed', async () => {
    const store = own({ url: redisUrl(), prefix: uniquePrefix('from-url') });
    await store.ready();
    await stepUpOn(store);
    await store.close();
    const harness = makeStepUp({ store });
    expect((await rejection(startChallenge(harness))).code).toBe('store_unavailable');
    await store.close(); // twice is harmless
  });

  it('from a URL of a Redis that is down: operations answer store_unavailable at once (no offline queue), and ready() rejects after its wait', async () => {
    const server = await startRedis();
    await server.stop();
    const store = own({ url: server.url });
    const started = Date.now();
    expect((await rejection(startChallenge(makeStepUp({ store })))).code).toBe('store_unavailable');
    expect(Date.now() - started).toBeLessThan(1_500);
    await expect(store.ready(300)).rejects.toThrow(/not ready within 300 ms/);
    await expect(store.ready(0)).rejects.toThrow(/waitMs must be an integer/);
    // Waits that gave up leave no listener on the client.
    const { Redis } = await import('ioredis');
    const client = new Redis(server.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false, lazyConnect: true });
    const brought = own({ client });
    for (let i = 0; i < 12; i++) await expect(brought.ready(5)).rejects.toThrow(/not ready/);
    expect(client.listenerCount('ready')).toBe(0);
    client.disconnect();
  });

  it('from Cluster nodes (one is enough): the client reads from primaries and a step-up runs', async () => {
    const store = own({ cluster: redisClusterNodes().slice(0, 1), prefix: uniquePrefix('from-cluster') });
    await store.ready();
    await stepUpOn(store);
  });

  it('from Sentinels and the primary\'s name: a step-up runs on the primary', { timeout: 60_000 }, async () => {
    const setup = await startSentinel();
    setups.push(setup);
    const store = own({ sentinels: setup.sentinels, name: setup.name, prefix: uniquePrefix('from-sentinel') });
    await store.ready();
    await stepUpOn(store);
  });

  it('a client you give stays yours: close() leaves it open', async () => {
    const { Redis } = await import('ioredis');
    const client = new Redis(redisUrl(), { enableOfflineQueue: false, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false });
    try {
      const store = own({ client, prefix: uniquePrefix('brought') });
      await store.ready();
      await store.close();
      expect(await client.ping()).toBe('PONG');
    } finally {
      client.disconnect();
    }
  });

  it('refuses every mistake before connecting, saying what to give', () => {
    const cases: [unknown, RegExp][] = [
      [{}, /exactly one of `client`.*\(received none\)/],
      [{ url: redisUrl(), cluster: redisClusterNodes() }, /exactly one of .*\(received url and cluster\)/],
      [{ url: 'localhost:6379' }, /`url` must be a redis:\/\/ or rediss:\/\/ URL/],
      [{ cluster: [] }, /`cluster` must be a non-empty list of \{ host, port \}/],
      [{ cluster: [{ host: 'a', port: 0 }] }, /`cluster` must be a non-empty list/],
      [{ sentinels: [{ host: '127.0.0.1', port: 26379 }] }, /`sentinels` needs `name`/],
      [{ url: redisUrl(), name: 'mymaster' }, /`name` goes with `sentinels`/],
      [{ url: redisUrl(), prefix: '{x}' }, /`prefix` must be a string/],
      [{ cluster: redisClusterNodes(), waitForReplicas: { replicas: 1, timeoutMs: 100 } }, /does not work with a Cluster client/],
      [{ url: redisUrl(), host: 'x' }, /host/],
    ];
    for (const [options, message] of cases) expect(() => new RedisStore(options as never), JSON.stringify(options)).toThrow(message);
  });
});
