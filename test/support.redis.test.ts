import { Redis, type RedisOptions } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { redisUrl, startRedis, type RedisHandle } from './support/redis.js';

// The options a fail-fast store should use: no offline queue, one retry, short
// connect timeout. These tests pin down how ioredis 6 fails with them, because
// the library's behaviour when redis is down depends on it.
const FAIL_FAST: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 500,
  retryStrategy: () => 200,
};
const NOT_WRITEABLE = "Stream isn't writeable and enableOfflineQueue options is false";

const clients: Redis[] = [];
const servers: RedisHandle[] = [];

function client(url: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, options);
  // Reconnect attempts emit 'error'; without a listener ioredis logs each one.
  redis.on('error', () => undefined);
  clients.push(redis);
  return redis;
}

function ready(redis: Redis): Promise<void> {
  return new Promise((resolve, reject) => {
    redis.once('ready', resolve);
    redis.once('end', () => reject(new Error('connection ended before ready')));
  });
}

async function failure(run: () => Promise<unknown>): Promise<{ error: Error; ms: number }> {
  const started = Date.now();
  try {
    await run();
  } catch (error) {
    return { error: error as Error, ms: Date.now() - started };
  }
  throw new Error('expected the command to fail');
}

afterEach(async () => {
  for (const redis of clients.splice(0)) redis.disconnect();
  await Promise.all(servers.splice(0).map((server) => server.kill()));
});

describe('test redis support', () => {
  it('provides a working shared redis', async () => {
    const redis = client(redisUrl());
    const key = `support-test:${process.pid}:${Date.now()}`;
    await redis.set(key, 'hello', 'EX', 30);
    expect(await redis.get(key)).toBe('hello');
  });

  it('starts private servers on distinct ports', async () => {
    const second = await startRedis();
    servers.push(second);
    expect(second.url).not.toBe(redisUrl());
    const redis = client(second.url);
    expect(await redis.ping()).toBe('PONG');
  });

  describe('fail-fast client when redis is down', () => {
    it('rejects at once on a client that was connected before the server stopped', async () => {
      const server = await startRedis();
      servers.push(server);
      const redis = client(server.url, FAIL_FAST);
      await ready(redis);
      await redis.set('k', 'v');

      await server.stop();
      const { error, ms } = await failure(() => redis.get('k'));

      expect(error.constructor).toBe(Error);
      expect(error.message).toBe(NOT_WRITEABLE);
      expect(ms).toBeLessThan(2_000);
    });

    it('rejects at once on a client that never connected', async () => {
      const server = await startRedis();
      await server.stop();
      const redis = client(server.url, FAIL_FAST);

      const { error, ms } = await failure(() => redis.get('k'));

      expect(error.message).toBe(NOT_WRITEABLE);
      expect(ms).toBeLessThan(2_000);
    });

    it('rejects a command in flight when the server crashes with MaxRetriesPerRequestError', async () => {
      const server = await startRedis();
      servers.push(server);
      const redis = client(server.url, FAIL_FAST);
      await ready(redis);

      // BLPOP with no timeout would wait forever on a live server.
      const pending = failure(() => redis.blpop('support-test:never', 0));
      // Give redis time to receive it, so the crash really hits it mid-flight.
      await new Promise((resolve) => setTimeout(resolve, 50));
      await server.kill();
      const { error, ms } = await pending;

      // Not exported by ioredis 6, so match on the name.
      expect(error.name).toBe('MaxRetriesPerRequestError');
      expect(ms).toBeLessThan(2_000);
    });
  });
});
