// When Redis is down or stalls, every stateful operation fails closed and fast: it rejects
// with store_unavailable (503) within about a second, nothing is sent, no code is accepted and
// no one-time token passes. Only stateless checks of multi-use tokens may still succeed.
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore, OutboxChannel, RedisStore, StepUpUnavailableError, type StepUpError } from '../src/index.js';
import { issueToken, makeStepUp, PAYMENT, PHONE, rejection, startChallenge, SUBJECT } from './core.fixtures.js';
import { startRedis } from './support/redis.js';
import { FAIL_FAST, privateRedisServers } from './support/private-redis.js';

const redisServers = privateRedisServers();
const { clients } = redisServers;
afterEach(() => redisServers.cleanUp());
const privateRedis = (timeoutMs?: number) => redisServers.start(timeoutMs);

async function timed(promise: Promise<unknown>): Promise<{ error: StepUpError; ms: number }> {
  const started = Date.now();
  const error = await rejection(promise);
  return { error, ms: Date.now() - started };
}

function expectUnavailable({ error, ms }: { error: StepUpError; ms: number }): void {
  expect(error.code).toBe('store_unavailable');
  expect(error.status).toBe(503);
  expect(error).toBeInstanceOf(StepUpUnavailableError);
  expect(error.details.retryAfter).toBeGreaterThan(0);
  expect(ms).toBeLessThan(1_500);
  // The safe message says nothing about Redis internals.
  expect(error.message).not.toMatch(/redis|stream|ECONN/i);
}

describe('R-J7 fail closed with Redis stopped', () => {
  it('start, verify, resend and checkToken(oneTime) reject with store_unavailable (503) within 1.5 s, and nothing is sent', async () => {
    const { server, store } = await privateRedis();
    const harness = makeStepUp({ store });
    const live = await startChallenge(harness);
    const { token: paymentToken } = await issueToken(harness, { purpose: 'payment' });
    const { token: loginToken } = await issueToken(harness);
    const sentBefore = harness.outbox.messages().length;

    await server.stop();

    expectUnavailable(await timed(harness.stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'login' })));
    expectUnavailable(await timed(harness.stepup.verify(live.challengeId, live.code, { subject: SUBJECT })));
    harness.clock.advance(30_000);
    expectUnavailable(await timed(harness.stepup.resend(live.challengeId, { subject: SUBJECT })));
    expectUnavailable(await timed(harness.stepup.checkToken(paymentToken, { purpose: 'payment', transaction: PAYMENT })));
    expectUnavailable(await timed(harness.stepup.checkToken(loginToken, { purpose: 'login', oneTime: true })));
    expect(harness.outbox.messages()).toHaveLength(sentBefore);

    // A multi-use token needs no store: R-J7 lets a stateless check still pass.
    await expect(harness.stepup.checkToken(loginToken, { purpose: 'login', subject: SUBJECT })).resolves.toMatchObject({ sub: SUBJECT });
  });

  it('a service whose Redis was never reachable fails closed the same way', async () => {
    const server = await startRedis();
    await server.stop();
    const client = new Redis(server.url, FAIL_FAST);
    client.on('error', () => undefined);
    clients.push(client);
    const harness = makeStepUp({ store: new RedisStore({ client, prefix: 'failure:' }) });
    expectUnavailable(await timed(harness.stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'payment', transaction: PAYMENT })));
    // Any well-formed id goes to the store, which alone can tell whether it exists: one of this
    // subject's (same pepper), one of another's or made up (another tag), one of the earlier format.
    const { challengeId } = await startChallenge(makeStepUp());
    for (const id of [challengeId, `ZZZZ${challengeId.slice(4)}`, 'A'.repeat(22)]) {
      expectUnavailable(await timed(harness.stepup.verify(id, '123456', { subject: SUBJECT })));
    }
    expect(harness.outbox.messages()).toHaveLength(0);
  });

  it('a stalled Redis (CLIENT PAUSE) fails within the store timeoutMs instead of hanging; the late script never yields a token', async () => {
    const { client, server, store } = await privateRedis(200);
    const harness = makeStepUp({ store });
    const live = await startChallenge(harness);
    const admin = new Redis(server.url);
    clients.push(admin);
    await admin.call('CLIENT', 'PAUSE', '1000', 'ALL');
    const outcome = await timed(harness.stepup.verify(live.challengeId, live.code, { subject: SUBJECT }));
    expectUnavailable(outcome);
    expect(outcome.ms).toBeLessThan(700);
    expectUnavailable(await timed(harness.stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'login' })));
    expect(harness.outbox.messages()).toHaveLength(1);
    await admin.call('CLIENT', 'UNPAUSE');
    await client.ping();
    // The timed-out verify reached Redis and ran once the pause ended: the challenge is consumed,
    // but its caller got store_unavailable and no token. The user's retry gets it
    // (core.lost-verify-answer.test.ts); nothing else passes.
    expect(harness.events.filter((event) => event.type === 'verify.succeeded')).toHaveLength(0);
    expect((await rejection(harness.stepup.verify(live.challengeId, '000000' === live.code ? '111111' : '000000', { subject: SUBJECT }))).code).toBe('challenge_not_found');
  });
});

describe('a store of your own that fails', () => {
  /** A MemoryStore whose `name` method throws or rejects with a plain Error, as a store someone wrote might. */
  function breaking(name: 'verify' | 'recordDelivery' | 'admit', how: 'throws' | 'rejects'): MemoryStore {
    const store = new MemoryStore();
    Object.defineProperty(store, name, {
      value: () => {
        const error = new Error('connection to db-7.internal refused');
        if (how === 'throws') throw error;
        return Promise.reject(error);
      },
    });
    return store;
  }

  it('a plain error thrown or rejected by any method is store_unavailable (503), its message kept only as the cause', async () => {
    for (const how of ['throws', 'rejects'] as const) {
      const harness = makeStepUp({ store: breaking('verify', how) });
      const live = await startChallenge(harness);
      const { error } = await timed(harness.stepup.verify(live.challengeId, live.code, { subject: SUBJECT }));
      expectUnavailable({ error, ms: 0 });
      expect(error.message, how).not.toMatch(/db-7/);
      expect((error.cause as Error).message, how).toBe('connection to db-7.internal refused');
      expectUnavailable(await timed(makeStepUp({ store: breaking('admit', how) }).stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'login' })));
    }
  });

  it('a store that fails to record a message a provider took is store_unavailable, not a channel failure: no fallback sends a second code', async () => {
    const whatsapp = new OutboxChannel({ name: 'whatsapp', transport: 'whatsapp' });
    const sms = new OutboxChannel({ name: 'sms', transport: 'sms' });
    const harness = makeStepUp({ store: breaking('recordDelivery', 'rejects'), channels: [whatsapp, sms] });
    expectUnavailable(await timed(harness.stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'login' })));
    expect(whatsapp.messages()).toHaveLength(1);
    expect(sms.messages()).toHaveLength(0);
    expect(harness.events.map(({ type }) => type)).not.toContain('delivery.fallback');
  });
});
