import { Redis } from 'ioredis';
import { RedisStore } from '../../src/index.js';
import { startRedis, type RedisHandle } from './redis.js';

/** The client options the README recommends: an outage fails fast, nothing is replayed. */
export const FAIL_FAST = { enableOfflineQueue: false, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false, retryStrategy: () => 200 };

/**
 * Redis servers of a test file's own, which a test may stop, pause or kill without
 * disturbing the others; `cleanUp()` (in `afterEach`) ends them and their clients.
 */
export function privateRedisServers() {
  const servers: RedisHandle[] = [];
  const clients: Redis[] = [];
  return {
    clients,
    servers,
    /** A new server, a FAIL_FAST client that is ready, and a store on it. */
    async start(timeoutMs?: number): Promise<{ server: RedisHandle; client: Redis; store: RedisStore }> {
      const server = await startRedis();
      servers.push(server);
      const client = new Redis(server.url, FAIL_FAST);
      client.on('error', () => undefined);
      clients.push(client);
      // Without an offline queue a command sent before the connection is up fails at once.
      await new Promise((resolve) => client.once('ready', resolve));
      return { server, client, store: new RedisStore({ client, prefix: 'failure:', ...(timeoutMs === undefined ? {} : { timeoutMs }) }) };
    },
    async cleanUp(): Promise<void> {
      for (const client of clients.splice(0)) client.disconnect();
      await Promise.all(servers.splice(0).map((server) => server.kill()));
    },
  };
}
