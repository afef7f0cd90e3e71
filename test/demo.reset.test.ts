/**
 * The Express demo's password reset (issue #4) over HTTP, on the demo's MemoryStore and on
 * a RedisStore: the same answer for every account (R-G1), a code that works once (R-G2),
 * nothing changed before a valid code (R-G3), a token that only sets the new password and
 * dies with it, other reset challenges and sessions of the account ended (R-G4), and no
 * sign-in without the new password AND a code (R-G5). Timing is measured, not tested:
 * `npm run bench:reset`.
 */
import { createServer, type Server } from 'node:http';
import request, { type Response } from 'supertest';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, type ChallengeStore, type OutboxMessage } from '../src/index.js';
import { createDemoApp, type DemoApp } from '../examples/express/app.js';
import { RESET_ACCEPTED, RESET_REFUSED } from '../examples/express/password-reset.js';
import type { DemoSession } from '../examples/express/session.js';
import { redisFixture, type RedisFixture } from './core.fixtures.js';
import { closeServer, listen } from './support/http-harness.js';
import { NO_LIMITS } from './support/no-limits.js';

const NEW_PASSWORD = 'correct-horse-battery';

const setups = [
  { name: 'memory store', redis: false },
  { name: 'Redis store', redis: true },
];

describe.each(setups)('password reset in the Express demo ($name)', ({ redis: useRedis }) => {
  let redis: RedisFixture | undefined;
  let demo: DemoApp;
  let server: Server;

  beforeAll(async () => {
    if (useRedis) redis = await redisFixture('demo-reset');
  });
  afterAll(async () => {
    await redis?.close();
  });
  beforeEach(async () => {
    const store: ChallengeStore = redis?.store ?? new MemoryStore();
    demo = createDemoApp({ store, limits: NO_LIMITS });
    server = createServer(demo.app);
    await listen(server);
  });
  afterEach(async () => {
    await closeServer(server);
  });

  const ana = () => demo.users[0]!;
  const luis = () => demo.users[1]!;

  /** A browser: keeps the session cookie and knows its session id. */
  class Browser {
    cookie = '';

    async post(path: string, body: object, type: 'json' | 'form' = 'json'): Promise<Response> {
      return this.#keep(await request(server).post(path).set('Cookie', this.cookie).type(type).send(body));
    }

    async get(path: string): Promise<Response> {
      return this.#keep(await request(server).get(path).set('Cookie', this.cookie));
    }

    get sessionId(): string {
      return sessionIdOf(this.cookie);
    }

    #keep(res: Response): Response {
      const set = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((cookie) => cookie.startsWith('demo.sid='));
      if (set) this.cookie = set.split(';')[0]!;
      return res;
    }
  }

  /** The express-session id behind the signed cookie `demo.sid=s:<id>.<signature>`. */
  const sessionIdOf = (cookie: string) => {
    const value = decodeURIComponent(cookie.slice('demo.sid='.length));
    return value.slice(2, value.lastIndexOf('.'));
  };

  /** What the server keeps in a session (express-session's store). */
  const sessionData = (sid: string) =>
    new Promise<DemoSession | undefined>((resolve, reject) => demo.sessions.get(sid, (error, data) => (error ? reject(error) : resolve((data ?? undefined) as DemoSession | undefined))));

  const requestReset = (browser: Browser, account: unknown) => browser.post('/password-reset/request', { account });
  const verifyCode = (browser: Browser, code: string) => browser.post('/password-reset/verify', { code });
  const setPassword = (browser: Browser, password: string) => browser.post('/password-reset/new', { password });

  /**
   * The newest message for `phone` and `purpose` sent after the first `since` messages. Polled:
   * the reset's send happens after its answer.
   */
  async function sentCode(phone: string, purpose: string, since: number): Promise<OutboxMessage> {
    let found;
    await expect.poll(() => (found = demo.outbox.messages().slice(since).filter((message) => message.to === phone && message.purpose === purpose).at(-1)), { timeout: 5000, interval: 5 }).toBeDefined();
    return found!;
  }

  async function startedReset(account: string, phone: string, browser = new Browser()): Promise<OutboxMessage & { browser: Browser }> {
    const since = demo.outbox.messages().length;
    expect((await requestReset(browser, account)).status).toBe(202);
    return { browser, ...(await sentCode(phone, 'password-reset', since)) };
  }

  /** The password step: 303 to /login/code (pending, not signed in) or 401. */
  const passwordStep = (browser: Browser, username: string, password: string) => browser.post('/login', { username, password }, 'form');

  async function signIn(username: string, password: string, phone: string, browser = new Browser()): Promise<Browser> {
    const since = demo.outbox.messages().length;
    expect((await passwordStep(browser, username, password)).headers.location).toBe('/login/code');
    const page = await browser.get('/login/code');
    const { code, challengeId } = await sentCode(phone, 'login', since);
    expect(page.text).toContain(challengeId);
    const done = await browser.post('/login/code', { challengeId, code }, 'form');
    expect(done.status, done.text).toBe(303);
    expect(done.headers.location).toBe('/account');
    return browser;
  }

  const signedIn = async (browser: Browser) => (await browser.get('/account')).status === 200;
  const wrong = (code: string) => code.slice(0, 5) + String((Number(code[5]) + 1) % 10);
  const headerNames = (res: Response) => Object.keys(res.headers).sort();
  /** Header values that may differ between two identical answers: the date and the new session cookie. */
  const stableHeaders = (res: Response) => Object.fromEntries(Object.entries(res.headers).filter(([name]) => name !== 'date' && name !== 'set-cookie'));

  it('R-G1: known username, known phone, unknown username, unknown phone and malformed phone get the same status, bytes and header names', async () => {
    const accounts = [ana().username, '+52 55 1234 5678', 'nobody-here', '+34 699 999 999', '+34 12'];
    const since = demo.outbox.messages().length;
    const answers = [];
    for (const account of accounts) answers.push(await requestReset(new Browser(), account));
    for (const answer of answers) {
      expect(answer.status).toBe(202);
      expect(answer.text).toBe(RESET_ACCEPTED);
      expect(Buffer.from(answer.text)).toEqual(Buffer.from(answers[0]!.text));
      expect(headerNames(answer)).toEqual(headerNames(answers[0]!));
      expect(stableHeaders(answer)).toEqual(stableHeaders(answers[0]!));
      // Every answer starts a session of its own (the handle), known account or not.
      expect(answer.headers['set-cookie']).toHaveLength(1);
    }
    // The two known accounts got their codes, after their answers.
    await sentCode(ana().phone, 'password-reset', since);
    await sentCode(luis().phone, 'password-reset', since);
  });

  it('R-G1: for an unknown account nothing reaches the outbox and nothing is stored (no Redis key)', async () => {
    const keysBefore = new Set(await redis?.keys());
    const since = demo.outbox.messages().length;
    for (const account of ['nobody-here', '+34 699 999 999', '+34 12', '', 42]) {
      expect((await requestReset(new Browser(), account)).text).toBe(RESET_ACCEPTED);
    }
    // A known account last: once its code is out, the background work of the requests before it has run too.
    const known = await startedReset(ana().username, ana().phone);
    expect(demo.outbox.messages().slice(since).map((message) => message.challengeId)).toEqual([known.challengeId]);
    if (redis) {
      const added = (await redis.keys()).filter((key) => !keysBefore.has(key));
      // The known account's challenge and the record of its message; nothing else.
      expect(added.length).toBeGreaterThan(0);
      expect(added.filter((key) => !key.includes(known.challengeId) && !key.includes(known.id))).toEqual([]);
    }
  });

  it('R-G2: the code works once; the token stays in the session, not in the answer', async () => {
    const { browser, code } = await startedReset(ana().username, ana().phone);
    const verified = await verifyCode(browser, code);
    expect(verified.status).toBe(200);
    expect(verified.body).toEqual({ status: 'verified' });
    const kept = await sessionData(browser.sessionId);
    expect(kept?.passwordReset).toEqual({ token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/) });
    expect(verified.text).not.toContain((kept!.passwordReset as { token: string }).token.split('.')[1]);

    const again = await verifyCode(browser, code);
    expect(again.status).toBe(400);
    expect(again.text).toBe(RESET_REFUSED);
  });

  it('R-G3: a wrong code changes nothing, the old password still works; the refusal is the same for a wrong code, an unknown account, a lock and no reset at all', async () => {
    const { browser, code } = await startedReset(ana().username, ana().phone);
    // A request alone changes nothing: the old password still leads to the code step.
    expect((await passwordStep(new Browser(), ana().username, ana().password)).headers.location).toBe('/login/code');

    const wrongCode = await verifyCode(browser, wrong(code));
    const stranger = new Browser();
    await requestReset(stranger, 'nobody-here');
    const unknownAccount = await verifyCode(stranger, code);
    const noReset = await verifyCode(new Browser(), code);
    for (const refusal of [wrongCode, unknownAccount, noReset]) {
      expect(refusal.status).toBe(400);
      expect(refusal.text).toBe(RESET_REFUSED);
      expect(refusal.text).not.toContain('attempt');
      expect(headerNames(refusal)).toEqual(headerNames(wrongCode));
      expect(stableHeaders(refusal)).toEqual(stableHeaders(wrongCode));
    }
    expect((await setPassword(browser, NEW_PASSWORD)).status).toBe(401);
    expect((await passwordStep(new Browser(), ana().username, ana().password)).headers.location).toBe('/login/code');
    expect((await passwordStep(new Browser(), ana().username, NEW_PASSWORD)).status).toBe(401);

    // Wrong codes until the challenge locks: still the same answer, and then the right code too.
    for (let attempt = 0; attempt < 5; attempt++) expect((await verifyCode(browser, wrong(code))).text).toBe(RESET_REFUSED);
    const locked = await verifyCode(browser, code);
    expect(locked.status).toBe(400);
    expect(locked.text).toBe(RESET_REFUSED);
    expect((await passwordStep(new Browser(), ana().username, ana().password)).headers.location).toBe('/login/code');
  });

  it('R-G4: after the reset the token is dead, the other reset challenge and the other sessions of the account are ended', async () => {
    const elsewhere = await signIn(ana().username, ana().password, ana().phone);
    const other = await startedReset('+34 612 345 678', ana().phone);
    const { browser, code } = await startedReset(ana().username, ana().phone);
    expect((await verifyCode(browser, code)).status).toBe(200);
    const oldCookie = browser.cookie;
    const oldSession = await sessionData(browser.sessionId);

    const reset = await setPassword(browser, NEW_PASSWORD);
    expect(reset.status, reset.text).toBe(200);
    expect(reset.body).toEqual({ status: 'reset', next: '/login' });
    expect(browser.cookie).not.toBe(oldCookie); // regenerated
    expect(await sessionData(browser.sessionId)).not.toHaveProperty('passwordReset');

    // The other session's reset code was right, and no longer works.
    const cancelled = await verifyCode(other.browser, other.code);
    expect(cancelled.status).toBe(400);
    expect(cancelled.text).toBe(RESET_REFUSED);
    // The session signed in before the reset is over.
    expect(await signedIn(elsewhere)).toBe(false);

    // The token itself is spent: put the old session back as it was and replay.
    await new Promise<void>((resolve, reject) => demo.sessions.set(sessionIdOf(oldCookie), oldSession as never, (error) => (error ? reject(error) : resolve())));
    const replayer = new Browser();
    replayer.cookie = oldCookie;
    const replay = await setPassword(replayer, 'another-password-9');
    expect(replay.status).toBe(401);
    expect(replay.headers['www-authenticate']).toContain('error="insufficient_user_authentication"');
    expect(replay.body.error).toMatchObject({ code: 'step_up_required', purpose: 'password-reset', reason: 'replayed' });
    expect((await passwordStep(new Browser(), ana().username, 'another-password-9')).status).toBe(401);
    expect((await passwordStep(new Browser(), ana().username, NEW_PASSWORD)).headers.location).toBe('/login/code');
  });

  it('R-G4: a reset token opens neither the payment route nor the sign-in', async () => {
    // A signed-in user with a pending payment resets the password in the same session: the token the route issued…
    const browser = await signIn(luis().username, luis().password, luis().phone);
    const created = await browser.post('/pay', { amount: '12.00', currency: 'EUR', payee: 'ACME' }, 'form');
    const paymentPath = created.headers.location as string;
    expect(paymentPath).toMatch(/^\/payments\/[\w-]+$/);
    const { code } = await startedReset(luis().username, luis().phone, browser);
    expect((await verifyCode(browser, code)).status).toBe(200);
    const token = ((await sessionData(browser.sessionId))!.passwordReset as { token: string }).token;
    // …sent where a payment token goes, for this user and this session:
    const confirm = await request(server).post(`${paymentPath}/confirm`).set('Cookie', browser.cookie).set('Step-Up-Token', token).send({});
    expect(confirm.status).toBe(401);
    expect(confirm.body.error).toMatchObject({ code: 'step_up_required', purpose: 'payment', reason: 'wrong_purpose' });
    expect((await browser.get(paymentPath)).text).not.toContain('Payment sent');

    // A reset challenge's code posted to the sign-in's second step of the same user and session signs nobody in.
    const pending = new Browser();
    expect((await passwordStep(pending, luis().username, luis().password)).headers.location).toBe('/login/code');
    const reset = await startedReset(luis().username, luis().phone, pending);
    const attempt = await pending.post('/login/code', { challengeId: reset.challengeId, code: reset.code }, 'form');
    expect(attempt.status).toBe(404);
    expect(await signedIn(pending)).toBe(false);
  });

  it('R-G5: after the reset nobody is signed in; signing in needs the new password and a code, the old password fails', async () => {
    const { browser, code } = await startedReset(ana().username, ana().phone);
    expect((await verifyCode(browser, code)).status).toBe(200);
    expect(await signedIn(browser)).toBe(false);
    expect((await setPassword(browser, NEW_PASSWORD)).status).toBe(200);
    expect(await signedIn(browser)).toBe(false);
    expect((await browser.get('/login/code')).headers.location).toBe('/login');

    expect((await passwordStep(new Browser(), ana().username, ana().password)).status).toBe(401);
    const next = new Browser();
    expect((await passwordStep(next, ana().username, NEW_PASSWORD)).headers.location).toBe('/login/code');
    expect(await signedIn(next)).toBe(false); // the password alone is not enough
    await signIn(ana().username, NEW_PASSWORD, ana().phone, next);
    const account = await next.get('/account');
    expect(account.status).toBe(200);
    expect(/id="amr">([^<]+)</.exec(account.text)?.[1]?.split(', ')).toEqual(expect.arrayContaining(['otp', 'pwd', 'mfa']));
  });

  it('keeps the new password unchanged when it is refused as too short, and the token for the next try', async () => {
    const { browser, code } = await startedReset(ana().username, ana().phone);
    expect((await verifyCode(browser, code)).status).toBe(200);
    const short = await setPassword(browser, 'short');
    expect(short.status).toBe(400);
    expect(short.body.error.code).toBe('invalid_password');
    expect((await setPassword(browser, NEW_PASSWORD)).status).toBe(200);
  });
});
