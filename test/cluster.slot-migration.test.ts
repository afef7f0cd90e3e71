/**
 * Redis Cluster resharding under traffic (R-J1, R-J10): a slot that holds a live challenge
 * moves to another primary (SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE, as
 * `redis-cli --cluster reshard` does) while clients keep starting, verifying and paying
 * through the Express app. ioredis must follow ASK and MOVED, and load the scripts on the
 * new primary (NOSCRIPT → EVAL): no challenge is lost, the moved one verifies exactly
 * once, and the only error a caller may see is a retryable 503 store_unavailable.
 *
 * The cluster is this file's own (the move changes its topology); the client is the one
 * the README recommends (scaleReads 'master', no offline queue, timeoutMs 1000), without
 * ioredis's periodic slot refresh: every 5 s it asks a node for the slot map, and when that
 * lands in the few milliseconds between the last SETSLOT NODE and the next command of the
 * slot, the client learns the new owner without ever meeting MOVED (CI saw it once). The
 * redirections are what this test is about, so the client learns only from them.
 */
import type { Response } from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildExpressApp } from './support/http-app.js';
import { createClient, expectError, type Client } from './support/http-client.js';
import type { HttpHarness } from './support/http-harness.js';
import { moveSlot, slotOwner, startRedisCluster, withNode, type ClusterNode, type RedisClusterHandle } from './support/redis-cluster.js';

const PAYMENT = { id: 'pay_1', amount: 42, currency: 'EUR', payee: 'ES9121000418450200051332' };
const LIVE = 24;
// Other keys of the slot, so that the move takes several batches. Verified challenges stay in
// their slot until they expire (a retry of their code gets their token): with the ones the
// traffic verifies before the move, the slot holds about as many keys as 40 fillers gave when
// verified challenges were deleted. A longer move only lengthens the windows in which a
// challenge and its subject's failure record sit on different nodes (TRYAGAIN, retried by
// ioredis every 100 ms within the store's 1 s).
const FILLERS = 20;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `errorstat_<ERR>` counts and `cmdstat_<cmd>` calls of one node since its last CONFIG RESETSTAT. */
async function stats(node: ClusterNode): Promise<Record<string, number>> {
  const info = (await withNode(node, (redis) => redis.call('INFO', 'all'))) as string;
  const counts: Record<string, number> = {};
  for (const [, name, count] of info.matchAll(/^((?:errorstat|cmdstat)_\w+):(?:count|calls)=(\d+)/gm)) counts[name!] = Number(count);
  return new Proxy(counts, { get: (target, name) => (typeof name === 'string' ? target[name] ?? 0 : undefined) });
}

interface Seen {
  what: string;
  expected: number;
  res: Response;
}

