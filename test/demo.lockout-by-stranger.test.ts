/**
 * Over HTTP, with the library's default limits: a stranger who knows only a username makes 10
 * password-reset requests for it and types every wrong code they allow; the user's real sign-in
 * (password, then the WhatsApp code) then works at once, without moving any clock (R-N6, R-D4,
 * R-G3). On the Express demo, with the memory store and with Redis, the stranger uses the demo's
 * own reset pages; the Koa demo has no reset pages, so there the stranger's requests go through
 * the demo's service (as the Express pages do) and the sign-in through the Koa pages.
 */
import { createServer, type Server } from 'node:http';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isStepUpError, MemoryStore, type ChallengeStore } from '../src/index.js';
import type { DemoApp } from '../examples/express/app.js';
import { createKoaDemoApp, type KoaDemoApp } from '../examples/koa/app.js';
import { RESET_ACCEPTED, RESET_REFUSED } from '../examples/express/password-reset.js';
import { redisFixture, type RedisFixture } from './core.fixtures.js';
import { closeServer, listen } from './support/http-harness.js';
import { demoClient, startDemo } from './support/demo-client.js';

const REQUESTS = 10;
/** More than a challenge's attempts: the stranger cannot tell when one locks, the answers are all alike. */
const GUESSES_PER_REQUEST = 6;

describe.each([
  { name: 'memory store', redis: false },
  { name: 'Redis store', redis: true },
])('Express demo: lockout by a stranger ($name)', ({ redis: useRedis }) => {
  let redis: RedisFixture | undefined;
  let demo: DemoApp;
  let server: Server;
  beforeAll(async () => {
    if (useRedis) redis = await redisFixture('demo-stranger');
  });
  afterAll(async () => {
    await redis?.close();
  });
  afterEach(() => closeServer(server));

  const { Browser, signIn } = demoClient(() => ({ server, demo }));

  it('R-N6 10 anonymous reset requests with every wrong code they allow, then the user signs in with password and code at once', async () => {
    const store: ChallengeStore = redis ? redis.store : new MemoryStore();
    // No `limits`: the library's defaults.
    ({ demo, server } = await startDemo({ store }));
    const ana = demo.users[0]!;
    let sent = 0;
    for (let i = 0; i < REQUESTS; i++) {
      const stranger = new Browser();
      const since = demo.outbox.messages().length;
      const asked = await stranger.post('/password-reset/request', { account: ana.username });
      expect(asked.text).toBe(RESET_ACCEPTED);
      await demo.resetsSettled();
      const code = demo.outbox.messages().slice(since).find((message) => message.purpose === 'password-reset')?.code;
      if (code) sent++;
      const wrong = String((Number(code ?? '0') + 1) % 1_000_000).padStart(6, '0');
      for (let guess = 0; guess < GUESSES_PER_REQUEST; guess++) {
        expect((await stranger.post('/password-reset/verify', { code: wrong })).text).toBe(RESET_REFUSED);
      }
    }
    // The anonymous budget let a few codes out, and no more.
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(REQUESTS);
    // The user's own sign-in: password accepted, code sent at once, code accepted.
    await signIn(ana.username, ana.password, ana.phone);
  });
});

describe('Koa demo: lockout by a stranger', () => {
  let demo: KoaDemoApp;
  let server: Server;
  beforeAll(async () => {
    demo = createKoaDemoApp({});
    server = createServer(demo.app.callback());
    await listen(server);
  });
  afterAll(() => closeServer(server));

  it('R-N6 10 anonymous reset starts with every wrong code they allow, then the user signs in over the Koa pages at once', async () => {
    const ana = demo.users[0]!;
    const subject = ana.id;
    let refused = 0;
    for (let i = 0; i < REQUESTS; i++) {
      try {
        const view = await demo.stepup.start({ subject, phone: ana.phone, purpose: 'password-reset', ip: `198.51.100.${i + 1}` });
        const code = demo.outbox.messages().filter((message) => message.challengeId === view.challengeId).at(-1)!.code;
        const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
        for (let guess = 0; guess < GUESSES_PER_REQUEST; guess++) await demo.stepup.verify(view.challengeId, wrong, { subject }).catch(() => undefined);
      } catch (error) {
        if (!isStepUpError(error)) throw error;
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
    const agent = request.agent(server);
    const password = await agent.post('/login').type('form').send({ username: ana.username, password: ana.password });
    expect(password.headers.location).toBe('/login/code');
    const page = await agent.get('/login/code');
    const challengeId = /name="challengeId" value="([^"]+)"/.exec(page.text)?.[1];
    expect(challengeId, page.text.slice(0, 300)).toBeDefined();
    const code = demo.outbox.messages().filter((message) => message.challengeId === challengeId).at(-1)!.code;
    const signedIn = await agent.post('/login/code').type('form').send({ challengeId, code });
    expect(signedIn.status, signedIn.text).toBe(303);
    expect(signedIn.headers.location).toBe('/account');
  });
});
