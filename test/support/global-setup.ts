import type { TestProject } from 'vitest/node';
import { startRedisCluster } from './redis-cluster.js';
import { startRedis } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    /** The shared Redis Cluster's primaries, `host:port,host:port,host:port`. */
    redisClusterNodes: string;
  }
}

// One redis and one 3-primary Redis Cluster for the whole run: starting them per test
// file would cost more than the tests themselves (the cluster takes about 2 s to form).
// Tests isolate themselves with their own key prefixes. A test that changes the
// cluster's topology (moving a slot) starts a cluster of its own instead.
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [redis, cluster] = await Promise.all([startRedis(), startRedisCluster()]);
  project.provide('redisUrl', redis.url);
  project.provide('redisClusterNodes', cluster.addresses.join(','));
  // Forked workers inherit these; they also serve code that cannot call inject().
  process.env.STEPUP_TEST_REDIS_URL = redis.url;
  process.env.STEPUP_TEST_REDIS_CLUSTER = cluster.addresses.join(',');
  return async () => {
    await Promise.all([redis.stop(), cluster.stop()]);
  };
}
