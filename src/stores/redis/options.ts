import { describe, integerIn, rejectUnknown } from '../../lib/validate.js';
import { checkClient, waitOption, type RedisClient } from './client.js';
import { connect, connectionOf, type OwnedClient, type RedisNode } from './connect.js';

interface CommonOptions {
  /** Prefix of every key. Default `'stepup:'`. It may not hold `{` or `}` (they would change the Cluster slot). */
  prefix?: string;
  /** Longest wait for one store operation before it fails as `store_unavailable`, in ms. Default 1000. */
  timeoutMs?: number;
  /**
   * After the writes a failover must not lose (a new challenge, a verify that consumed it or
   * counted an attempt, a hosted check, a one-time token id), send `WAIT replicas timeoutMs` on
   * the same connection and fail closed (`store_unavailable`) when fewer replicas acknowledged.
   * Off by default (no extra command). Not for a Cluster client: ioredis sends a keyless WAIT
   * to any node; use `min-replicas-to-write` on a Cluster instead.
   */
  waitForReplicas?: { replicas: number; timeoutMs: number };
}

/**
 * Where the store's Redis is: a URL, Cluster nodes or Sentinels (the store makes the ioredis
 * client with the options it needs, and `close()` ends it), or a `client` you made and end.
 */
export type RedisStoreOptions = CommonOptions & (
  | {
    /**
     * An ioredis client or Cluster (ioredis 5 or 6) of your own. Give it bounded waits so that an outage fails fast:
     * `{ enableOfflineQueue: false, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false }`.
     */
    client: RedisClient; url?: never; cluster?: never; sentinels?: never; name?: never;
  }
  | { /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */ url: string; client?: never; cluster?: never; sentinels?: never; name?: never }
  | { /** Some nodes of a Redis Cluster; the client finds the rest. */ cluster: RedisNode[]; client?: never; url?: never; sentinels?: never; name?: never }
  | { /** Sentinels watching the primary `name`. */ sentinels: RedisNode[]; /** The primary's name (`sentinel monitor <name> ...`). */ name: string; client?: never; url?: never; cluster?: never }
);

export interface ResolvedStoreOptions {
  client: RedisClient;
  /** The client the store made (from a URL, nodes or sentinels): the store ends it. */
  owned: OwnedClient | undefined;
  prefix: string;
  timeoutMs: number;
  wait: { replicas: number; timeoutMs: number } | undefined;
}

const EXAMPLE = "new RedisStore({ url: 'redis://localhost:6379' })";

/** Every option checked before a connection is opened, so that a mistake leaves none behind. */
export function resolveStoreOptions(options: RedisStoreOptions): ResolvedStoreOptions {
  if (!options || typeof options !== 'object') throw new TypeError(`RedisStore needs options: ${EXAMPLE}, or { client } with an ioredis client of your own.`);
  const { client, url, cluster, sentinels, name, prefix = 'stepup:', timeoutMs = 1000, waitForReplicas, ...unknown } = options as unknown as CommonOptions & Record<string, unknown>;
  rejectUnknown(unknown, ['client', 'url', 'cluster', 'sentinels', 'name', 'prefix', 'timeoutMs', 'waitForReplicas'], 'RedisStore');
  const connection = connectionOf({ client, url, cluster, sentinels, name } as Parameters<typeof connectionOf>[0]);
  if (!connection && (!client || typeof (client as { defineCommand?: unknown }).defineCommand !== 'function')) {
    throw new TypeError(`\`client\` must be an ioredis client or Cluster, created with { enableOfflineQueue: false, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false }; or let the store make one: ${EXAMPLE}.`);
  }
  if (typeof prefix !== 'string' || /[{}]/.test(prefix) || prefix.length > 64) {
    throw new TypeError(`\`prefix\` must be a string of at most 64 characters without '{' or '}' (received ${describe(prefix)}); braces would change the Cluster hash tag.`);
  }
  integerIn(timeoutMs, 50, 30_000, 1000, 'timeoutMs');
  if (!connection) {
    checkClient(client as RedisClient);
    return { client: client as RedisClient, owned: undefined, prefix, timeoutMs, wait: waitOption(waitForReplicas, timeoutMs, client as RedisClient) };
  }
  // The client's kind is known before it exists: WAIT is refused for a Cluster without opening one.
  const wait = waitOption(waitForReplicas, timeoutMs, { isCluster: connection.cluster !== undefined } as RedisClient);
  const owned = connect(connection);
  return { client: owned, owned, prefix, timeoutMs, wait };
}
