import { Cluster, Redis } from 'ioredis';
import { describe } from '../../lib/validate.js';
import type { RedisClient } from './client.js';

/** A Redis node's address. */
export interface RedisNode {
  host: string;
  port: number;
}

/** Where the store connects when it makes its own client (one of them). */
export interface RedisConnection {
  /** `redis://[user:password@]host:port[/db]` or `rediss://` (TLS). */
  url?: string;
  /** Some nodes of a Redis Cluster; the client finds the rest. */
  cluster?: RedisNode[];
  /** Sentinels that watch the primary `name`. */
  sentinels?: RedisNode[];
  /** With `sentinels`: the name of the primary they watch. */
  name?: string;
}

/** A client the store made, and so ends. */
export type OwnedClient = RedisClient & { readonly status: string; quit(): Promise<unknown>; disconnect(): void; once(event: 'ready' | 'end', listener: () => void): unknown };

// What the store needs of every client: a command fails at once while Redis is away (no
// offline queue, one retry), and a script whose answer a dropped connection lost is never
// sent again (it would count an attempt twice).
const FAIL_FAST = { enableOfflineQueue: false, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false, connectTimeout: 1000 } as const;

const FORMS = ['client', 'url', 'cluster', 'sentinels'] as const;
const FIX = 'Give exactly one of `client` (an ioredis client you made), `url` (redis:// or rediss://), `cluster` ([{ host, port }, ...]) or `sentinels` with `name`';

/** The form of connection asked for, checked; undefined when the caller brings a client. */
export function connectionOf(options: RedisConnection & { client?: unknown }): RedisConnection | undefined {
  const given = FORMS.filter((form) => options[form] !== undefined);
  if (given.length !== 1) throw new TypeError(`${FIX} (received ${given.length === 0 ? 'none' : given.join(' and ')}).`);
  if (options.name !== undefined && given[0] !== 'sentinels') throw new TypeError('`name` goes with `sentinels`: the name of the primary they watch.');
  switch (given[0]) {
    case 'client':
      return undefined;
    case 'url':
      if (typeof options.url !== 'string' || !/^rediss?:\/\/[^\s]+$/.test(options.url)) throw new TypeError('`url` must be a redis:// or rediss:// URL, for example redis://localhost:6379.');
      return { url: options.url };
    case 'cluster':
      return { cluster: nodes(options.cluster, 'cluster') };
    default:
      if (typeof options.name !== 'string' || options.name === '') throw new TypeError('`sentinels` needs `name`: the name of the primary they watch (sentinel monitor <name> ...).');
      return { sentinels: nodes(options.sentinels, 'sentinels'), name: options.name };
  }
}

function nodes(value: unknown, what: string): RedisNode[] {
  const fix = `\`${what}\` must be a non-empty list of { host, port }, for example [{ host: '10.0.0.1', port: ${what === 'cluster' ? 7000 : 26379} }]`;
  if (!Array.isArray(value) || value.length === 0) throw new TypeError(`${fix} (received ${describe(value)}).`);
  return value.map((node: unknown) => {
    const { host, port } = (node ?? {}) as Partial<RedisNode>;
    if (typeof host !== 'string' || host === '' || !Number.isInteger(port) || port! < 1 || port! > 65535) throw new TypeError(`${fix} (received ${describe(node)}).`);
    return { host, port: port! };
  });
}

/**
 * A client for the connection, with the options the store needs: primaries only on a Cluster
 * and behind Sentinels (replicas can serve stale challenges), a Sentinel client that follows
 * a failover as soon as it is announced. Its errors surface as the store's failures.
 */
export function connect(connection: RedisConnection): OwnedClient {
  let client: Redis | Cluster;
  if (connection.cluster) {
    client = new Cluster(connection.cluster, { scaleReads: 'master', enableOfflineQueue: false, redisOptions: FAIL_FAST });
  } else if (connection.sentinels) {
    client = new Redis({ ...FAIL_FAST, sentinels: connection.sentinels, name: connection.name!, role: 'master', failoverDetector: true });
  } else {
    client = new Redis(connection.url!, FAIL_FAST);
  }
  // Without a listener ioredis prints every reconnect error; the store reports failures as store_unavailable.
  client.on('error', () => undefined);
  return client as unknown as OwnedClient;
}
