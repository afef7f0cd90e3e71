/**
 * WhatsAppOtpStrategy in a real Express app with express-session and passport-local for
 * the password step: the second step ends in exactly one of Passport's success, fail
 * (with the error's status and `{ code, message, attemptsLeft }`) or error (store down).
 * A completed login regenerates the session id (R-H1) and its token proves pwd + otp (mfa).
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import session from 'express-session';
import { Passport } from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { stepUpRouter } from '../src/express/index.js';
import { isStepUpError, type StepUp } from '../src/index.js';
import { WhatsAppOtpStrategy, type WhatsAppOtpFailure, type WhatsAppOtpSuccess } from '../src/passport/index.js';
import { closeServer, createHarnessCore, type HarnessCore } from './support/http-harness.js';
import { decodeClaims } from './support/http-client.js';
import { startRedis, type RedisHandle } from './support/redis.js';

declare module 'express-session' {
  interface SessionData {
    pendingUserId?: string;
  }
}

interface User {
  id: string;
  username: string;
  password: string;
  phone: string;
}

const USERS: User[] = [
  { id: 'u-alice', username: 'alice', password: 'correct horse battery staple', phone: '+34612345678' },
  { id: 'u-bob', username: 'bob', password: 'hunter2 hunter2', phone: '+34622334455' },
];
const ALICE = USERS[0]!;

interface LoginApp {
  server: Server;
  core: HarnessCore;
  /** Errors that reached the app's error handler (Passport's `error` path). */
  appErrors: unknown[];
  close(): Promise<void>;
}

async function buildLoginApp(redisUrl?: string): Promise<LoginApp> {
  const core = await createHarnessCore({ store: 'redis', ...(redisUrl ? { redisUrl } : {}) });
  const passport = new Passport();
  const appErrors: unknown[] = [];
  const findUser = (id: unknown) => USERS.find((user) => user.id === id);

  passport.use(
    new LocalStrategy((username, password, done) => {
      const user = USERS.find((candidate) => candidate.username === username && candidate.password === password);
      done(null, user ?? false);
    }),
  );
  passport.use(
    new WhatsAppOtpStrategy<User>(core.stepup, {
      resolveSubject: (req) => req.session.pendingUserId,
      binding: (req) => req.sessionID,
      verify: (claims, done) => done(null, findUser(claims.sub) ?? false),
    }),
  );
  passport.serializeUser<string>((user, done) => done(null, (user as User).id));
  passport.deserializeUser<string>((id, done) => done(null, findUser(id) ?? false));

  const app = express();
  app.use(express.json());
  app.use(session({ secret: 'test-session-secret-0123456789abcdef', resave: false, saveUninitialized: false, name: 'sid' }));
  app.use(passport.initialize());
  app.use(passport.session());

  // Step 1: the password, which only marks the login as pending.
  app.post('/login', passport.authenticate('local', { session: false }), (req, res) => {
    req.session.pendingUserId = (req.user as User).id;
    res.json({ next: '/login/code' });
  });
  // Step 2a: the code goes to the number on file of the pending user.
  app.use(
    '/stepup',
    stepUpRouter(core.stepup, {
      resolveSubject: (req) => {
        const user = findUser(req.session.pendingUserId);
        return user && { id: user.id, phone: user.phone, otherFactors: ['pwd'] };
      },
      binding: (req) => req.sessionID,
      onError: core.report,
    }),
  );
  // Step 2b, three ways an app uses Passport.
  const signedIn = (req: Request, res: Response) => {
    res.json({ user: (req.user as User).id, info: req.authInfo });
  };
  app.post('/login/code', passport.authenticate('whatsapp-otp', { failureRedirect: '/login/code?failed=1' }), signedIn);
  app.post('/api/login/code', passport.authenticate('whatsapp-otp', { session: false }), signedIn);
  app.post('/login/code/custom', (req, res, next) => {
    passport.authenticate('whatsapp-otp', (error: unknown, user: User | false, info: unknown, status: unknown) => {
      if (error) return next(error);
      if (!user) return res.status(299).json({ outcome: 'fail', info, status });
      req.logIn(user, (loginError) => (loginError ? next(loginError) : res.json({ outcome: 'success', user: user.id, info })));
    })(req, res, next);
  });
  app.get('/account', (req, res) => {
    if (!req.isAuthenticated()) return res.status(401).json({ signedIn: false });
    res.json({ signedIn: true, user: (req.user as User).id });
  });
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    appErrors.push(error);
    const status = isStepUpError(error) ? error.status : 500;
    res.status(status).json({ error: { code: isStepUpError(error) ? error.code : 'app_error' } });
  });

  const server = createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    core,
    appErrors,
    close: async () => {
      await closeServer(server);
      await core.dispose();
    },
  };
}

