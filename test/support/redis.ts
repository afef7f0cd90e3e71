import { inject } from 'vitest';

export { startRedis, type RedisHandle, type StartRedisOptions } from './redis-server.js';

/** URL of the suite's shared private redis, started by test/support/global-setup.ts. */
export function redisUrl(): string {
  const url = inject('redisUrl') ?? process.env.STEPUP_TEST_REDIS_URL;
  if (!url) {
    throw new Error(
      'No test redis URL: run tests through vitest with vitest.config.ts (its globalSetup starts redis).',
    );
  }
  return url;
}
