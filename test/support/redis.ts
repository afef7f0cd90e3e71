import { once } from 'node:events';
import { Cluster, type ClusterOptions } from 'ioredis';
import { inject } from 'vitest';
import { parseClusterNodes, type ClusterNode } from './redis-cluster.js';

export { startRedis, type RedisHandle, type StartRedisOptions } from './redis-server.js';
export { startRedisCluster, type ClusterNode, type RedisClusterHandle } from './redis-cluster.js';

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

/** Primaries of the suite's shared 3-primary Redis Cluster, started by test/support/global-setup.ts. */
export function redisClusterNodes(): ClusterNode[] {
  const nodes = inject('redisClusterNodes') ?? process.env.STEPUP_TEST_REDIS_CLUSTER;
  if (!nodes) {
    throw new Error(
      'No test Redis Cluster: run tests through vitest with vitest.config.ts (its globalSetup starts the cluster).',
    );
  }
  return parseClusterNodes(nodes);
}

/**
 * The Cluster client options the README recommends: primaries only, fail fast (no
 * offline queue on the cluster, one retry per command on each node), no blind resend.
 */
export function clusterClientOptions(): ClusterOptions {
  return {
    scaleReads: 'master',
    enableOfflineQueue: false,
    redisOptions: { maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false, connectTimeout: 500 },
  };
}

/** A connected ioredis Cluster client (resolves on 'ready'), by default on the shared cluster. */
export async function connectCluster(nodes: ClusterNode[] = redisClusterNodes(), options: ClusterOptions = clusterClientOptions()): Promise<Cluster> {
  const cluster = new Cluster(nodes, options);
  // Reconnects emit 'error'; without a listener ioredis logs each one.
  cluster.on('error', () => undefined);
  if (cluster.status !== 'ready') {
    const timeout = AbortSignal.timeout(10_000);
    try {
      await once(cluster, 'ready', { signal: timeout });
    } catch (error) {
      cluster.disconnect();
      throw timeout.aborted ? new Error(`Redis Cluster client not ready within 10 s (${nodes.map((node) => node.port).join(', ')})`) : error;
    }
  }
  return cluster;
}
