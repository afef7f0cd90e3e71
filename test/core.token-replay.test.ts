// A one-time step-up token passes its guard once, even when many requests present it at
// the same moment against a shared Redis; later presentations are refused as 'replayed'.
// The replay mark outlives the token: its TTL covers the token's expiry plus the clock tolerance.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStepUpError, RedisStore } from '../src/index.js';
import { decodePart, expectRefused, issueToken, makeStepUp, PAYMENT, redisFixture, SUBJECT, type RedisFixture } from './core.fixtures.js';
import { redisUrl } from './support/redis.js';

describe('on MemoryStore', () => {
  it('R-L1 a payment token passes once; the second presentation is replayed', async () => {
    const harness = makeStepUp();
    const { token } = await issueToken(harness, { purpose: 'payment' });
    const input = { purpose: 'payment', subject: SUBJECT, transaction: PAYMENT };
    await expect(harness.stepup.checkToken(token, input)).resolves.toBeDefined();
    await expectRefused(harness.stepup.checkToken(token, input), 'replayed');
  });

  it('R-L1 oneTime cannot be switched off for one-time purposes; a login token can opt in', async () => {
    const harness = makeStepUp();
    const payment = (await issueToken(harness, { purpose: 'payment' })).token;
    await expect(harness.stepup.checkToken(payment, { purpose: 'payment', transaction: PAYMENT, oneTime: false })).rejects.toThrow(/one-time/);
    const login = (await issueToken(harness)).token;
    await expect(harness.stepup.checkToken(login, { purpose: 'login' })).resolves.toBeDefined();
    await expect(harness.stepup.checkToken(login, { purpose: 'login' })).resolves.toBeDefined();
    await expect(harness.stepup.checkToken(login, { purpose: 'login', oneTime: true })).resolves.toBeDefined();
    await expectRefused(harness.stepup.checkToken(login, { purpose: 'login', oneTime: true }), 'replayed');
  });
});

describe('on RedisStore', () => {
  let redis: RedisFixture;
  beforeAll(async () => {
    redis = await redisFixture('replay');
  });
  afterAll(async () => {
    await redis.close();
  });

  it('R-L1 a one-time payment token checked 20x concurrently passes exactly once; the others are replayed', async () => {
    const harness = makeStepUp({ store: redis.store });
    const { token } = await issueToken(harness, { purpose: 'payment' });
    const input = { purpose: 'payment', subject: SUBJECT, transaction: PAYMENT, oneTime: true };
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => harness.stepup.checkToken(token, input)));
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    const reasons = results.flatMap((result) => (result.status === 'rejected' && isStepUpError(result.reason) ? [result.reason.details.reason] : []));
    expect(reasons).toEqual(Array(19).fill('replayed'));
  });

  it('R-L1 two services sharing one Redis (two app instances) accept the token once between them', async () => {
    const client2 = new Redis(redisUrl(), { autoResendUnfulfilledCommands: false });
    try {
      const first = makeStepUp({ store: redis.store });
      const second = makeStepUp({ store: new RedisStore({ client: client2, prefix: redis.prefix }), clock: first.clock });
      const { token } = await issueToken(first, { purpose: 'password-reset' });
      await expect(second.stepup.checkToken(token, { purpose: 'password-reset' })).resolves.toBeDefined();
      await expectRefused(first.stepup.checkToken(token, { purpose: 'password-reset' }), 'replayed');
    } finally {
      client2.disconnect();
    }
  });

  it('R-L2 the jti key PTTL is >= (exp - now) ms and <= (exp - now + 60 s) ms', async () => {
    // Real time here: the PTTL is Redis's clock, so the token must be issued and checked "now".
    const harness = makeStepUp({ store: redis.store });
    const { token } = await issueToken(harness, { purpose: 'payment' });
    const { exp, jti } = decodePart(token, 1) as { exp: number; jti: string };
    await harness.stepup.checkToken(token, { purpose: 'payment', transaction: PAYMENT });
    const keys = (await redis.keys()).filter((key) => key.includes(jti));
    expect(keys).toEqual([`${redis.prefix}jti:{${jti}}`]);
    const pttl = await redis.client.pttl(keys[0]!);
    const untilExp = exp * 1000 - Date.now();
    expect(pttl).toBeGreaterThanOrEqual(untilExp);
    expect(pttl).toBeLessThanOrEqual(untilExp + 60_000);
  });

  it('R-L2 a token checked near its expiry (inside the tolerance) still gets a positive mark TTL', async () => {
    const harness = makeStepUp({ store: redis.store });
    const { token } = await issueToken(harness, { purpose: 'payment' });
    const { exp, jti } = decodePart(token, 1) as { exp: number; jti: string };
    harness.clock.set(exp * 1000 + 20_000);
    await harness.stepup.checkToken(token, { purpose: 'payment', transaction: PAYMENT });
    const pttl = await redis.client.pttl(`${redis.prefix}jti:{${jti}}`);
    expect(pttl).toBeGreaterThan(0);
    await expectRefused(harness.stepup.checkToken(token, { purpose: 'payment', transaction: PAYMENT }), 'replayed');
  });
});
