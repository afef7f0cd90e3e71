/**
 * WhatsAppOtpStrategy, unchanged, through koa-passport in a real Koa app with koa-session
 * (an external store, so that a session has an id that login replaces) and passport-local
 * for the password step; the code is requested through the Koa stepUpRouter. The second
 * step ends in Passport's success, fail (with the error's status and code) or error.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import Koa, { type Context } from 'koa';
import koaPassport from 'koa-passport';
import createSession from 'koa-session';
import { Strategy as LocalStrategy } from 'passport-local';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { isStepUpError } from '../src/index.js';
import { stepUpRouter, type KoaPassportRequest } from '../src/koa/index.js';
import { WhatsAppOtpStrategy, type WhatsAppOtpFailure, type WhatsAppOtpSuccess } from '../src/passport/index.js';
import { json, route } from './support/http-app-koa.js';
import { closeServer, createHarnessCore, listen, type HarnessCore } from './support/http-harness.js';
import { decodeClaims } from './support/http-client.js';
import { startRedis, type RedisHandle } from './support/redis.js';

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

/** What koa-session puts at `ctx.session` (koa-session 7 does not type it on Koa's context). */
interface LoginSession {
  pendingUserId?: string;
  /** The session's id in the store: the challenges' binding, replaced at login. */
  readonly externalKey?: string;
}
const sessionOf = (ctx: Context) => (ctx as unknown as { session: LoginSession | null }).session;

interface LoginApp {
  server: Server;
  core: HarnessCore;
  appErrors: unknown[];
  close(): Promise<void>;
}

async function buildKoaLoginApp(redisUrl?: string): Promise<LoginApp> {
  const core = await createHarnessCore({ store: 'redis', ...(redisUrl ? { redisUrl } : {}) });
  const passport = new koaPassport.KoaPassport();
  const appErrors: unknown[] = [];
  const findUser = (id: unknown) => USERS.find((user) => user.id === id);

  passport.use(
    new LocalStrategy((username, password, done) => {
      done(null, USERS.find((candidate) => candidate.username === username && candidate.password === password) ?? false);
    }),
  );
  passport.use(
    new WhatsAppOtpStrategy<User, KoaPassportRequest>(core.stepup, {
      resolveSubject: (req) => sessionOf(req.ctx)?.pendingUserId,
      binding: (req) => sessionOf(req.ctx)?.externalKey,
      verify: (claims, done) => done(null, findUser(claims.sub) ?? false),
    }),
  );
  passport.serializeUser((user, done) => done(null, (user as User).id));
  passport.deserializeUser((id, done) => done(null, findUser(id) ?? false));

  const app = new Koa();
  app.keys = [randomBytes(32).toString('hex')];
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      appErrors.push(error);
      ctx.status = isStepUpError(error) ? error.status : 500;
      ctx.body = { error: { code: isStepUpError(error) ? error.code : 'app_error' } };
    }
  });
  const store = new Map<string, unknown>();
  app.use(
    createSession(
      {
        key: 'sid',
        store: {
          get: async (key: string) => store.get(key),
          set: async (key: string, value: unknown) => void store.set(key, value),
          destroy: async (key: string) => void store.delete(key),
        },
      },
      app,
    ),
  );
  app.use(passport.initialize());
  app.use(passport.session());

  // Step 1: the password, which only marks the login as pending.
  app.use(
    route('POST', '/login', json, passport.authenticate('local', { session: false }), (ctx) => {
      sessionOf(ctx)!.pendingUserId = (ctx.state.user as User).id;
      ctx.body = { next: '/login/code' };
    }),
  );
  // Step 2a: the code goes to the number on file of the pending user.
  app.use(
    stepUpRouter(core.stepup, {
      prefix: '/stepup',
      resolveSubject: (ctx) => {
        const user = findUser(sessionOf(ctx)?.pendingUserId);
        return user && { id: user.id, phone: user.phone, otherFactors: ['pwd'] };
      },
      binding: (ctx) => sessionOf(ctx)?.externalKey,
      onError: core.report,
    }),
  );
  // Step 2b: Passport with a failure redirect, and with a custom callback.
  app.use(
    route('POST', '/login/code', json, passport.authenticate('whatsapp-otp', { failureRedirect: '/login/code?failed=1' }), (ctx) => {
      delete sessionOf(ctx)!.pendingUserId;
      ctx.body = { user: (ctx.state.user as User).id, info: ctx.state.authInfo };
    }),
  );
  app.use(
    route('POST', '/login/code/custom', json, (ctx, next) =>
      passport.authenticate('whatsapp-otp', async (error: unknown, user: User | false, info: unknown, status: unknown) => {
        if (error) throw error;
        if (!user) {
          ctx.status = 299;
          ctx.body = { outcome: 'fail', info, status };
          return;
        }
        await ctx.login(user);
        ctx.body = { outcome: 'success', user: user.id, info };
      })(ctx, next),
    ),
  );
  app.use(
    route('GET', '/account', (ctx) => {
      ctx.status = ctx.isAuthenticated() ? 200 : 401;
      ctx.body = ctx.isAuthenticated() ? { signedIn: true, user: (ctx.state.user as User).id } : { signedIn: false };
    }),
  );

  const server = createServer(app.callback());
  await listen(server);
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
  return cookies
    ?.filter((cookie) => /^sid(\.sig)?=[^;]/.test(cookie))
    .map((cookie) => cookie.split(';')[0])
    .join('; ');
}

