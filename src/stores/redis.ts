import type { Transport } from '../channels/channel.js';
import { stepUpError } from '../core/errors.js';
import { describe, integerIn, rejectUnknown } from '../lib/validate.js';
import { raceTimeout } from '../lib/timeout.js';
import {
  ADMIT_SCRIPT, APPLY_STATUS_SCRIPT, BEGIN_HOSTED_SCRIPT, CLAIM_DUE_SCRIPT, COUNT_HIT_SCRIPT, CREATE_SCRIPT, DISCARD_CODE_SCRIPT, FINISH_HOSTED_SCRIPT, KEEP_FAILURES_SCRIPT,
  OMITTED_DEFAULTS, READ_FAILURES_SCRIPT, READ_HIT_SCRIPT, RECORD_DELIVERY_SCRIPT, RECORD_SENT_SCRIPT, RESEND_SCRIPT, SCHEDULE_DUE_SCRIPT, VERIFY_SCRIPT,
} from './redis-scripts.js';
import { admitInSteps, DUE_FALLBACKS_TTL_MS, slotTagOf } from './store.js';
import type {
  Admission,
  AdmissionOutcome,
  ChallengeOwner,
  ChallengeRecord,
  ChallengeStore,
  ClosedChallenge,
  CounterHit,
  CounterState,
  DeliveryRecord,
  DeliveryStatus,
  FailureLimit,
  HostedCheckOutcome,
  LockedOut,
  ResendInput,
  ResendOutcome,
  StatusOutcome,
  VerifiedChallenge,
  VerifiedOutcome,
  VerifyOutcome,
  VerifyReceipt,
} from './store.js';

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
type WaitingClient = RedisClient & { readonly stream?: unknown; wait(replicas: number, timeoutMs: number): Promise<number> };

export interface RedisStoreOptions {
  /**
   * An ioredis client or Cluster (ioredis 5 or 6). Give it bounded waits so that an outage fails fast:
   * `{ enableOfflineQueue: false, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false }`.
   */
  client: RedisClient;
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

type ScriptCommand = (...args: (string | number)[]) => Promise<unknown>;

type Command = { lua: string; keys: number | 'given'; alone?: true };

/**
 * The store's scripts. `keys`: how many of the arguments are keys ('given': the caller says,
 * as a start counts as many counters as its limits name). `alone`: the only command of its
 * step (the verify steps, a start's admission, a delivery record), with nothing to
 * auto-pipeline it with. `stepupAdmit` and `stepupRecordSent` take keys of many slots: for
 * a standalone Redis only.
 */
const COMMANDS = {
  stepupVerify: { lua: VERIFY_SCRIPT, keys: 2, alone: true },
  stepupBeginHosted: { lua: BEGIN_HOSTED_SCRIPT, keys: 2, alone: true },
  stepupFinishHosted: { lua: FINISH_HOSTED_SCRIPT, keys: 2, alone: true },
  stepupAdmit: { lua: ADMIT_SCRIPT, keys: 'given', alone: true },
  stepupRecordSent: { lua: RECORD_SENT_SCRIPT, keys: 2, alone: true },
  stepupCreate: { lua: CREATE_SCRIPT, keys: 1 },
  stepupKeepFailures: { lua: KEEP_FAILURES_SCRIPT, keys: 1 },
  stepupReadFailures: { lua: READ_FAILURES_SCRIPT, keys: 1 },
  stepupResend: { lua: RESEND_SCRIPT, keys: 1 },
  stepupRecordDelivery: { lua: RECORD_DELIVERY_SCRIPT, keys: 1 },
  stepupDiscardCode: { lua: DISCARD_CODE_SCRIPT, keys: 1 },
  stepupCountHit: { lua: COUNT_HIT_SCRIPT, keys: 1 },
  stepupReadHit: { lua: READ_HIT_SCRIPT, keys: 1 },
  stepupApplyStatus: { lua: APPLY_STATUS_SCRIPT, keys: 1 },
  stepupClaimDue: { lua: CLAIM_DUE_SCRIPT, keys: 1 },
  stepupScheduleDue: { lua: SCHEDULE_DUE_SCRIPT, keys: 1 },
} as const satisfies Record<string, Command>;

type CommandName = keyof typeof COMMANDS;

/** The verify steps. Each takes a challenge and its subject's failure counter: keys of one slot. */
const VERIFY_STEPS = new Set<CommandName>(['stepupVerify', 'stepupBeginHosted', 'stepupFinishHosted']);

const ALONE = (Object.entries(COMMANDS) as [CommandName, Command][]).filter(([, command]) => command.alone).map(([name]) => name);

/** Short hash field names: a challenge is one Redis hash (its id is in the key's name). */
const FIELDS = {
  subject: 'sub',
  purpose: 'pur',
  bindingHash: 'bnd',
  txn: 'txn',
  channel: 'chn',
  transport: 'trp',
  digest: 'dig',
  hostedIds: 'hid',
  attempts: 'att',
  maxAttempts: 'max',
  sends: 'snd',
  maxSends: 'msnd',
  createdAt: 'cre',
  expiresAt: 'exp',
  nextSendAt: 'nxt',
  messageId: 'mid',
  sentAt: 'sat',
  deliveryStatus: 'dst',
  sealedPhone: 'phn',
  sealedPayment: 'pay',
  to: 'to',
  locale: 'loc',
  otherFactors: 'ofa',
  testNumber: 'tst',
  locked: 'lck',
} as const satisfies Record<Exclude<keyof ChallengeRecord, 'id'>, string>;

const FIELD_ENTRIES = Object.entries(FIELDS) as [Exclude<keyof ChallengeRecord, 'id'>, string][];

const NUMBER_FIELDS = new Set<keyof ChallengeRecord>(['attempts', 'maxAttempts', 'sends', 'maxSends', 'createdAt', 'expiresAt', 'nextSendAt', 'sentAt']);
const BOOLEAN_FIELDS = new Set<keyof ChallengeRecord>(['locked', 'testNumber']);

/**
 * Challenges in Redis (standalone, Sentinel or Cluster), through ioredis. Every state
 * change is one Lua script on a challenge, `<prefix>{<tag>}ch:<challengeId>` (the tag is
 * the id's first characters, its subject's), and for the verify steps also on the
 * subject's failure record `<prefix>{<tag>}lim:<key>`: one hash tag, one slot. One-time
 * token ids are `<prefix>jti:{<jti>}` strings set with NX. Every key has a TTL. Any Redis
 * failure surfaces as `store_unavailable`.
 */
export class RedisStore implements ChallengeStore {
  readonly #client: RedisClient;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #wait: { replicas: number; timeoutMs: number } | undefined;
  readonly #cluster: boolean;

