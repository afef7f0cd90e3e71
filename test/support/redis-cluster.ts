import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { HOST, onPath, startRedis, type RedisHandle } from './redis-server.js';

// Kept free of any `vitest` import, like redis-server.ts: global setup starts the
// suite's shared cluster from vitest's main process.

export interface ClusterNode {
  host: string;
  port: number;
}

export interface RedisClusterHandle {
  /** The primaries, in the order `redis-cli --cluster create` was given them. */
  nodes: ClusterNode[];
  /** The same as `host:port` strings, for a `provide()` or an environment variable. */
  addresses: string[];
  /** The redis-server processes behind `nodes` (each guarded by redis-server.ts's watchdog). */
  servers: RedisHandle[];
  /** Stops every node and removes the cluster config files. */
  stop(): Promise<void>;
}

export interface StartClusterOptions {
  /** Number of primaries (no replicas). Default 3, the smallest cluster redis-cli creates. */
  primaries?: number;
}

const READY_TIMEOUT_MS = 15_000;
const CLI_TIMEOUT_MS = 20_000;
const CLI_NOT_INSTALLED =
  'redis-cli is not installed: the Redis Cluster tests create their cluster with `redis-cli --cluster create`. ' +
  'Install it (Debian/Ubuntu: sudo apt-get install redis-tools or redis-server; macOS: brew install redis) and run npm test again.';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function redisCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    // execFile kills the child when the timeout passes, so a stuck redis-cli cannot outlive us.
    execFile('redis-cli', args, { cwd: tmpdir(), timeout: CLI_TIMEOUT_MS, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      if ((error as NodeJS.ErrnoException | null)?.code === 'ENOENT') return reject(new Error(CLI_NOT_INSTALLED));
      if (error) return reject(new Error(`redis-cli ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
      resolve(stdout);
    });
  });
}

/** One short-lived plain connection to a node, for admin commands. */
export async function withNode<T>(node: ClusterNode, run: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ host: node.host, port: node.port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await run(redis);
  } finally {
    redis.disconnect();
  }
}

async function clusterState(node: ClusterNode): Promise<string> {
  try {
    const info = (await withNode(node, (redis) => redis.call('CLUSTER', 'INFO'))) as string;
    return /cluster_state:(\w+)/.exec(info)?.[1] ?? 'unknown';
  } catch (error) {
    return `unreachable (${(error as Error).message})`;
  }
}

/** Waits until every node says `cluster_state:ok` and all agree on who owns each slot. */
export async function waitForClusterOk(nodes: ClusterNode[], timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const states = await Promise.all(nodes.map(clusterState));
    if (states.every((state) => state === 'ok')) {
      const views = await Promise.all(nodes.map((node) => withNode(node, async (redis) => JSON.stringify(sortSlots((await redis.call('CLUSTER', 'SLOTS')) as SlotRange[])))));
      if (views.every((view) => view === views[0])) return;
      last = 'nodes disagree on the slot map';
    } else {
      last = nodes.map((node, index) => `${node.port}: ${states[index]}`).join(', ');
    }
    if (Date.now() > deadline) throw new Error(`Redis Cluster not ok after ${timeoutMs} ms: ${last}`);
    await sleep(50);
  }
}

type SlotRange = [number, number, [string, number, string, ...unknown[]], ...unknown[]];

function sortSlots(ranges: SlotRange[]): [number, number, number][] {
  return ranges.map(([from, to, [, port]]): [number, number, number] => [from, to, port]).sort((a, b) => a[0] - b[0]);
}

/**
 * Starts a private Redis Cluster of `primaries` primaries on free loopback ports: each
 * node is a redis-server from startRedis (watchdog and exit hook included) with cluster
 * mode on and its config file in a temporary directory; `redis-cli --cluster create`
 * assigns the slots. Resolves once every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(options: StartClusterOptions = {}): Promise<RedisClusterHandle> {
  const primaries = options.primaries ?? 3;
  if (!onPath('redis-cli')) throw new Error(CLI_NOT_INSTALLED);
  const dir = await mkdtemp(join(tmpdir(), 'stepup-cluster-'));
  const servers: RedisHandle[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((server) => server.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let index = 0; index < primaries; index++) {
      servers.push(
        await startRedis({
          args: [
            '--cluster-enabled', 'yes',
            '--cluster-config-file', join(dir, `nodes-${index}.conf`),
            // Only for failure detection; a test cluster has no replicas to promote.
            '--cluster-node-timeout', '5000',
            '--dir', dir,
          ],
        }),
      );
    }
    const nodes = servers.map((server) => ({ host: HOST, port: server.port }));
    const addresses = nodes.map((node) => `${node.host}:${node.port}`);
    await redisCli(['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes']);
    await waitForClusterOk(nodes);
    return { nodes, addresses, servers, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Parses `host:port,host:port` (as global setup provides it). */
export function parseClusterNodes(value: string): ClusterNode[] {
  return value.split(',').filter(Boolean).map((address) => {
    const at = address.lastIndexOf(':');
    return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
  });
}

/** The node id (`CLUSTER MYID`) of each node. */
export function nodeIds(nodes: ClusterNode[]): Promise<string[]> {
  return Promise.all(nodes.map((node) => withNode(node, async (redis) => String(await redis.call('CLUSTER', 'MYID')))));
}

/** The node that owns `slot` now, by asking the first node. */
export async function slotOwner(nodes: ClusterNode[], slot: number): Promise<ClusterNode> {
  const ranges = (await withNode(nodes[0]!, (redis) => redis.call('CLUSTER', 'SLOTS'))) as SlotRange[];
  for (const [from, to, [host, port]] of ranges) {
    if (slot >= from && slot <= to) return { host, port };
  }
  throw new Error(`slot ${slot} is not served`);
}

export interface SlotMove {
  slot: number;
  from: ClusterNode;
  to: ClusterNode;
  /** Every key MIGRATEd, in order. */
  keys: string[];
}

export interface MoveSlotOptions {
  /** Keys per MIGRATE (redis-cli --cluster reshard uses --cluster-pipeline, default 10). */
  batch?: number;
  /** Runs once both ends are marked (target IMPORTING, source MIGRATING) and no key has moved yet. */
  marked?: () => Promise<void>;
  /** Runs after each MIGRATE, with the keys moved so far (the slot is still MIGRATING). */
  migrated?: (keys: string[]) => Promise<void>;
}

/**
 * Moves one slot to another primary by hand, the way `redis-cli --cluster reshard` does:
 * SETSLOT IMPORTING on the target, MIGRATING on the source, MIGRATE the keys in
 * batches, then SETSLOT NODE on the target, the source and every other node. The
 * hooks let a test send traffic in each state: the source still serving a key, ASK to
 * the target for a key already moved, MOVED once the slot is the target's.
 */
export async function moveSlot(nodes: ClusterNode[], slot: number, to: ClusterNode, options: MoveSlotOptions = {}): Promise<SlotMove> {
  const { batch = 10, marked, migrated } = options;
  const from = await slotOwner(nodes, slot);
  if (from.port === to.port) throw new Error(`slot ${slot} is already on ${to.port}`);
  const [fromId, toId] = await nodeIds([from, to]);
  const others = nodes.filter((node) => node.port !== from.port && node.port !== to.port);
  const keys: string[] = [];
  await withNode(to, (redis) => redis.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId!));
  await withNode(from, (redis) => redis.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId!));
  await marked?.();
  await withNode(from, async (redis) => {
    for (;;) {
      const next = (await redis.call('CLUSTER', 'GETKEYSINSLOT', slot, batch)) as string[];
      if (next.length === 0) break;
      await redis.call('MIGRATE', to.host, to.port, '', 0, 5_000, 'KEYS', ...next);
      keys.push(...next);
      await migrated?.([...keys]);
    }
  });
  // The target first, then the source, then everyone else (the order redis-cli uses).
  await withNode(to, (redis) => redis.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId!));
  await withNode(from, (redis) => redis.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId!));
  for (const node of others) await withNode(node, (redis) => redis.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId!));
  await waitForClusterOk(nodes);
  return { slot, from, to, keys };
}
