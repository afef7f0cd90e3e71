/**
 * Every request WhatsAppOtpStrategy authenticates ends in exactly one of Passport's actions:
 * `success`, `fail` (with the refusal's status) or `error`, whatever the app's `verify`, its
 * resolvers or its success callback do. An exception thrown by an action (a custom callback of
 * `passport.authenticate`) is never turned into a second action: it reaches the app unchanged.
 *
 * The strategy is driven by chai-passport-strategy, the tool Passport strategies test with, over
 * a real step-up service on a MemoryStore and on Redis; the last test runs a real Express app.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { use } from 'chai';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Redis } from 'ioredis';
import { Passport } from 'passport';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { isStepUpError, RedisStore, type ChallengeStore } from '../src/index.js';
import { WhatsAppOtpStrategy, type VerifyDone, type WhatsAppOtpStrategyOptions, type WhatsAppOtpSuccess } from '../src/passport/index.js';
import { makeStepUp, redisFixture, startChallenge, SUBJECT, type Harness, type RedisFixture } from './core.fixtures.js';
import { closeServer } from './support/http-harness.js';
import { startRedis, type RedisHandle } from './support/redis.js';

// ---- chai-passport-strategy ----------------------------------------------------

type ActionName = 'success' | 'fail' | 'error' | 'redirect' | 'pass';
type Callback = (...args: unknown[]) => void;
/** The part of chai-passport-strategy's `Test` that we use (the package ships no types). */
interface PassportTest extends Record<ActionName, (cb: Callback) => PassportTest> {
  request(cb: (req: { body?: unknown; ip?: string }) => void): PassportTest;
  authenticate(): void;
}
const chaiPassportStrategy = createRequire(import.meta.url)('chai-passport-strategy') as Parameters<typeof use>[0];
const { passport: chaiPassport } = use(chaiPassportStrategy) as unknown as { passport: { use(strategy: unknown): PassportTest } };

const ACTIONS: ActionName[] = ['success', 'fail', 'error', 'redirect', 'pass'];
/** How long after the first action a second one would still be counted. */
const SETTLE_MS = 30;

interface Action {
  name: ActionName;
  args: unknown[];
}

/**
 * Authenticates one request with `body` and resolves with every action the strategy called,
 * up to SETTLE_MS after the first. `react` runs inside an action (as Passport's glue does) and may throw.
 */
function authenticate(strategy: WhatsAppOtpStrategy<User>, body: unknown, react?: (action: Action) => void): Promise<Action[]> {
  const actions: Action[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the strategy called no action within 2 s')), 2_000);
    const test = chaiPassport.use(strategy).request((req) => {
      req.body = body;
      req.ip = '203.0.113.7';
    });
    for (const name of ACTIONS) {
      test[name]((...args) => {
        const action = { name, args };
        actions.push(action);
        if (actions.length === 1) {
          clearTimeout(timer);
          setTimeout(() => resolve(actions), SETTLE_MS);
        }
        react?.(action);
      });
    }
    test.authenticate();
  });
}

/** Asserts that `actions` is exactly one call of `name`, and returns its arguments. */
function only(actions: Action[], name: ActionName): unknown[] {
  expect(actions.map((action) => action.name)).toEqual([name]);
  return actions[0]!.args;
}

/** Runs `run` with a listener of our own for unhandled rejections (so vitest leaves them to us) and returns them. */
async function withUnhandled<T>(run: () => Promise<T>): Promise<{ result: T; unhandled: unknown[] }> {
  const unhandled: unknown[] = [];
  const listener = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', listener);
  try {
    const result = await run();
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    return { result, unhandled };
  } finally {
    process.off('unhandledRejection', listener);
  }
}

// ---- the service ---------------------------------------------------------------

interface User {
  id: string;
}

const SESSION = 'session-1';
const fixtures: RedisFixture[] = [];
const servers: RedisHandle[] = [];
const clients: Redis[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.disconnect();
  await Promise.all([...fixtures.splice(0).map((fixture) => fixture.close()), ...servers.splice(0).map((server) => server.kill())]);
});

const STORES: Record<string, () => Promise<ChallengeStore | undefined>> = {
  memory: async () => undefined,
  redis: async () => {
    const fixture = await redisFixture('passport-one-action');
    fixtures.push(fixture);
    return fixture.store;
  },
};

function strategyFor(harness: Harness, options: Partial<WhatsAppOtpStrategyOptions<User>> = {}): WhatsAppOtpStrategy<User> {
  return new WhatsAppOtpStrategy<User>(harness.stepup, {
    resolveSubject: () => SUBJECT,
    binding: () => SESSION,
    verify: (claims, done) => done(null, { id: claims.sub }),
    ...options,
  });
}

const wrongCode = (code: string) => (code === '000000' ? '111111' : '000000');
const loadsUser = (done: VerifyDone<User>) => done(null, { id: SUBJECT });