  constructor(options: RedisStoreOptions) {
    if (!options || typeof options !== 'object') {
      throw new TypeError('RedisStore needs options: new RedisStore({ client: new Redis(url) }).');
    }
    const { client, prefix = 'stepup:', timeoutMs = 1000, waitForReplicas, ...unknown } = options;
    rejectUnknown(unknown, ['client', 'prefix', 'timeoutMs', 'waitForReplicas'], 'RedisStore');
    if (!client || typeof (client as { defineCommand?: unknown }).defineCommand !== 'function') {
      throw new TypeError('`client` must be an ioredis client or Cluster: new RedisStore({ client: new Redis(url) }).');
    }
    if (typeof prefix !== 'string' || /[{}]/.test(prefix) || prefix.length > 64) {
      throw new TypeError(`\`prefix\` must be a string of at most 64 characters without '{' or '}' (received ${describe(prefix)}); braces would change the Cluster hash tag.`);
    }
    integerIn(timeoutMs, 50, 30_000, 1000, 'timeoutMs');
    const scaleReads = (client as { options?: { scaleReads?: unknown } }).options?.scaleReads;
    if (scaleReads !== undefined && scaleReads !== 'master') {
      throw new TypeError("The Cluster client must read from primaries: create it with `scaleReads: 'master'` (replicas can serve stale challenges).");
    }
    const role = (client as { options?: { role?: unknown } }).options?.role;
    if (role !== undefined && role !== 'master') {
      throw new TypeError("The Sentinel client must connect to the primary: create it with `role: 'master'` (replicas can serve stale challenges and refuse writes).");
    }
    const clientPrefix = (client as { options?: { keyPrefix?: unknown } }).options?.keyPrefix;
    if (typeof clientPrefix === 'string' && /[{}]/.test(clientPrefix)) {
      throw new TypeError("The ioredis client's `keyPrefix` may not hold '{' or '}': they would change the Cluster hash tag.");
    }
    // R-J8: ioredis resends commands whose answer a dropped connection lost; a verify script
    // would then run twice (an attempt counted twice, a consumed challenge answering 404).
    const clientOptions = (client as { options?: { autoResendUnfulfilledCommands?: unknown; redisOptions?: { autoResendUnfulfilledCommands?: unknown } } }).options;
    // A Cluster keeps its nodes' client options in `redisOptions`.
    if ((clientOptions?.redisOptions ?? clientOptions)?.autoResendUnfulfilledCommands !== false) {
      throw new TypeError(
        'Create the ioredis client with `autoResendUnfulfilledCommands: false` (for a Cluster, in `redisOptions`): after a reconnect ioredis would otherwise run a script a second time. The store answers store_unavailable instead, and the caller may retry.',
      );
    }
    skipAutoPipeline(client, ALONE);
    this.#client = client;
    this.#cluster = (client as { isCluster?: unknown }).isCluster === true;
    this.#prefix = prefix;
    this.#timeoutMs = timeoutMs;
    this.#wait = waitOption(waitForReplicas, timeoutMs, client);
    for (const [name, { lua, keys }] of Object.entries(COMMANDS) as [CommandName, Command][]) {
      if (typeof (client as unknown as Record<string, unknown>)[name] !== 'function') {
        client.defineCommand(name, keys === 'given' ? { lua } : { numberOfKeys: keys, lua });
      }
    }
  }

