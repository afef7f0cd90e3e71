import { raceTimeout } from '../../lib/timeout.js';
import { admitInSteps } from '../admit-in-steps.js';
import { DUE_FALLBACKS_TTL_MS, slotTagOf } from '../store.js';
import type {
  Admission, AdmissionOutcome, ChallengeOwner, ChallengeRecord, ChallengeStore, CounterHit, CounterState, DeliveryRecord, DeliveryStatus, FailureLimit, HostedCheckOutcome,
  ResendInput, ResendOutcome, StatusOutcome, VerifyOutcome, VerifyReceipt,
} from '../store.js';
import { skipAutoPipeline, type RedisClient, type WaitingClient } from './client.js';
import type { OwnedClient } from './connect.js';
import { resolveStoreOptions, type RedisStoreOptions } from './options.js';
import {
  candidates, challengeFields, closed, counterState, deliveryArguments, failureArguments, ownerArguments, parseRecord, receiptArguments, spaced, UnexpectedReply, verifyOutcome,
} from './codec.js';
import { COMMANDS, type CommandName } from './commands.js';

export type { RedisClient } from './client.js';
export type { RedisNode } from './connect.js';
export type { RedisStoreOptions } from './options.js';

type ScriptCommand = (...args: (string | number)[]) => Promise<unknown>;

/** The verify steps. Each takes a challenge and its subject's failure counter: keys of one slot. */
const VERIFY_STEPS = new Set<CommandName>(['stepupVerify', 'stepupBeginHosted', 'stepupFinishHosted']);

const ALONE = (Object.keys(COMMANDS) as CommandName[]).filter((name) => 'alone' in COMMANDS[name]);

/**
 * Challenges in Redis (standalone, Sentinel or Cluster), through ioredis. Every state
 * change is one Lua script on a challenge, `<prefix>{<tag>}ch:<challengeId>` (the tag is
 * the id's first characters, its subject's), and for the verify steps also on the
 * subject's failure record `<prefix>{<tag>}lim:<key>`: one hash tag, one slot. One-time
 * token ids are `<prefix>jti:{<jti>}` strings set with NX. Every key has a TTL. Any Redis
 * failure rejects, and the core answers `store_unavailable`.
 */
export class RedisStore implements ChallengeStore {
  readonly #client: RedisClient;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #wait: { replicas: number; timeoutMs: number } | undefined;
  readonly #cluster: boolean;
  readonly #owned: OwnedClient | undefined;

  constructor(options: RedisStoreOptions) {
    const { client, owned, prefix, timeoutMs, wait } = resolveStoreOptions(options);
    skipAutoPipeline(client, ALONE);
    this.#client = client;
    this.#cluster = (client as { isCluster?: unknown }).isCluster === true;
    this.#prefix = prefix;
    this.#timeoutMs = timeoutMs;
    this.#wait = wait;
    this.#owned = owned;
    for (const name of Object.keys(COMMANDS) as CommandName[]) {
      const { lua, keys } = COMMANDS[name];
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
    if (reply.length !== 3 + 2 * (hits.length + reads.length) + facts.length) throw new UnexpectedReply('an admission');
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
    const rest = [...failureArguments(failures), ...receiptArguments(receipt, owner.now), candidates(digests)];
    return verifyOutcome(id, await this.#replicated(() => this.#runOwned('stepupVerify', id, owner, rest, failures)));
  }

  async beginHostedCheck(id: string, owner: ChallengeOwner, failures?: FailureLimit, digests: string[] = []): Promise<HostedCheckOutcome> {
    const reply = await this.#replicated(() => this.#runOwned('stepupBeginHosted', id, owner, [...failureArguments(failures), candidates(digests)], failures));
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
    const cooldowns = [input.cooldownMs].flat().map((ms) => Math.ceil(ms)).join(' ');
    const reply = await this.#runOwned('stepupResend', id, owner, [spaced([input.digest], 'A digest'), cooldowns, input.keepEarlier ? '1' : '0']);
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
    const record = deliveryArguments(delivery);
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
    throw new UnexpectedReply('a delivery status');
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

  /**
   * Resolves once the client can take commands (at once when it can): until then every
   * operation fails as `store_unavailable`. Await it before serving. Rejects after `waitMs`.
   */
  async ready(waitMs = 10_000): Promise<void> {
    if (!Number.isInteger(waitMs) || waitMs < 1 || waitMs > 600_000) throw new TypeError(`ready(waitMs): waitMs must be an integer of ms from 1 to 600000 (received ${String(waitMs)}).`);
    type Emitting = RedisClient & { status?: string; once?(event: 'ready', listener: () => void): unknown; removeListener?(event: 'ready', listener: () => void): unknown };
    const client = this.#client as Emitting;
    if (client.status === undefined || client.status === 'ready' || typeof client.once !== 'function') return;
    await new Promise<void>((resolve, reject) => {
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      // A wait that gave up takes its listener with it: repeated waits through an outage leave none behind.
      const timer = setTimeout(() => {
        client.removeListener?.('ready', onReady);
        reject(new Error(`Redis was not ready within ${waitMs} ms`));
      }, waitMs);
      client.once!('ready', onReady);
    });
  }

  /** Ends the client the store made (from `url`, `cluster` or `sentinels`); a `client` you gave is yours to end. */
  async close(): Promise<void> {
    const owned = this.#owned;
    if (!owned || owned.status === 'end') return;
    await owned.quit().catch(() => owned.disconnect());
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
    if (count < replicas || client.stream !== socket) throw new Error(`WAIT: ${count} of ${replicas} replicas acknowledged within ${timeoutMs} ms`);
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

  #runOwned(name: CommandName, id: string, owner: ChallengeOwner, rest: (string | number)[], failures?: FailureLimit): Promise<string[]> {
    return this.#runList(name, ...this.#keysOf(name, id, failures), ...ownerArguments(owner), ...rest);
  }

  /** A script whose reply is a list of strings; anything else is a store failure. */
  async #runList(name: CommandName, ...keysAndArgs: (string | number)[]): Promise<string[]> {
    const reply = await this.#run(name, ...keysAndArgs);
    if (!Array.isArray(reply) || reply.some((item) => typeof item !== 'string')) throw new UnexpectedReply(name);
    return reply as string[];
  }

  #run(name: CommandName, ...keysAndArgs: (string | number)[]): Promise<unknown> {
    const command = (this.#client as unknown as Record<CommandName, ScriptCommand>)[name];
    return this.#guard(command.call(this.#client, ...keysAndArgs));
  }

  /** Fail fast: any error or a reply later than `timeoutMs` rejects with an error that holds ioredis's message only (its error objects can carry command arguments). */
  async #guard<T>(operation: Promise<T>): Promise<T> {
    try {
      return await raceTimeout(operation, this.#timeoutMs, () => {
        throw new Error('Redis did not answer in time');
      });
    } catch (error) {
      throw new Error(error instanceof Error ? error.message : 'Redis failed');
    }
  }
}
