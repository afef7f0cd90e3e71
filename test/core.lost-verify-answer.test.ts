/**
 * A verify whose answer was lost (Redis stalled past the store timeout, so the caller heard
 * 503 while the script still ran and consumed the challenge) must not punish the user: the same
 * right code, from the same subject and binding, within the challenge's life, gets the token
 * that the consuming verify issued, with the same `jti`, so a one-time guard still accepts it
 * once. Anything else on a consumed challenge (another code, subject or session, or after its
 * life) stays `challenge_not_found` and counts nothing.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisStore } from '../src/index.js';
import { makeStepUp, PAYMENT, rejection, startChallenge, SUBJECT } from './core.fixtures.js';
import { privateRedisServers } from './support/private-redis.js';

const redisServers = privateRedisServers();
afterEach(() => redisServers.cleanUp());

async function stallableRedis(): Promise<{ store: RedisStore; client: Redis; admin: Redis }> {
  const { server, client, store } = await redisServers.start(200);
  const admin = new Redis(server.url);
  redisServers.clients.push(admin);
  return { store, client, admin };
}

const other = (code: string) => (code === '000000' ? '111111' : '000000');

describe('a verify whose answer was lost', () => {
  it('Redis stalled past the store timeout: 503, the script still consumes; the retry of the same code gets a token, every retry the same jti, and the one-time guard accepts it once', async () => {
    const { store, client, admin } = await stallableRedis();
    const harness = makeStepUp({ store });
    const live = await startChallenge(harness, { purpose: 'payment', binding: 'session-1' });
    await admin.call('CLIENT', 'PAUSE', '600', 'WRITE');
    const lost = await rejection(harness.stepup.verify(live.challengeId, live.code, { subject: SUBJECT, binding: 'session-1' }));
    expect(lost.code).toBe('store_unavailable');
    // Once Redis resumes, the late script runs and consumes the challenge.
    await new Promise((resolve) => setTimeout(resolve, 700));
    await client.ping();
    const retry = await harness.stepup.verify(live.challengeId, live.code, { subject: SUBJECT, binding: 'session-1' });
    const again = await harness.stepup.verify(live.challengeId, live.code, { subject: SUBJECT, binding: 'session-1' });
    expect(again.claims.jti).toBe(retry.claims.jti);
    expect(again.token).toBe(retry.token);
    expect(retry.claims).toMatchObject({ sub: SUBJECT, purpose: 'payment', cid: live.challengeId });
    const check = () => harness.stepup.checkToken(retry.token, { purpose: 'payment', subject: SUBJECT, binding: 'session-1', transaction: PAYMENT });
    await expect(check()).resolves.toMatchObject({ jti: retry.claims.jti });
    expect((await rejection(harness.stepup.checkToken(again.token, { purpose: 'payment', subject: SUBJECT, binding: 'session-1', transaction: PAYMENT }))).details.reason).toBe('replayed');
    // The events tell the retries apart from the verify that consumed the challenge.
    const succeeded = harness.events.filter((event) => event.type === 'verify.succeeded');
    expect(succeeded.map((event) => event.repeated)).toEqual([true, true]);
    expect(new Set(succeeded.map((event) => event.jti))).toEqual(new Set([retry.claims.jti]));
  });

  it.each([
    { name: 'memory store', redis: false },
    { name: 'Redis store', redis: true },
  ])('on the $name: the token is the first verify\'s (iat, auth_time, jti); another code, subject or session, or a retry after the challenge\'s life, is challenge_not_found and costs nothing', async ({ redis }) => {
    const harness = makeStepUp(redis ? { store: (await stallableRedis()).store, limits: { failures: { max: 3, window: '1h' } } } : { limits: { failures: { max: 3, window: '1h' } } });
    const live = await startChallenge(harness, { binding: 'session-1' });
    const first = await harness.stepup.verify(live.challengeId, live.code, { subject: SUBJECT, binding: 'session-1' });
    harness.clock.advance(60_000);
    const retry = await harness.stepup.verify(live.challengeId, live.code, { subject: SUBJECT, binding: 'session-1' });
    expect(retry.token).toBe(first.token);
    expect(retry.claims).toEqual(first.claims);
    expect(retry.expiresIn).toBe(first.expiresIn - 60);
    for (let i = 0; i < 5; i++) {
      expect((await rejection(harness.stepup.verify(live.challengeId, other(live.code), { subject: SUBJECT, binding: 'session-1' }))).code).toBe('challenge_not_found');
    }
    expect((await rejection(harness.stepup.verify(live.challengeId, live.code, { subject: 'user-2', binding: 'session-1' }))).code).toBe('challenge_not_found');
    expect((await rejection(harness.stepup.verify(live.challengeId, live.code, { subject: SUBJECT, binding: 'session-2' }))).code).toBe('challenge_not_found');
    expect((await rejection(harness.stepup.verify(live.challengeId, live.code, { subject: SUBJECT }))).code).toBe('challenge_not_found');
    // The wrong codes on the consumed challenge counted nothing: the subject's limit of 3 is untouched.
    const next = await startChallenge(harness);
    await expect(harness.stepup.verify(next.challengeId, next.code, { subject: SUBJECT })).resolves.toBeDefined();
    // Past the challenge's life (5 minutes from its start), the code opens nothing.
    harness.clock.advance(4 * 60_000);
    expect((await rejection(harness.stepup.verify(live.challengeId, live.code, { subject: SUBJECT, binding: 'session-1' }))).code).toBe('challenge_not_found');
  });

  it('a right code refused after the store consumed it (another purpose expected, a changed transaction) spends the challenge: no retry turns it into a token', async () => {
    const harness = makeStepUp();
    const reset = await startChallenge(harness, { purpose: 'password-reset' });
    // As the login strategy does: only login challenges complete a sign-in.
    expect((await rejection(harness.stepup.verify(reset.challengeId, reset.code, { subject: SUBJECT, purpose: 'login' }))).code).toBe('challenge_not_found');
    expect((await rejection(harness.stepup.verify(reset.challengeId, reset.code, { subject: SUBJECT, purpose: 'password-reset' }))).code).toBe('challenge_not_found');
    const payment = await startChallenge(harness, { purpose: 'payment' });
    expect((await rejection(harness.stepup.verify(payment.challengeId, payment.code, { subject: SUBJECT, transaction: { ...PAYMENT, payee: 'Mallory' } }))).code).toBe('challenge_not_found');
    expect((await rejection(harness.stepup.verify(payment.challengeId, payment.code, { subject: SUBJECT, transaction: PAYMENT }))).code).toBe('challenge_not_found');
    expect(harness.events.filter((event) => event.type === 'verify.succeeded')).toEqual([]);
  });
});