describe('Redis Cluster: a slot with live challenges moves to another primary while traffic runs (R-J1, R-J10)', () => {
  let cluster: RedisClusterHandle;
  let h: HttpHarness;
  let api: Client;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    h = await buildExpressApp({ store: 'cluster', clusterNodes: cluster.nodes, clusterClient: { slotsRefreshInterval: 0 } });
    api = createClient(h);
  });
  afterAll(async () => {
    await h?.close();
    await cluster?.stop();
  });

  it('no challenge is lost, the moved one verifies once, attempts count exactly, and any error on the way is a retryable 503', async () => {
    const seen: Seen[] = [];
    const expectStatus = (what: string, expected: number, res: Response): Response => {
      seen.push({ what, expected, res });
      return res;
    };
    /** A 503 is a retry, never an answer; anything else must be the expected answer. */
    const answered = (res: Response, expected: number): boolean => {
      if (res.status === 503) return false;
      expect(res.status, res.text).toBe(expected);
      return true;
    };

    // Live challenges, one of which decides the slot to move.
    const live: { id: string; code: string }[] = [];
    for (let index = 0; index < LIVE; index++) {
      const res = await api.start({ purpose: 'login' });
      expect(res.status, res.text).toBe(201);
      live.push({ id: res.body.challengeId as string, code: api.codeOf(res.body.challengeId as string) });
    }
    const target = live[0]!;
    const wrong = target.code.replace(/.$/, (digit) => String((Number(digit) + 1) % 10));
    const [first] = cluster.nodes;
    const slot = Number(await withNode(first!, (redis) => redis.call('CLUSTER', 'KEYSLOT', `{${target.id.slice(0, 4)}}`)));
    const from = await slotOwner(cluster.nodes, slot);
    const to = cluster.nodes.find((node) => node.port !== from.port)!;
    const challengeKey = ((await withNode(from, (redis) => redis.call('CLUSTER', 'GETKEYSINSLOT', slot, 100))) as string[]).find((key) => key.endsWith(`{${target.id.slice(0, 4)}}ch:${target.id}`));
    expect(challengeKey, 'the challenge key lives in its slot on its owner').toBeDefined();
    // Other keys of the same slot, so that the MIGRATE phase takes several batches.
    await withNode(from, async (redis) => {
      for (let index = 0; index < FILLERS; index++) await redis.set(`filler:{${target.id.slice(0, 4)}}:${index}`, 'x', 'PX', 120_000);
    });

    // Background traffic: full step-ups with a one-time payment token, and resends of the
    // moving challenge (inside its cooldown: 429, read from the moving key).
    let running = true;
    const flows = { started: 0, paid: 0 };
    const payer = async (): Promise<void> => {
      while (running) {
        const started = expectStatus('start', 201, await api.start({ purpose: 'payment', transaction: PAYMENT }));
        if (!answered(started, 201)) continue;
        flows.started++;
        const id = started.body.challengeId as string;
        let token: string | undefined;
        for (let retry = 0; retry < 5 && !token; retry++) {
          const verified = expectStatus('verify', 200, await api.verify(id, api.codeOf(id)));
          if (answered(verified, 200)) token = verified.body.token as string;
        }
        expect(token, `challenge ${id} was lost`).toBeDefined();
        for (let retry = 0; retry < 5; retry++) {
          const paid = expectStatus('one-time guard', 200, await api.post('/payments', PAYMENT, token));
          if (answered(paid, 200)) {
            flows.paid++;
            break;
          }
        }
      }
    };
    const resender = async (): Promise<void> => {
      while (running) {
        answered(expectStatus('resend of the moving challenge', 429, await api.resend(target.id)), 429);
        await sleep(5);
      }
    };
    const traffic = Promise.all([payer(), payer(), payer(), resender()]);

    // One wrong code in each state of the slot: exactly one attempt each, never a pass.
    let attemptsLeft = 5;
    const wrongCode = async (phase: string): Promise<void> => {
      const res = expectStatus(`wrong code (${phase})`, 400, await api.verify(target.id, wrong));
      if (!answered(res, 400)) return;
      attemptsLeft--;
      expect(expectError(res, 400, 'invalid_code').attemptsLeft, phase).toBe(attemptsLeft);
    };
    await sleep(200);
    // From here on, count the redirections and script reloads the nodes see.
    await Promise.all(cluster.nodes.map((node) => withNode(node, (redis) => redis.call('CONFIG', 'RESETSTAT'))));
    let askPhaseSeen = false;
    const move = await moveSlot(cluster.nodes, slot, to, {
      batch: 8,
      marked: async () => {
        // The new primary has no script cached (as after a restart or a new node): NOSCRIPT → EVAL.
        await withNode(to, (redis) => redis.script('FLUSH'));
        await wrongCode('slot MIGRATING, key still on the source');
        await sleep(150);
      },
      migrated: async (keys) => {
        if (!askPhaseSeen && keys.includes(challengeKey!)) {
          askPhaseSeen = true;
          await wrongCode('key on the target, slot still MIGRATING: ASK');
        }
        await sleep(60);
      },
    });
    await wrongCode('slot moved: MOVED');
    await sleep(200);
    running = false;
    await traffic;

    expect(move.keys).toContain(challengeKey);
    // The subject's challenges share one slot (with its failure counter): every live one moved with the fillers.
    for (const { id } of live) expect(move.keys.some((key) => key.endsWith(`}ch:${id}`)), id).toBe(true);
    expect(move.keys.length).toBeGreaterThanOrEqual(FILLERS + LIVE);
    expect(askPhaseSeen).toBe(true);
    expect((await slotOwner(cluster.nodes, slot)).port).toBe(to.port);
    expect(await withNode(to, (redis) => redis.exists(challengeKey!))).toBe(1);
    // The client really met every state: ASK (with ASKING) while migrating, MOVED after, NOSCRIPT on the new primary.
    const source = await stats(from);
    const targetStats = await stats(to);
    expect(source.errorstat_ASK, 'ASK redirections from the source').toBeGreaterThan(0);
    expect(source.errorstat_MOVED, 'MOVED redirections from the source').toBeGreaterThan(0);
    expect(targetStats.cmdstat_asking, 'ASKING on the target').toBeGreaterThan(0);
    expect(targetStats.errorstat_NOSCRIPT, 'NOSCRIPT on the target').toBeGreaterThan(0);

    // Every live challenge still verifies, exactly once (one token); the moved one with its attempts intact.
    const tokens = new Map<string, string>();
    for (const { id, code } of live) {
      let res = await api.verify(id, code);
      for (let retry = 0; retry < 5 && res.status === 503; retry++) res = await api.verify(id, code);
      expect(res.status, `challenge ${id}: ${res.text}`).toBe(200);
      tokens.set(id, res.body.token as string);
    }
    // Consumed: a retry of its code is the same token, another code nothing.
    const again = await api.verify(target.id, target.code);
    expect(again.status, again.text).toBe(200);
    expect(again.body.token).toBe(tokens.get(target.id));
    expectError(await api.verify(target.id, wrong), 404, 'challenge_not_found');

    // Every answer was the expected one or a retryable 503 store_unavailable.
    const unavailable = seen.filter(({ res }) => res.status === 503);
    for (const { what, expected, res } of seen) {
      if (res.status === 503) {
        expect(expectError(res, 503, 'store_unavailable').retryAfter, what).toBe(1);
        expect(res.headers['retry-after'], what).toBe('1');
      } else {
        expect(res.status, `${what}: ${res.text}`).toBe(expected);
      }
    }
    expect(flows.paid).toBe(flows.started);
    expect(flows.started).toBeGreaterThan(5);
    api.assertNothingLeaked();
    console.info(
      `[cluster slot move] slot ${slot} (${move.keys.length} keys) ${move.from.port} → ${move.to.port}: ${seen.length} requests during the run, ` +
        `${flows.paid} step-ups paid, ASK ${source.errorstat_ASK}, MOVED ${source.errorstat_MOVED}, NOSCRIPT ${targetStats.errorstat_NOSCRIPT}, ${unavailable.length} answered 503 (${[...new Set(unavailable.map(({ what }) => what))].join(', ') || 'none'})`,
    );
    // The recommended client options follow ASK and MOVED without a single spurious failure.
    expect(unavailable.map(({ what }) => what)).toEqual([]);
  });
});
