import type { TestProject } from 'vitest/node';
import { startRedis } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

// One redis for the whole run: starting one per test file would cost more than
// the tests themselves. Tests isolate themselves with their own key prefixes.
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redis = await startRedis();
  project.provide('redisUrl', redis.url);
  // Forked workers inherit this; it also serves code that cannot call inject().
  process.env.STEPUP_TEST_REDIS_URL = redis.url;
  return async () => {
    await redis.stop();
  };
}