function sessionCookie(res: request.Response): string | undefined {
  const cookies = res.headers['set-cookie'] as unknown as string[] | undefined;
  return cookies?.find((cookie) => cookie.startsWith('sid='))?.split(';')[0];
}

/** Password step and challenge: an agent holding the pending session, and the challenge. */
async function passwordAndChallenge(app: LoginApp, user = ALICE) {
  const agent = request.agent(app.server);
  const login = await agent.post('/login').send({ username: user.username, password: user.password });
  expect(login.status, login.text).toBe(200);
  const pendingCookie = sessionCookie(login);
  expect(pendingCookie).toBeDefined();
  const started = await agent.post('/stepup/challenges').send({ purpose: 'login' });
  expect(started.status, started.text).toBe(201);
  const challengeId = started.body.challengeId as string;
  const code = app.core.outbox.messages().filter((message) => message.challengeId === challengeId).at(-1)!.code;
  return { agent, pendingCookie: pendingCookie!, challengeId, code, wrong: code === '000000' ? '111111' : '000000' };
}

const apps: LoginApp[] = [];
const servers: RedisHandle[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  await Promise.all(servers.splice(0).map((server) => server.stop()));
});

async function app(redisUrl?: string): Promise<LoginApp> {
  const built = await buildLoginApp(redisUrl);
  apps.push(built);
  return built;
}

describe('WhatsAppOtpStrategy: success', () => {
  it('password → challenge → code → signed-in session; info holds a token whose amr has pwd, mfa, otp, mca', async () => {
    const login = await app();
    const { agent, challengeId, code } = await passwordAndChallenge(login);
    expect((await agent.get('/account')).status).toBe(401);

    const res = await agent.post('/login/code').send({ challengeId, code });
    expect(res.status, res.text).toBe(200);
    expect(res.body.user).toBe(ALICE.id);
    const info = res.body.info as WhatsAppOtpSuccess;
    expect(info).toMatchObject({ tokenType: 'step-up', expiresIn: 900, purpose: 'login' });
    const claims = decodeClaims(info.token);
    expect(claims).toMatchObject({ sub: ALICE.id, purpose: 'login', cid: challengeId });
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'mfa', 'otp', 'mca']));
    expect(info.claims).toEqual(claims);

    const account = await agent.get('/account');
    expect(account.status).toBe(200);
    expect(account.body).toEqual({ signedIn: true, user: ALICE.id });
  });

  it('R-H1 the session id changes at login and the pre-login id no longer signs anyone in', async () => {
    const login = await app();
    const { agent, pendingCookie, challengeId, code } = await passwordAndChallenge(login);
    const res = await agent.post('/login/code').send({ challengeId, code });
    expect(res.status, res.text).toBe(200);
    const signedInCookie = sessionCookie(res);
    expect(signedInCookie).toBeDefined();
    expect(signedInCookie).not.toBe(pendingCookie);

    const withOld = await request(login.server).get('/account').set('Cookie', pendingCookie);
    expect(withOld.status).toBe(401);
    const withNew = await request(login.server).get('/account').set('Cookie', signedInCookie!);
    expect(withNew.status).toBe(200);
  });

  it('a custom callback receives the user and the token info', async () => {
    const login = await app();
    const { agent, challengeId, code } = await passwordAndChallenge(login);
    const res = await agent.post('/login/code/custom').send({ challengeId, code });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ outcome: 'success', user: ALICE.id, info: { tokenType: 'step-up', purpose: 'login' } });
    expect((await agent.get('/account')).status).toBe(200);
  });
});