  async create(record: ChallengeRecord, ttlMs: number, failures?: FailureLimit): Promise<void> {
    const ttl = Math.ceil(ttlMs);
    // Two one-key scripts in one round trip: a new key in a migrating slot is served (ASK), a new two-key write would not be.
    await this.#replicated(() => Promise.all([
      this.#run('stepupCreate', this.#challengeKey(record.id), ttl, ...challengeFields(record)),
      failures && this.#run('stepupKeepFailures', this.#failuresKey(slotTagOf(record.id), failures), ttl),
    ]));
  }

  /**
   * One script on a standalone or Sentinel Redis: the counters, the reads and the challenge
   * in one round trip. A Cluster spreads the counters over its slots, so there the store
   * takes the steps of {@link admitInSteps}: counters and reads in one round trip, the
   * challenge (and its user's failure record, which a migrating slot needs) in a second.
   */
  async admit(record: ChallengeRecord, ttlMs: number, admission: Admission): Promise<AdmissionOutcome> {
    if (this.#cluster) return admitInSteps(this, record, ttlMs, admission);
    const { hits, reads, facts, failures } = admission;
    const keys = [
      this.#challengeKey(record.id), this.#failuresKey(slotTagOf(record.id), failures),
      ...hits.map(({ key }) => this.#counterKey(key)), ...reads.map((key) => this.#counterKey(key)), ...facts.map((key) => this.#factKey(key)),
    ];
    const reply = await this.#replicated(() => this.#runList(
      'stepupAdmit', keys.length, ...keys, failures.now, Math.ceil(ttlMs), failures.max, hits.length, reads.length, facts.length,
      ...hits.flatMap(({ windowMs, max }) => [Math.max(1, Math.ceil(windowMs)), max ?? 0]), ...challengeFields(record),
    ));
    if (reply.length !== 3 + 2 * (hits.length + reads.length) + facts.length) throw stepUpError('store_unavailable', { retryAfter: 1 });
    const states = (from: number, count: number) => Array.from({ length: count }, (_, index) => counterState(reply.slice(from + 2 * index, from + 2 * index + 2)));
    const factsFrom = 3 + 2 * (hits.length + reads.length);
    return {
      created: reply[0] === '1',
      failures: counterState(reply.slice(1, 3)),
      hits: states(3, hits.length),
      reads: states(3 + 2 * hits.length, reads.length),
      facts: reply.slice(factsFrom).map((value) => (value === '' ? undefined : value)),
    };
  }

  async verify(id: string, owner: ChallengeOwner, digests: string[], failures?: FailureLimit, receipt?: VerifyReceipt): Promise<VerifyOutcome> {
    const kept = receiptArguments(receipt, owner.now);
    return verifyOutcome(id, await this.#replicated(() => this.#runOwned('stepupVerify', id, owner, [...failureArguments(failures), ...kept, ...digests], failures)));
  }

  async beginHostedCheck(id: string, owner: ChallengeOwner, failures?: FailureLimit, digests: string[] = []): Promise<HostedCheckOutcome> {
    const reply = await this.#replicated(() => this.#runOwned('stepupBeginHosted', id, owner, [...failureArguments(failures), ...digests], failures));
    const [status, ...rest] = reply;
    return status === 'check' ? { status, record: parseRecord(id, rest) } : (verifyOutcome(id, reply) as HostedCheckOutcome);
  }

  async finishHostedCheck(id: string, approved: boolean, failures?: FailureLimit, receipt?: VerifyReceipt & { digest: string }): Promise<VerifyOutcome> {
    const keys = this.#keysOf('stepupFinishHosted', id, failures);
    const now = failures?.now ?? Date.now();
    const kept = [...receiptArguments(receipt, now), receipt?.digest ?? ''];
    return verifyOutcome(id, await this.#replicated(() => this.#runList('stepupFinishHosted', ...keys, approved ? '1' : '0', now, ...failureArguments(failures), ...kept)));
  }

  async readFailures(slotTag: string, failures: FailureLimit): Promise<CounterState> {
    return counterState(await this.#runList('stepupReadFailures', this.#failuresKey(slotTag, failures), failures.now));
  }

  async reserveResend(id: string, owner: ChallengeOwner, input: ResendInput): Promise<ResendOutcome> {
    const reply = await this.#runOwned('stepupResend', id, owner, [input.digest, [input.cooldownMs].flat().map((ms) => Math.ceil(ms)).join(' '), input.keepEarlier ? '1' : '0']);
    const [status, ...rest] = reply;
    switch (status) {
      case 'ok':
        return { status, record: parseRecord(id, rest) };
      case 'exhausted':
      case 'cooldown':
        return { status, retryAfterMs: Number(rest[0]) };
      default:
        return closed(status);
    }
  }

  async recordDelivery(id: string, delivery: DeliveryRecord): Promise<void> {
    const record = [
      delivery.channel, delivery.transport, delivery.messageId, delivery.sentAt, delivery.hostedId ?? '', delivery.dropDigest ?? '', delivery.keepEarlier ? '1' : '0',
    ];
    const fact = delivery.messageFact;
    if (fact && !this.#cluster) {
      await this.#run('stepupRecordSent', this.#challengeKey(id), this.#factKey(fact.key), ...record, id, Math.max(1, Math.ceil(fact.ttlMs)));
      return;
    }
    // A Cluster keeps the fact on its own slot: two commands, one round trip.
    await Promise.all([this.#run('stepupRecordDelivery', this.#challengeKey(id), ...record), fact && this.setFact(fact.key, id, fact.ttlMs)]);
  }

  // One script per counter (each key is its own Cluster slot); issued together, they share one round trip.
  async countHits(hits: CounterHit[]): Promise<CounterState[]> {
    return Promise.all(hits.map(async ({ key, windowMs }) => counterState(await this.#runList('stepupCountHit', this.#counterKey(key), Math.max(1, Math.ceil(windowMs))))));
  }

  async readHits(keys: string[]): Promise<CounterState[]> {
    return Promise.all(keys.map(async (key) => counterState(await this.#runList('stepupReadHit', this.#counterKey(key)))));
  }

  async discardCode(id: string, digest: string): Promise<void> {
    await this.#run('stepupDiscardCode', this.#challengeKey(id), digest);
  }

  async applyStatus(id: string, messageId: string, status: DeliveryStatus): Promise<StatusOutcome> {
    const [outcome, ...rest] = await this.#runList('stepupApplyStatus', this.#challengeKey(id), messageId, status);
    if (outcome === 'applied' || outcome === 'failed') return { status: outcome, record: parseRecord(id, rest) };
    if (outcome === 'ignored' || outcome === 'stale' || outcome === 'gone') return { status: outcome };
    throw stepUpError('store_unavailable', { retryAfter: 1 });
  }

  async setFact(key: string, value: string, ttlMs: number): Promise<void> {
    await this.#guard(this.#client.set(this.#factKey(key), value, 'PX', Math.max(1, Math.ceil(ttlMs))));
  }

  async getFact(key: string): Promise<string | undefined> {
    return (await this.#guard(this.#client.get(this.#factKey(key)))) ?? undefined;
  }

  async scheduleFallback(id: string, dueAt: number): Promise<void> {
    await this.#run('stepupScheduleDue', this.#dueKey(), dueAt, id, DUE_FALLBACKS_TTL_MS);
  }

  async cancelFallback(id: string): Promise<void> {
    await this.#guard(this.#client.zrem(this.#dueKey(), id));
  }

  async claimDueFallbacks(now: number, limit: number): Promise<string[]> {
    return this.#runList('stepupClaimDue', this.#dueKey(), now, limit);
  }

  async delete(id: string): Promise<void> {
    await this.#guard(this.#client.del(this.#challengeKey(id)));
  }

  async consumeOnce(key: string, ttlMs: number): Promise<boolean> {
    const reply = await this.#replicated(() => this.#guard(this.#client.set(`${this.#prefix}jti:{${key}}`, '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')));
    return reply === 'OK';
  }

  /**
   * With `waitForReplicas`: once the write answered, WAIT on the same connection (a standalone
   * or Sentinel client has one); fewer acknowledgements than asked fail closed, whatever the
   * write answered. After the write, not beside it: a script that met NOSCRIPT is sent again,
   * behind a WAIT that would not cover it. A reconnect in between also fails closed: WAIT on a
   * fresh connection has nothing to wait for.
   */
  async #replicated<T>(write: () => Promise<T>): Promise<T> {
    if (!this.#wait) return write();
    const { replicas, timeoutMs } = this.#wait;
    const client = this.#client as WaitingClient;
    const socket = client.stream;
    const reply = await write();
    const count = await this.#guard(client.wait(replicas, timeoutMs));
    if (count < replicas || client.stream !== socket) {
      throw stepUpError('store_unavailable', { retryAfter: 1 }, undefined, new Error(`WAIT: ${count} of ${replicas} replicas acknowledged within ${timeoutMs} ms`));
    }
    return reply;
  }

  // The id starts with its subject's tag: the challenge shares a slot with the subject's failures.
  #challengeKey(id: string): string {
    return `${this.#prefix}{${slotTagOf(id)}}ch:${id}`;
  }

  /** Without `failures` (a store used directly), a name in the same slot that the scripts never touch. */
  #failuresKey(slotTag: string, failures: FailureLimit | undefined): string {
    return `${this.#prefix}{${slotTag}}lim:${failures?.key ?? '-'}`;
  }

  #counterKey(key: string): string {
    return `${this.#prefix}lim:{${key}}`;
  }

  #factKey(key: string): string {
    return `${this.#prefix}fact:{${key}}`;
  }

  // One sorted set for every instance: the fallbacks that no delivery status has settled yet.
  #dueKey(): string {
    return `${this.#prefix}{fallbacks}`;
  }

  /** A script's KEYS for a challenge: with the subject's failure record for the verify steps. */
  #keysOf(name: CommandName, id: string, failures: FailureLimit | undefined): string[] {
    return VERIFY_STEPS.has(name) ? [this.#challengeKey(id), this.#failuresKey(slotTagOf(id), failures)] : [this.#challengeKey(id)];
  }

  #runOwned(name: CommandName, id: string, owner: ChallengeOwner, rest: string[], failures?: FailureLimit): Promise<string[]> {
    return this.#runList(name, ...this.#keysOf(name, id, failures), owner.now, owner.subject, owner.bindingHashes.length, ...owner.bindingHashes, ...rest);
  }

  /** A script whose reply is a list of strings; anything else is a store failure. */
  async #runList(name: CommandName, ...keysAndArgs: (string | number)[]): Promise<string[]> {
    const reply = await this.#run(name, ...keysAndArgs);
    if (!Array.isArray(reply) || reply.some((item) => typeof item !== 'string')) {
      throw stepUpError('store_unavailable', { retryAfter: 1 });
    }
    return reply as string[];
  }

  #run(name: CommandName, ...keysAndArgs: (string | number)[]): Promise<unknown> {
    const command = (this.#client as unknown as Record<CommandName, ScriptCommand>)[name];
    return this.#guard(command.call(this.#client, ...keysAndArgs));
  }

  /** Fail closed and fast: any error or a reply later than `timeoutMs` is `store_unavailable`. */
  async #guard<T>(operation: Promise<T>): Promise<T> {
    try {
      return await raceTimeout(operation, this.#timeoutMs, () => {
        throw new Error('Redis did not answer in time');
      });
    } catch (error) {
      // The cause keeps ioredis's message only: its error objects can carry command arguments.
      const message = error instanceof Error ? error.message : 'Redis failed';
      throw stepUpError('store_unavailable', { retryAfter: 1 }, undefined, new Error(message));
    }
  }
}

/**
 * With `enableAutoPipelining`, ioredis wraps every command of a tick in a pipeline, even a
 * lone one: for a verify that costs more than it saves (Koa verify / floor 0.83 with it, 0.88
 * with the verify script left out; Express the same either way). The other commands keep the
 * client's setting. A new array: ioredis's default one is shared by all its clients.
 */
function skipAutoPipeline(client: RedisClient, names: string[]): void {
  const options = (client as { options?: { enableAutoPipelining?: unknown; autoPipeliningIgnoredCommands?: unknown } }).options;
  if (!options?.enableAutoPipelining) return;
  const ignored = Array.isArray(options.autoPipeliningIgnoredCommands) ? (options.autoPipeliningIgnoredCommands as string[]) : [];
  options.autoPipeliningIgnoredCommands = [...ignored, ...names.filter((name) => !ignored.includes(name))];
}

function waitOption(option: unknown, storeTimeoutMs: number, client: RedisClient): { replicas: number; timeoutMs: number } | undefined {
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

function counterState(reply: string[]): CounterState {
  const [count, left] = reply.map(Number);
  if (!Number.isFinite(count) || !Number.isFinite(left)) throw stepUpError('store_unavailable', { retryAfter: 1 });
  return { count: count!, resetInMs: Math.max(0, left!) };
}

const testMark = (flag: string | undefined) => (flag === '1' ? { testNumber: true } : {});
const failedChallenge = (purpose: string | undefined, channel: string | undefined) => (purpose === undefined || channel === undefined ? {} : { purpose, channel });

function verifyOutcome(id: string, [status, ...rest]: string[]): VerifyOutcome {
  switch (status) {
    case 'ok':
    case 'again':
      return parseVerified(id, rest, status === 'again');
    case 'invalid':
      return { status, attemptsLeft: Number(rest[0]), ...testMark(rest[1]), ...failedChallenge(rest[2], rest[3]) };
    case 'locked_now':
      return { status, ...testMark(rest[0]), ...failedChallenge(rest[1], rest[2]) };
    default:
      return refused(status, rest);
  }
}

function closed(status: string | undefined): ClosedChallenge {
  if (status === 'not_found' || status === 'expired' || status === 'locked') return { status };
  throw stepUpError('store_unavailable', { retryAfter: 1 });
}

/** A closed challenge, or a subject past its failure limit (with the ms until it may try again). */
function refused(status: string | undefined, [left]: string[]): ClosedChallenge | LockedOut {
  if (status !== 'locked_out') return closed(status);
  const retryAfterMs = Number(left);
  if (!Number.isFinite(retryAfterMs)) throw stepUpError('store_unavailable', { retryAfter: 1 });
  return { status, retryAfterMs };
}

/** The subject's failure limit as the scripts take it: max ('0' for none) and window in ms. */
function failureArguments(failures: FailureLimit | undefined): string[] {
  return failures && failures.max > 0 ? [String(failures.max), String(Math.max(1, Math.ceil(failures.windowMs)))] : ['0', '0'];
}

/** The receipt as the scripts take it: token id and ms; without one (a store used directly), no token id and the caller's clock. */
function receiptArguments(receipt: VerifyReceipt | undefined, now: number): string[] {
  return [receipt?.jti ?? '', String(receipt?.verifiedAt ?? now)];
}

/** The verified reply of the scripts, in its order: the receipt, then the challenge. */
function parseVerified(id: string, [jti, at, subject, purpose, txn, channel, transport, to, otherFactors, testNumber]: string[], repeated: boolean): VerifiedOutcome {
  const verifiedAt = Number(at);
  if (jti === undefined || !Number.isFinite(verifiedAt) || subject === undefined || testNumber === undefined) throw stepUpError('store_unavailable', { retryAfter: 1 });
  const record: VerifiedChallenge = { id, subject, purpose: purpose!, txn: txn!, channel: channel!, transport: transport as Transport, to: to!, otherFactors: otherFactors!, testNumber: testNumber === '1' };
  return { status: 'ok', record, receipt: { jti, verifiedAt }, repeated };
}

/** A record as the hash's field/value pairs, without the fields that hold their default. */
function challengeFields(record: ChallengeRecord): string[] {
  const fields: string[] = [];
  for (const [property, field] of FIELD_ENTRIES) {
    const value = record[property];
    const text = typeof value === 'boolean' ? (value ? '1' : '0') : String(value);
    if (OMITTED_DEFAULTS[field] !== text) fields.push(field, text);
  }
  return fields;
}

function parseRecord(id: string, flat: string[]): ChallengeRecord {
  const byField = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) byField.set(flat[i]!, flat[i + 1]!);
  const record: Record<string, string | number | boolean> = { id };
  for (const [property, field] of FIELD_ENTRIES) {
    const value = byField.get(field) ?? OMITTED_DEFAULTS[field] ?? '';
    record[property] = BOOLEAN_FIELDS.has(property) ? value === '1' : NUMBER_FIELDS.has(property) ? Number(value) : value;
  }
  return record as unknown as ChallengeRecord;
}
