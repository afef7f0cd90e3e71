import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startRedis, startRedisProcess, type RedisHandle } from './redis-server.js';

// Like redis-server.ts, free of any `vitest` import.

const HOST = '127.0.0.1';
const SETTLE_TIMEOUT_MS = 30_000;

export interface SentinelSetup {
  /** The monitored master's name (ioredis `name`). */
  name: string;
  /** ioredis `sentinels`. */
  sentinels: { host: string; port: number }[];
  /** The two data servers; which one is primary changes with failover(). */
  servers: [RedisHandle, RedisHandle];
  sentinel: RedisHandle;
  /** Port of the current primary, as the sentinel reports it. */
  primaryPort(): Promise<number>;
  /**
   * `SENTINEL FAILOVER <name>`, then waits until the sentinel names the other server and,
   * with `settle`, until the old primary is a replica of it again (WAIT can count it).
   */
  failover(options?: { settle?: boolean }): Promise<{ from: number; to: number }>;
  /** Resolves once the current primary has a replica in sync. */
  replicated(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartSentinelOptions {
  name?: string;
  /** Extra redis-server arguments for both data servers. */
  args?: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what} within ${SETTLE_TIMEOUT_MS} ms${last instanceof Error ? `: ${last.message}` : ''}`);
    await sleep(100);
  }
}

/** A short-lived admin connection: `fn` runs on it, then it is closed. */
async function onServer<T>(port: number, fn: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({ host: HOST, port, lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

function field(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

/** `<role>` and whether a replica's link is up, from INFO replication. */
async function replication(port: number): Promise<{ role: string | undefined; linkUp: boolean; replicas: number }> {
  const info = await onServer(port, (client) => client.info('replication'));
  return { role: field(info, 'role'), linkUp: field(info, 'master_link_status') === 'up', replicas: Number(field(info, 'connected_slaves') ?? 0) };
}

/**
 * A primary, a replica (`--replicaof`) and one sentinel (quorum 1, 1 s down-after, 5 s
 * failover-timeout), all private processes from the machine's redis-server on free ports.
 */
export async function startSentinel(options: StartSentinelOptions = {}): Promise<SentinelSetup> {
  const name = options.name ?? 'stepup-primary';
  // No 5 s pause before a full sync: a demoted primary catches up at once.
  const args = ['--repl-diskless-sync-delay', '0', ...(options.args ?? [])];
  const started: RedisHandle[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'stepup-sentinel-'));
  try {
    const first = await startRedis({ args });
    started.push(first);
    const second = await startRedis({ args: [...args, '--replicaof', HOST, String(first.port)] });
    started.push(second);
    const config = join(dir, 'sentinel.conf');
    writeFileSync(config, [
      `sentinel monitor ${name} ${HOST} ${first.port} 1`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 5000`,
      `sentinel parallel-syncs ${name} 1`,
      '',
    ].join('\n'));
    const sentinel = await startRedisProcess((port) => [config, '--sentinel', '--port', String(port), '--bind', HOST, '--protected-mode', 'no', '--daemonize', 'no', '--dir', dir]);
    started.push(sentinel);
    const servers: [RedisHandle, RedisHandle] = [first, second];

    const primaryPort = () => onServer(sentinel.port, async (client) => Number(((await client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as string[])[1]));
    // The sentinel must know an in-sync replica before it can fail over to it.
    const replicated = async (): Promise<void> => {
      await until('the primary has no replica in sync', async () => {
        const primary = await primaryPort();
        const other = servers.find((server) => server.port !== primary)!;
        const [main, replica] = await Promise.all([replication(primary), replication(other.port)]);
        if (main.role !== 'master' || main.replicas < 1 || replica.role !== 'slave' || !replica.linkUp) return undefined;
        const known = await onServer(sentinel.port, (client) => client.call('SENTINEL', 'REPLICAS', name)) as string[][];
        const ready = known.some((entry) => {
          const facts = new Map<string, string>();
          for (let i = 0; i + 1 < entry.length; i += 2) facts.set(entry[i]!, entry[i + 1]!);
          return Number(facts.get('port')) === other.port && facts.get('master-link-status') === 'ok' && !/s_down|disconnected/.test(facts.get('flags') ?? '');
        });
        return ready ? true : undefined;
      });
    };
    await replicated();

    return {
      name,
      sentinels: [{ host: HOST, port: sentinel.port }],
      servers,
      sentinel,
      primaryPort,
      replicated,
      failover: async ({ settle = true } = {}) => {
        const from = await primaryPort();
        await onServer(sentinel.port, (client) => client.call('SENTINEL', 'FAILOVER', name));
        const to = await until('the sentinel did not switch primaries', async () => {
          const now = await primaryPort();
          return now !== from ? now : undefined;
        });
        if (settle) await replicated();
        return { from, to };
      },
      stop: async () => {
        await Promise.all(started.map((handle) => handle.kill()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all(started.map((handle) => handle.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