describe('WhatsAppOtpStrategy: fail', () => {
  it('a wrong code with failureRedirect → redirect, not signed in', async () => {
    const login = await app();
    const { agent, challengeId, wrong } = await passwordAndChallenge(login);
    const res = await agent.post('/login/code').send({ challengeId, code: wrong });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/login/code?failed=1');
    expect((await agent.get('/account')).status).toBe(401);
  });

  it('a wrong code with a custom callback → info { code: invalid_code, message, attemptsLeft } and status 400', async () => {
    const login = await app();
    const { agent, challengeId, code, wrong } = await passwordAndChallenge(login);
    const res = await agent.post('/login/code/custom').send({ challengeId, code: wrong });
    expect(res.status, res.text).toBe(299);
    expect(res.body.outcome).toBe('fail');
    expect(res.body.status).toBe(400);
    const info = res.body.info as WhatsAppOtpFailure;
    expect(info).toEqual({ code: 'invalid_code', message: expect.any(String), attemptsLeft: 4 });
    // The challenge still works with the right code.
    expect((await agent.post('/login/code/custom').send({ challengeId, code })).body.outcome).toBe('success');
  });

  it('with session: false and no redirect → Passport answers the failure status (400 for invalid_code)', async () => {
    const login = await app();
    const { agent, challengeId, wrong } = await passwordAndChallenge(login);
    const res = await agent.post('/api/login/code').send({ challengeId, code: wrong });
    expect(res.status).toBe(400);
    expect(res.text).toBe('Bad Request');
    expect(res.text).not.toContain(wrong);
  });

  it('R-G5 the right code of a password-reset challenge of the same user and session signs nobody in: 404 challenge_not_found', async () => {
    const login = await app();
    const { agent } = await passwordAndChallenge(login);
    const started = await agent.post('/stepup/challenges').send({ purpose: 'password-reset' });
    expect(started.status, started.text).toBe(201);
    const challengeId = started.body.challengeId as string;
    const code = login.core.outbox.messages().filter((message) => message.challengeId === challengeId).at(-1)!.code;
    const res = await agent.post('/login/code/custom').send({ challengeId, code });
    expect(res.body).toMatchObject({ outcome: 'fail', status: 404, info: { code: 'challenge_not_found' } });
    expect((await agent.get('/account')).status).toBe(401);
  });

  it('refuses an unknown purpose when it is built', async () => {
    const login = await app();
    expect(() => new WhatsAppOtpStrategy(login.core.stepup, { purpose: 'signin', resolveSubject: () => 'x', verify: (_claims, done) => done(null, false) })).toThrow(/`purpose` names "signin"/);
  });

  it('a missing challengeId or code → fail invalid_request (400), without touching the challenge', async () => {
    const login = await app();
    const { agent, challengeId, code } = await passwordAndChallenge(login);
    for (const body of [{ code }, { challengeId }, { challengeId, code: 123456 }, {}]) {
      const res = await agent.post('/login/code/custom').send(body);
      expect(res.body, JSON.stringify(body)).toMatchObject({ outcome: 'fail', status: 400, info: { code: 'invalid_request' } });
    }
    expect((await agent.post('/login/code/custom').send({ challengeId, code })).body.outcome).toBe('success');
  });

  it('other refusals carry their own status: unknown challenge 404, expired 410, locked 429, no pending user 401', async () => {
    const login = await app();
    const { agent, challengeId, code, wrong } = await passwordAndChallenge(login);
    const fail = async (body: object, via = agent) => (await via.post('/login/code/custom').send(body)).body;

    expect(await fail({ challengeId: 'A'.repeat(22), code })).toMatchObject({ status: 404, info: { code: 'challenge_not_found' } });
    const anonymous = request.agent(login.server);
    expect(await fail({ challengeId, code }, anonymous)).toMatchObject({ status: 401, info: { code: 'unauthenticated' } });
    for (let i = 0; i < 4; i++) await fail({ challengeId, code: wrong });
    expect(await fail({ challengeId, code: wrong })).toMatchObject({ status: 429, info: { code: 'too_many_attempts' } });
    expect(await fail({ challengeId, code })).toMatchObject({ status: 429, info: { code: 'too_many_attempts' } });

    const second = await agent.post('/stepup/challenges').send({ purpose: 'login' });
    login.core.clock.advance(300_000);
    const secondCode = login.core.outbox.messages().filter((message) => message.challengeId === second.body.challengeId).at(-1)!.code;
    expect(await fail({ challengeId: second.body.challengeId, code: secondCode })).toMatchObject({ status: 410, info: { code: 'challenge_expired' } });
    expect((await agent.get('/account')).status).toBe(401);
  });

  it("a code verified from another browser's session fails as challenge_not_found", async () => {
    const login = await app();
    const { challengeId, code } = await passwordAndChallenge(login);
    // Bob's session knows the challenge id and Alice's code, but not Alice's session.
    const other = await passwordAndChallenge(login, USERS[1]);
    const res = await other.agent.post('/login/code/custom').send({ challengeId, code });
    expect(res.body).toMatchObject({ outcome: 'fail', status: 404, info: { code: 'challenge_not_found' } });
    expect((await other.agent.get('/account')).status).toBe(401);
  });
});