describe.each(Object.keys(STORES))('one action per outcome (%s store)', (storeName) => {
  async function setup() {
    const store = await STORES[storeName]!();
    const harness = makeStepUp(store ? { store } : {});
    const challenge = await startChallenge(harness, { binding: SESSION });
    return { harness, ...challenge, wrong: wrongCode(challenge.code) };
  }

  it('success: the user from verify, and info with the step-up token and its claims', async () => {
    const { harness, challengeId, code } = await setup();
    const [user, info] = only(await authenticate(strategyFor(harness), { challengeId, code }), 'success') as [User, WhatsAppOtpSuccess];
    expect(user).toEqual({ id: SUBJECT });
    expect(info).toMatchObject({ tokenType: 'step-up', purpose: 'login', expiresIn: 900, claims: { sub: SUBJECT, cid: challengeId, purpose: 'login' } });
    expect(info.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  });

  it('fail 400: a wrong code, with attemptsLeft; a body without challengeId or code', async () => {
    const { harness, challengeId, wrong } = await setup();
    expect(only(await authenticate(strategyFor(harness), { challengeId, code: wrong }), 'fail')).toEqual([
      { code: 'invalid_code', message: expect.any(String), attemptsLeft: 4 },
      400,
    ]);
    expect(only(await authenticate(strategyFor(harness), { challengeId }), 'fail')).toEqual([{ code: 'invalid_request', message: expect.any(String) }, 400]);
  });

  it('fail 401: no pending user', async () => {
    const { harness, challengeId, code } = await setup();
    const strategy = strategyFor(harness, { resolveSubject: () => undefined });
    expect(only(await authenticate(strategy, { challengeId, code }), 'fail')).toEqual([{ code: 'unauthenticated', message: expect.any(String) }, 401]);
  });

  it("fail 404: an unknown challenge, and the right code from another session", async () => {
    const { harness, challengeId, code } = await setup();
    const notFound = [{ code: 'challenge_not_found', message: expect.any(String) }, 404];
    expect(only(await authenticate(strategyFor(harness), { challengeId: 'A'.repeat(22), code }), 'fail')).toEqual(notFound);
    expect(only(await authenticate(strategyFor(harness, { binding: () => 'session-2' }), { challengeId, code }), 'fail')).toEqual(notFound);
  });

  it('fail 410: an expired challenge', async () => {
    const { harness, challengeId, code } = await setup();
    harness.clock.advance(300_000);
    expect(only(await authenticate(strategyFor(harness), { challengeId, code }), 'fail')).toMatchObject([{ code: 'challenge_expired' }, 410]);
  });

  it('fail 429: a challenge locked by wrong codes, even for the right code', async () => {
    const { harness, challengeId, code, wrong } = await setup();
    for (let left = 4; left > 0; left--) {
      expect(only(await authenticate(strategyFor(harness), { challengeId, code: wrong }), 'fail')).toMatchObject([{ attemptsLeft: left }, 400]);
    }
    const locked = [{ code: 'too_many_attempts', message: expect.any(String) }, 429];
    expect(only(await authenticate(strategyFor(harness), { challengeId, code: wrong }), 'fail')).toEqual(locked);
    expect(only(await authenticate(strategyFor(harness), { challengeId, code }), 'fail')).toEqual(locked);
  });

  it('fail without a status: verify refuses the user', async () => {
    const { harness, challengeId, code } = await setup();
    const strategy = strategyFor(harness, { verify: (_claims, done) => done(null, false, { message: 'account disabled' }) });
    expect(only(await authenticate(strategy, { challengeId, code }), 'fail')).toEqual([{ message: 'account disabled' }]);
  });

  it('error: resolveSubject or binding throws, or rejects', async () => {
    const { harness, challengeId, code } = await setup();
    const broken = new Error('session store broken');
    const resolvers: Array<Partial<WhatsAppOtpStrategyOptions<User>>> = [
      { resolveSubject: () => { throw broken; } },
      { resolveSubject: async () => { throw broken; } },
      { binding: () => { throw broken; } },
      { binding: () => Promise.reject(broken) },
    ];
    for (const resolver of resolvers) {
      expect(only(await authenticate(strategyFor(harness, resolver), { challengeId, code }), 'error')).toEqual([broken]);
    }
  });

  it('error: verify passes an error, throws, or rejects (an async verify) before done', async () => {
    const broken = new Error('user database down');
    const verifies: Array<WhatsAppOtpStrategyOptions<User>['verify']> = [
      (_claims, done) => done(broken),
      () => { throw broken; },
      async () => { throw broken; },
      (_claims, done) => { setImmediate(() => done(broken)); },
    ];
    for (const verify of verifies) {
      const { harness, challengeId, code } = await setup();
      expect(only(await authenticate(strategyFor(harness, { verify }), { challengeId, code }), 'error')).toEqual([broken]);
    }
  });

  it('one action when verify calls done twice, in any order, at once or later', async () => {
    const user = { id: SUBJECT };
    const late = new Error('thrown after done');
    // What verify throws after done has nowhere to go in Passport: it reaches the app unchanged.
    const cases: Array<[ActionName, WhatsAppOtpStrategyOptions<User>['verify'], unknown[]]> = [
      ['success', (_claims, done) => { done(null, user); done(null, user); }, []],
      ['success', (_claims, done) => { done(null, user); done(new Error('late')); }, []],
      ['fail', (_claims, done) => { done(null, false); setImmediate(() => done(null, user)); }, []],
      ['error', (_claims, done) => { done(new Error('first')); done(null, user); }, []],
      ['success', async (_claims, done) => { done(null, user); throw late; }, [late]],
    ];
    for (const [outcome, verify, escaped] of cases) {
      const { harness, challengeId, code } = await setup();
      const { result, unhandled } = await withUnhandled(() => authenticate(strategyFor(harness, { verify }), { challengeId, code }));
      only(result, outcome);
      expect(unhandled).toEqual(escaped);
    }
  });
});

describe('an action that throws is not followed by another', () => {
  const thrown = new Error('the app’s callback threw');

  it.each(['success', 'fail', 'error'] as const)('%s throws: that one action, and its exception reaches the app unchanged', async (throwing) => {
    const harness = makeStepUp();
    const challenge = await startChallenge(harness, { binding: SESSION });
    const body = { challengeId: challenge.challengeId, code: throwing === 'fail' ? wrongCode(challenge.code) : challenge.code };
    const verify: WhatsAppOtpStrategyOptions<User>['verify'] = throwing === 'error' ? (_claims, done) => done(new Error('db')) : (_claims, done) => loadsUser(done);
    const { result, unhandled } = await withUnhandled(() =>
      authenticate(strategyFor(harness, { verify }), body, (action) => {
        if (action.name === throwing) throw thrown;
      }),
    );
    only(result, throwing);
    expect(unhandled).toEqual([thrown]);
  });

  it('a verify that catches what done threw and passes it to done still gets one action', async () => {
    for (const verify of [
      (_claims: unknown, done: VerifyDone<User>) => {
        try {
          loadsUser(done);
        } catch (error) {
          done(error);
        }
      },
      (_claims: unknown, done: VerifyDone<User>) => Promise.resolve().then(() => loadsUser(done)).catch(done),
    ]) {
      const harness = makeStepUp();
      const { challengeId, code } = await startChallenge(harness, { binding: SESSION });
      const { result } = await withUnhandled(() =>
        authenticate(strategyFor(harness, { verify }), { challengeId, code }, (action) => {
          if (action.name === 'success') throw thrown;
        }),
      );
      only(result, 'success');
    }
  });

  it('error once: the store is down (Redis stopped), so the core answers store_unavailable (503)', async () => {
    const server = await startRedis();
    servers.push(server);
    const client = new Redis(server.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false, retryStrategy: () => 200 });
    client.on('error', () => undefined);
    clients.push(client);
    await once(client, 'ready');
    const harness = makeStepUp({ store: new RedisStore({ client, prefix: 'one-action:' }) });
    const { challengeId, code } = await startChallenge(harness, { binding: SESSION });
    await server.stop();

    const [error] = only(await authenticate(strategyFor(harness), { challengeId, code }), 'error');
    expect(isStepUpError(error) && [error.code, error.status]).toEqual(['store_unavailable', 503]);
  });
});

