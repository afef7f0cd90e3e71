import { describe } from '../../lib/validate.js';

/**
 * What the store needs of an ioredis client or Cluster (`Redis` or `Cluster` of ioredis 5 or
 * 6): described by its shape, so that a client of either major version is accepted.
 */
export interface RedisClient {
  readonly isCluster?: boolean;
  readonly options?: object;
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number }): void;
  get(key: string): Promise<string | null>;
  set(key: string, value: string, millisecondsToken: 'PX', milliseconds: number): Promise<unknown>;
  set(key: string, value: string, millisecondsToken: 'PX', milliseconds: number, nx: 'NX'): Promise<unknown>;
  zrem(key: string, member: string): Promise<unknown>;
  del(key: string): Promise<unknown>;
}

/** A standalone or Sentinel client as `waitForReplicas` uses it: WAIT on the connection that wrote. */
export type WaitingClient = RedisClient & { readonly stream?: unknown; wait(replicas: number, timeoutMs: number): Promise<number> };

interface ClientOptions {
  scaleReads?: unknown;
  role?: unknown;
  keyPrefix?: unknown;
  autoResendUnfulfilledCommands?: unknown;
  enableAutoPipelining?: unknown;
  autoPipeliningIgnoredCommands?: unknown;
  /** A Cluster keeps its nodes' client options here. */
  redisOptions?: { autoResendUnfulfilledCommands?: unknown };
}

/** Refuses a client whose options would let the store serve stale or twice-run state. */
export function checkClient(client: RedisClient): void {
  const options = (client as { options?: ClientOptions }).options;
  if (options?.scaleReads !== undefined && options.scaleReads !== 'master') {
    throw new TypeError("The Cluster client must read from primaries: create it with `scaleReads: 'master'` (replicas can serve stale challenges).");
  }
  if (options?.role !== undefined && options.role !== 'master') {
    throw new TypeError("The Sentinel client must connect to the primary: create it with `role: 'master'` (replicas can serve stale challenges and refuse writes).");
  }
  if (typeof options?.keyPrefix === 'string' && /[{}]/.test(options.keyPrefix)) {
    throw new TypeError("The ioredis client's `keyPrefix` may not hold '{' or '}': they would change the Cluster hash tag.");
  }
  // R-J8: ioredis resends commands whose answer a dropped connection lost; a verify script
  // would then run twice (an attempt counted twice, a consumed challenge answering 404).
  if ((options?.redisOptions ?? options)?.autoResendUnfulfilledCommands !== false) {
    throw new TypeError(
      'Create the ioredis client with `autoResendUnfulfilledCommands: false` (for a Cluster, in `redisOptions`): after a reconnect ioredis would otherwise run a script a second time. The store answers store_unavailable instead, and the caller may retry.',
    );
  }
}

/**
 * With `enableAutoPipelining`, ioredis wraps every command of a tick in a pipeline, even a
 * lone one: for a verify that costs more than it saves (Koa verify / floor 0.83 with it, 0.88
 * with the verify script left out; Express the same either way). The other commands keep the
 * client's setting. A new array: ioredis's default one is shared by all its clients.
 */
export function skipAutoPipeline(client: RedisClient, names: string[]): void {
  const options = (client as { options?: ClientOptions }).options;
  if (!options?.enableAutoPipelining) return;
  const ignored = Array.isArray(options.autoPipeliningIgnoredCommands) ? (options.autoPipeliningIgnoredCommands as string[]) : [];
  options.autoPipeliningIgnoredCommands = [...ignored, ...names.filter((name) => !ignored.includes(name))];
}

export function waitOption(option: unknown, storeTimeoutMs: number, client: RedisClient): { replicas: number; timeoutMs: number } | undefined {
  if (option === undefined) return undefined;
  const { replicas, timeoutMs, ...rest } = (option && typeof option === 'object' ? option : {}) as Record<string, unknown>;
  const fix = `\`waitForReplicas\` must be { replicas: 1..16, timeoutMs: 1..${storeTimeoutMs - 1} } (under the store's timeoutMs), for example { replicas: 1, timeoutMs: 100 }; omit it to not wait for replicas`;
  if (!option || typeof option !== 'object' || Object.keys(rest).length > 0) throw new TypeError(`${fix} (received ${describe(option)}).`);
  if (!Number.isInteger(replicas) || (replicas as number) < 1 || (replicas as number) > 16) throw new TypeError(`${fix} (received replicas ${describe(replicas)}).`);
  // WAIT 0 would block until the replicas answer, however long that takes.
  if (!Number.isInteger(timeoutMs) || (timeoutMs as number) < 1 || (timeoutMs as number) >= storeTimeoutMs) throw new TypeError(`${fix} (received timeoutMs ${describe(timeoutMs)}).`);
  if ((client as { isCluster?: unknown }).isCluster === true) {
    throw new TypeError('`waitForReplicas` does not work with a Cluster client: ioredis sends a keyless WAIT to any node, not the primary that took the write. Set `min-replicas-to-write 1` on the cluster\'s primaries instead.');
  }
  return { replicas: replicas as number, timeoutMs: timeoutMs as number };
}
