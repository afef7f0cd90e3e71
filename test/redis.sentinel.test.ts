// Sentinel (DESIGN §7, R-J5, R-J6, R-J9): a primary, a replica and one sentinel, private
// processes from the machine's redis-server. A forced failover in the middle of a run: the
// app follows the new primary by itself, the only errors meanwhile are store_unavailable,
// and the WAIT option (waitForReplicas) fails closed when no replica acknowledged a write.
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisStore } from '../src/index.js';
import { issueToken, makeStepUp, PAYMENT, rejection, startChallenge, SUBJECT, uniquePrefix, type Harness } from './core.fixtures.js';
import { startRedis } from './support/redis.js';
import { startSentinel, type SentinelSetup } from './support/redis-sentinel.js';

const setups: SentinelSetup[] = [];
const clients: Redis[] = [];
const extra: { kill(): Promise<void> }[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.disconnect();
  await Promise.all([...setups.splice(0).map((setup) => setup.stop()), ...extra.splice(0).map((server) => server.kill())]);
});

/** The Sentinel client the README recommends. */
function sentinelClient(setup: SentinelSetup, options: RedisOptions = {}): Redis {
  const client = new Redis({
    sentinels: setup.sentinels,
    name: setup.name,
    role: 'master',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    autoResendUnfulfilledCommands: false,
    connectTimeout: 500,
    // Follow a failover as soon as the sentinel announces it (+switch-master).
    failoverDetector: true,
    retryStrategy: () => 100,
    ...options,
  });
  client.on('error', () => undefined);
  clients.push(client);
  return client;
}

async function ready(client: Redis): Promise<void> {
  if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
}

/** One token for the challenge: a retry of its code is that token again, another code nothing. */
async function verifyOnce(harness: Harness, challengeId: string, code: string): Promise<void> {
  const { token } = await harness.stepup.verify(challengeId, code, { subject: SUBJECT });
  await expect(harness.stepup.verify(challengeId, code, { subject: SUBJECT })).resolves.toMatchObject({ token });
  expect((await rejection(harness.stepup.verify(challengeId, code === '000000' ? '111111' : '000000', { subject: SUBJECT }))).code).toBe('challenge_not_found');
}