/** Password step and challenge through the Koa router: an agent holding the pending session, and the challenge. */
async function passwordAndChallenge(app: LoginApp, user = ALICE) {
  const agent = request.agent(app.server);
  const login = await agent.post('/login').send({ username: user.username, password: user.password });
  expect(login.status, login.text).toBe(200);
  const pendingCookie = sessionCookie(login);
  expect(pendingCookie).toMatch(/^sid=/);
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
  const built = await buildKoaLoginApp(redisUrl);
  apps.push(built);
  return built;
}

describe('WhatsAppOtpStrategy through koa-passport: success', () => {
  it('password → challenge via the Koa router → code → signed in; the token proves pwd, mfa, otp, mca', async () => {
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

    expect((await agent.get('/account')).body).toEqual({ signedIn: true, user: ALICE.id });
  });

  it('R-H1 the session id changes at login and the pre-login cookie no longer signs anyone in', async () => {
    const login = await app();
    const { agent, pendingCookie, challengeId, code } = await passwordAndChallenge(login);
    const res = await agent.post('/login/code/custom').send({ challengeId, code });
    expect(res.body, res.text).toMatchObject({ outcome: 'success', user: ALICE.id, info: { tokenType: 'step-up', purpose: 'login' } });
    const signedInCookie = sessionCookie(res);
    expect(signedInCookie).toMatch(/^sid=/);
    expect(signedInCookie).not.toBe(pendingCookie);
    expect((await request(login.server).get('/account').set('Cookie', pendingCookie)).status).toBe(401);
    expect((await request(login.server).get('/account').set('Cookie', signedInCookie!)).status).toBe(200);
  });
});

describe('WhatsAppOtpStrategy through koa-passport: fail', () => {
  it('a wrong code with failureRedirect → redirect, not signed in', async () => {
    const login = await app();
    const { agent, challengeId, wrong } = await passwordAndChallenge(login);
    const res = await agent.post('/login/code').send({ challengeId, code: wrong });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/login/code?failed=1');
    expect((await agent.get('/account')).status).toBe(401);
  });

  it('a wrong code with a custom callback → info { code: invalid_code, message, attemptsLeft } and status 400; the right code then works', async () => {
    const login = await app();
    const { agent, challengeId, code, wrong } = await passwordAndChallenge(login);
    const res = await agent.post('/login/code/custom').send({ challengeId, code: wrong });
    expect(res.status, res.text).toBe(299);
    expect(res.body).toMatchObject({ outcome: 'fail', status: 400 });
    expect(res.body.info as WhatsAppOtpFailure).toEqual({ code: 'invalid_code', message: expect.any(String), attemptsLeft: 4 });
    expect((await agent.get('/account')).status).toBe(401);
    expect((await agent.post('/login/code/custom').send({ challengeId, code })).body.outcome).toBe('success');
    expect((await agent.get('/account')).status).toBe(200);
  });

  it("no pending user → 401 unauthenticated; another browser's session → 404 challenge_not_found", async () => {
    const login = await app();
    const { challengeId, code } = await passwordAndChallenge(login);
    const anonymous = await request(login.server).post('/login/code/custom').send({ challengeId, code });
    expect(anonymous.body).toMatchObject({ outcome: 'fail', status: 401, info: { code: 'unauthenticated' } });
    const bob = await passwordAndChallenge(login, USERS[1]);
    const stolen = await bob.agent.post('/login/code/custom').send({ challengeId, code });
    expect(stolen.body).toMatchObject({ outcome: 'fail', status: 404, info: { code: 'challenge_not_found' } });
  });
});

describe('WhatsAppOtpStrategy through koa-passport: error', () => {
  it('Redis down → error path: store_unavailable reaches the app, a 503, no session', async () => {
    const redis = await startRedis();
    servers.push(redis);
    const login = await app(redis.url);
    const { agent, challengeId, code } = await passwordAndChallenge(login);
    await redis.stop();

    const res = await agent.post('/login/code').send({ challengeId, code });
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ error: { code: 'store_unavailable' } });
    expect(login.appErrors).toHaveLength(1);
    expect((await agent.get('/account')).status).toBe(401);
  });
});
