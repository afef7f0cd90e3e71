// Redis stopped, crashed and restarted under the Express test app (DESIGN §7, R-J7, R-J9,
// R-L1): every route that needs Redis answers 503 store_unavailable fast, the one-time guard
// never passes, the same app instance recovers when Redis is back on its port, and a restart
// keeps a pending challenge only when Redis persists it (AOF), never turning it into a pass.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildExpressApp } from './support/http-app.js';
import { createClient, expectError, expectRefusal } from './support/http-client.js';
import type { HttpHarness } from './support/http-harness.js';
import { startRedis, type RedisHandle } from './support/redis.js';

const PAYMENT = { id: 'pay_1', amount: 125.5, currency: 'EUR', payee: 'ES9121000418450200051332' };
const LOGIN_START = { purpose: 'login' };
const PAYMENT_START = { purpose: 'payment', transaction: PAYMENT };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function app(redis: RedisHandle): Promise<HttpHarness> {
  const h = await buildExpressApp({ store: 'redis', redisUrl: redis.url });
  cleanups.push(() => h.close());
  return h;
}

async function server(options: { port?: number; args?: string[] } = {}): Promise<RedisHandle> {
  const handle = await startRedis(options);
  cleanups.push(() => handle.kill());
  return handle;
}

/** Sends until the answer is not a 503 (the client reconnecting), at most `ms`. */
async function untilServed<T extends { status: number }>(send: () => Promise<T>, ms = 5_000): Promise<T & { waitedMs: number }> {
  const began = Date.now();
  for (;;) {
    const res = await send();
    if (res.status !== 503 || Date.now() - began > ms) return Object.assign(res, { waitedMs: Date.now() - began });
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe('Redis outage', () => {
  it('R-J7 R-J9 Redis stopped → start, resend, verify and the one-time guard answer 503 store_unavailable (p99 of 100 requests under 1 s), the plain guard needs no Redis, the one-time token never passes; Redis back on its port → the same app recovers', async () => {
    const redis = await server();
    const h = await app(redis);
    const api = createClient(h);
    const payment = await api.stepUp(PAYMENT_START);
    const login = await api.stepUp(LOGIN_START);
    const pending = await api.start(LOGIN_START);
    expect(pending.status).toBe(201);
    const code = api.codeOf(pending.body.challengeId);
    const sentBefore = h.outbox.messages().length;

    await redis.kill();
    h.clock.advance(31_000);
    const routes = [
      ['start', () => api.start(LOGIN_START)],
      ['resend', () => api.resend(pending.body.challengeId)],
      ['verify', () => api.verify(pending.body.challengeId, code)],
      ['one-time guard', () => api.post('/payments', PAYMENT, payment.token)],
    ] as const;
    const timings: number[] = [];
    for (let i = 0; i < 100; i++) {
      const [name, send] = routes[i % routes.length]!;
      const began = performance.now();
      const res = await send();
      timings.push(performance.now() - began);
      expect(res.status, `${name}: ${res.text}`).toBe(503);
      expect(expectError(res, 503, 'store_unavailable').retryAfter).toBe(1);
      expect(res.headers['retry-after']).toBe('1');
    }
    const p50 = percentile(timings, 50);
    const p99 = percentile(timings, 99);
    console.log(`outage: 100 requests (start, resend, verify, one-time guard) → 503 store_unavailable; p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${Math.max(...timings).toFixed(1)} ms`);
    expect(p99).toBeLessThan(1_000);
    // A multi-use token is checked without Redis (R-J7 allows it): the plain guard still serves.
    expect((await api.get('/account/profile', login.token)).status).toBe(200);
    expect(h.outbox.messages()).toHaveLength(sentBefore);
    expect(h.events.filter((event) => event.type === 'token.accepted' && event.purpose === 'payment')).toHaveLength(0);

    // Back on the same port (empty: nothing was persisted): no restart of the app.
    await server({ port: redis.port });
    const again = await untilServed(() => api.start(LOGIN_START));
    console.log(`outage: the app served again ${again.waitedMs} ms after Redis came back`);
    expect(again.status).toBe(201);
    // The one-time token was refused during the outage, never consumed: it passes now, once.
    expect((await api.post('/payments', PAYMENT, payment.token)).status).toBe(200);
    expectRefusal(await api.post('/payments', PAYMENT, payment.token), { errorClass: 'insufficient_user_authentication', reason: 'replayed' });
    const fresh = await api.stepUp(PAYMENT_START);
    expect((await api.post('/payments', PAYMENT, fresh.token)).status).toBe(200);
    expect(h.errors).toEqual([]);
    api.assertNothingLeaked();
  });
});

describe('Redis restart between start and verify', () => {
  it('R-J5 with appendonly yes and appendfsync always, a crash and a restart on the same port and dir keep the pending challenge: it verifies once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stepup-aof-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const args = ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir];
    const redis = await server({ args });
    const h = await app(redis);
    const api = createClient(h);
    const pending = await api.start(LOGIN_START);
    expect(pending.status).toBe(201);
    const code = api.codeOf(pending.body.challengeId);

    await redis.kill();
    await server({ port: redis.port, args });
    const verified = await untilServed(() => api.verify(pending.body.challengeId, code));
    expect(verified.status, verified.text).toBe(200);
    expect(typeof verified.body.token).toBe('string');
    // Once: a retry of the code is that token again, another code nothing.
    expect((await api.verify(pending.body.challengeId, code)).body.token).toBe(verified.body.token);
    expectError(await api.verify(pending.body.challengeId, code === '000000' ? '111111' : '000000'), 404, 'challenge_not_found');
  });

  it('R-J5 without persistence a restart turns the pending challenge into challenge_not_found, never a pass', async () => {
    const redis = await server();
    const h = await app(redis);
    const api = createClient(h);
    const pending = await api.start(LOGIN_START);
    expect(pending.status).toBe(201);
    const code = api.codeOf(pending.body.challengeId);

    await redis.stop();
    await server({ port: redis.port });
    const verified = await untilServed(() => api.verify(pending.body.challengeId, code));
    expectError(verified, 404, 'challenge_not_found');
    expect(h.events.filter((event) => event.type === 'verify.succeeded')).toHaveLength(0);
  });
});