describe('Sentinel failover', () => {
  it('R-J5 R-J9 SENTINEL FAILOVER mid-run: the app reconnects to the new primary by itself, errors meanwhile are only store_unavailable, and a challenge created afterwards verifies once', async () => {
    const setup = await startSentinel();
    setups.push(setup);
    const client = sentinelClient(setup);
    await ready(client);
    const harness = makeStepUp({ store: new RedisStore({ client, prefix: uniquePrefix('sentinel') }) });

    const outcomes: { at: number; step: 'start' | 'verify'; result: string }[] = [];
    const began = Date.now();
    let failedOver: { from: number; to: number } | undefined;
    let switchedAt = Infinity;
    const failover = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      failedOver = await setup.failover({ settle: false });
      switchedAt = Date.now();
    })();
    // A short start → verify loop that runs through the failover and 1.5 s past it.
    while (Date.now() < switchedAt + 1_500 && Date.now() - began < 15_000) {
      const at = Date.now() - began;
      let challenge: { challengeId: string; code: string } | undefined;
      try {
        challenge = await startChallenge(harness);
        outcomes.push({ at, step: 'start', result: 'ok' });
      } catch (error) {
        outcomes.push({ at, step: 'start', result: (error as { code?: string }).code ?? String(error) });
      }
      if (challenge) {
        try {
          await harness.stepup.verify(challenge.challengeId, challenge.code, { subject: SUBJECT });
          outcomes.push({ at: Date.now() - began, step: 'verify', result: 'ok' });
        } catch (error) {
          outcomes.push({ at: Date.now() - began, step: 'verify', result: (error as { code?: string }).code ?? String(error) });
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await failover;
    const errors = outcomes.filter((outcome) => outcome.result !== 'ok');
    console.log(`sentinel failover ${failedOver?.from} → ${failedOver?.to}: ${outcomes.length} operations, ${errors.length} errors (${[...new Set(errors.map((e) => e.result))].join(', ') || 'none'}) over ${errors.length ? `${errors[0]!.at}..${errors.at(-1)!.at} ms` : '-'}`);
    expect(failedOver).toBeDefined();
    expect(errors.every((error) => error.result === 'store_unavailable'), JSON.stringify(errors)).toBe(true);
    // Operations resumed: the last ones (after the switch) all succeeded, on the new primary.
    expect(outcomes.slice(-4).every((outcome) => outcome.result === 'ok')).toBe(true);
    expect(client.stream.remotePort).toBe(failedOver!.to);

    const after = await startChallenge(harness);
    await verifyOnce(harness, after.challengeId, after.code);
    const role = (await client.call('ROLE')) as [string];
    expect(role[0]).toBe('master');
  });
});

describe('R-J6 waitForReplicas', () => {
  const WAIT = { replicas: 1, timeoutMs: 100 };

  it('R-J6 with the replica up a verify and a one-time token pass; with it stopped start, verify and the one-time guard answer store_unavailable instead of pretending; back up, it passes again', async () => {
    const setup = await startSentinel();
    setups.push(setup);
    const client = sentinelClient(setup);
    await ready(client);
    const harness = makeStepUp({ store: new RedisStore({ client, prefix: uniquePrefix('wait'), waitForReplicas: WAIT }) });

    const first = await startChallenge(harness);
    await verifyOnce(harness, first.challengeId, first.code);
    const pending = await startChallenge(harness);
    const { token } = await issueToken(harness, { purpose: 'payment' });
    const { token: spare } = await issueToken(harness, { purpose: 'payment' });
    await expect(harness.stepup.checkToken(token, { purpose: 'payment', transaction: PAYMENT })).resolves.toMatchObject({ purpose: 'payment' });

    const succeeded = () => harness.events.filter((event) => event.type === 'verify.succeeded').length;
    const succeededBefore = succeeded();
    const primary = await setup.primaryPort();
    const replica = setup.servers.find((server) => server.port !== primary)!;
    await replica.stop();

    const started = Date.now();
    expect((await rejection(startChallenge(harness))).code).toBe('store_unavailable');
    expect((await rejection(harness.stepup.verify(pending.challengeId, pending.code, { subject: SUBJECT }))).code).toBe('store_unavailable');
    expect((await rejection(harness.stepup.checkToken(spare, { purpose: 'payment', transaction: PAYMENT }))).code).toBe('store_unavailable');
    // Each waited WAIT's timeout (100 ms), not the store's.
    expect(Date.now() - started).toBeLessThan(3 * 600);
    expect(succeeded()).toBe(succeededBefore);

    // The refused verify consumed the challenge on the primary, and its answer was lost: once the
    // replica has the write too, the user's retry of the code gets that verify's token.
    const back = await startRedis({ port: replica.port, args: ['--repl-diskless-sync-delay', '0', '--replicaof', '127.0.0.1', String(primary)] });
    extra.push(back);
    await setup.replicated();
    const retried = await harness.stepup.verify(pending.challengeId, pending.code, { subject: SUBJECT });
    await expect(harness.stepup.verify(pending.challengeId, pending.code, { subject: SUBJECT })).resolves.toMatchObject({ token: retried.token });
    const again = await startChallenge(harness);
    await verifyOnce(harness, again.challengeId, again.code);
  });

  it('R-J6 is validated at construction with a message that says how to fix it, and refused for a Cluster client', async () => {
    const client = new Redis({ lazyConnect: true, autoResendUnfulfilledCommands: false });
    clients.push(client);
    for (const bad of [{ replicas: 0, timeoutMs: 100 }, { replicas: 1, timeoutMs: 0 }, { replicas: 1, timeoutMs: 1000 }, { replicas: 1.5, timeoutMs: 100 }, { replicas: 1 }, { replicas: 1, timeoutMs: 100, strict: true }, true]) {
      expect(() => new RedisStore({ client, waitForReplicas: bad as never })).toThrow(/waitForReplicas.*\{ replicas: 1, timeoutMs: 100 \}/);
    }
    expect(() => new RedisStore({ client, timeoutMs: 2000, waitForReplicas: { replicas: 2, timeoutMs: 1500 } })).not.toThrow();
    const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true, scaleReads: 'master', redisOptions: { autoResendUnfulfilledCommands: false } });
    try {
      expect(() => new RedisStore({ client: cluster, waitForReplicas: WAIT })).toThrow(/Cluster.*min-replicas-to-write/);
    } finally {
      cluster.disconnect();
    }
  });
});