describe('WhatsAppOtpStrategy: error', () => {
  it('Redis down → error path: next(err) with store_unavailable, a 5xx, no session', async () => {
    const redis = await startRedis();
    servers.push(redis);
    const login = await app(redis.url);
    const { agent, challengeId, code } = await passwordAndChallenge(login);
    await redis.stop();

    const res = await agent.post('/login/code').send({ challengeId, code });
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ error: { code: 'store_unavailable' } });
    expect(login.appErrors).toHaveLength(1);
    expect(isStepUpError(login.appErrors[0]) && login.appErrors[0].code).toBe('store_unavailable');
    const custom = await agent.post('/login/code/custom').send({ challengeId, code });
    expect(custom.status).toBe(503);
    expect((await agent.get('/account')).status).toBe(401);
  });
});

describe('WhatsAppOtpStrategy: construction', () => {
  const stepup = { verify: async () => ({}) } as unknown as StepUp;
  const verify = () => undefined;

  it('throws a TypeError naming the missing option', () => {
    expect(() => new WhatsAppOtpStrategy(undefined as unknown as StepUp, { resolveSubject: () => 'u', verify })).toThrow(/createStepUp/);
    expect(() => new WhatsAppOtpStrategy(stepup, { verify } as never)).toThrow(TypeError);
    expect(() => new WhatsAppOtpStrategy(stepup, { verify } as never)).toThrow(/resolveSubject/);
    expect(() => new WhatsAppOtpStrategy(stepup, { resolveSubject: () => 'u' } as never)).toThrow(/verify/);
    expect(() => new WhatsAppOtpStrategy(stepup, { resolveSubject: () => 'u', verify, binding: 'sid' } as never)).toThrow(/binding/);
  });

  it("is named 'whatsapp-otp' unless told otherwise", () => {
    expect(new WhatsAppOtpStrategy(stepup, { resolveSubject: () => 'u', verify }).name).toBe('whatsapp-otp');
    expect(new WhatsAppOtpStrategy(stepup, { name: 'otp', resolveSubject: () => 'u', verify }).name).toBe('otp');
  });
});