describe('passport.authenticate(name, callback) in a real Express app', () => {
  it('a custom callback that throws after answering runs once, and Express never sees a second outcome', async () => {
    const harness = makeStepUp();
    const passport = new Passport();
    passport.use(strategyFor(harness, { binding: undefined }));
    const calls: Array<{ error: unknown; user: unknown; status: unknown }> = [];
    const appErrors: unknown[] = [];
    const thrown = new Error('bookkeeping after the answer failed');

    const app = express();
    app.use(express.json());
    app.use(passport.initialize());
    app.post('/login/code', (req, res, next) => {
      passport.authenticate('whatsapp-otp', (error: unknown, user: User | false, _info: unknown, status: unknown) => {
        calls.push({ error, user, status });
        if (error) return next(error);
        if (!user) return res.status(Number(status) || 401).json({ outcome: 'fail' });
        res.json({ outcome: 'success', user: user.id });
        throw thrown;
      })(req, res, next);
    });
    app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
      appErrors.push(error);
      if (!res.headersSent) res.status(500).json({ outcome: 'error' });
    });
    const server = createServer(app).listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { challengeId, code } = await startChallenge(harness);
      const { result: res, unhandled } = await withUnhandled(() => request(server).post('/login/code').send({ challengeId, code }));
      expect(res.status, res.text).toBe(200);
      expect(res.body).toEqual({ outcome: 'success', user: SUBJECT });
      expect(calls).toEqual([{ error: null, user: { id: SUBJECT }, status: undefined }]);
      expect(appErrors).toEqual([]);
      expect(unhandled).toEqual([thrown]);

      // A wrong code: the callback runs once with the status.
      calls.length = 0;
      const failed = await request(server).post('/login/code').send({ challengeId: (await startChallenge(harness)).challengeId, code: 'x' });
      expect(failed.status).toBe(400);
      expect(calls).toEqual([{ error: null, user: false, status: 400 }]);
    } finally {
      await closeServer(server);
    }
  });
});
