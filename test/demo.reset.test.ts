/**
 * The Express demo's password reset (issue #4) over HTTP, on the demo's MemoryStore and on
 * a RedisStore: the same answer for every account (R-G1), a code that works once (R-G2),
 * nothing changed before a valid code (R-G3), a token that only sets the new password and
 * dies with it, other reset challenges and sessions of the account ended (R-G4), and no
 * sign-in without the new password AND a code (R-G5), reset sends throttled per account,
 * number and IP and refused by the beforeSend hook without a change of answer (R-G6), and a
 * verify that never waits for the request's send. Timing is measured, not tested: `npm run bench:reset`.
 */
import type { Server } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import request, { type Response } from 'supertest';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { MemoryStore, type Channel, type ChallengeStore, type OutboxChannel, type OutboxMessage } from '../src/index.js';
import type { BeforeSendContext } from '../src/core/types.js';
import type { DemoApp, DemoAppOptions } from '../examples/express/app.js';
import { RESET_ACCEPTED, RESET_REFUSED } from '../examples/express/password-reset.js';
import { redisFixture, type RedisFixture } from './core.fixtures.js';
import { closeServer } from './support/http-harness.js';
import { demoClient, sessionIdOf, startDemo, type DemoBrowser } from './support/demo-client.js';
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
    ({ demo, server } = await startDemo({ store, limits: NO_LIMITS }));
  });
  afterEach(() => closeServer(server));

  const ana = () => demo.users[0]!;
  const luis = () => demo.users[1]!;

  const { Browser, sessionData, sentCode, passwordStep, signIn, signedIn } = demoClient(() => ({ server, demo }));
  type Browser = DemoBrowser;

  const requestReset = (browser: Browser, account: unknown) => browser.post('/password-reset/request', { account });
  const verifyCode = (browser: Browser, code: string) => browser.post('/password-reset/verify', { code });
  const setPassword = (browser: Browser, password: string) => browser.post('/password-reset/new', { password });

  async function startedReset(account: string, phone: string, browser = new Browser()): Promise<OutboxMessage & { browser: Browser }> {
    const since = demo.outbox.messages().length;
    expect((await requestReset(browser, account)).status).toBe(202);
    const message = await sentCode(phone, 'password-reset', since);
    // The message shows in the outbox before its start has recorded the challenge; a person
    // could not type it that fast, and a code typed earlier is refused (see the test below).
    await demo.resetsSettled();
    return { browser, ...message };
  }

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
    // A known account last: once its code is out and its start settled, the background work of every request has run.
    const known = await startedReset(ana().username, ana().phone);
    expect(demo.outbox.messages().slice(since).map((message) => message.challengeId)).toEqual([known.challengeId]);
    if (redis) {
      const added = (await redis.keys()).filter((key) => !keysBefore.has(key));
      // The known account's challenge, its failure record (under the same tag) and the record of its message; nothing else.
      expect(added.length).toBeGreaterThan(0);
      const tag = `{${known.challengeId.slice(0, 4)}}`;
      expect(added.filter((key) => !key.includes(known.challengeId) && !key.includes(known.id) && !key.includes(tag))).toEqual([]);
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

/**
 * R-G6: the library's send limits and its `beforeSend` hook (where a CAPTCHA check goes)
 * apply to the reset's background start. A refused send must not show: the answer stays the
 * same 202 bytes, only fewer codes go out.
 */
describe('password reset throttling in the Express demo (R-G6)', () => {
  const OFF = NO_LIMITS;
  const TWO_AN_HOUR = { max: 2, window: '1h' } as const;
  let demo: DemoApp;
  let server: Server;
  let logged: MockInstance<typeof console.error>;

  async function start(options: Pick<DemoAppOptions, 'limits' | 'beforeSend'>): Promise<void> {
    ({ demo, server } = await startDemo({ store: new MemoryStore(), ...options }));
  }
  beforeEach(() => {
    // The demo tells the operator why a reset sent nothing: console.error, which the tests read.
    logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
  });
  afterEach(async () => {
    logged.mockRestore();
    await closeServer(server);
  });

  const { Browser } = demoClient(() => ({ server, demo }));
  const stable = (res: Response) => ({ status: res.status, body: res.text, headers: Object.fromEntries(Object.entries(res.headers).filter(([name]) => name !== 'date' && name !== 'set-cookie')) });
  /** Waits until the background starts of `count` requests were refused with `code`. */
  const refusals = (code: string, count: number) =>
    expect.poll(() => logged.mock.calls.filter((call) => String(call[0]).startsWith('[demo] password reset: no code sent') && call[1] === code).length, { timeout: 5000, interval: 5 }).toBe(count);
  const codesTo = (phone: string) => demo.outbox.messages().filter((message) => message.to === phone && message.purpose === 'password-reset');

  it.each([
    // A reset is anonymous: its sends spend the budgets of `limits.anonymous`.
    { what: 'account', limits: { ...OFF, anonymous: { ...OFF.anonymous, subject: TWO_AN_HOUR } }, accounts: ['ana', '+34 612 345 678', 'ana', '+34612345678'], sent: { ana: 2, luis: 0 } },
    { what: 'number', limits: { ...OFF, anonymous: { ...OFF.anonymous, phone: TWO_AN_HOUR } }, accounts: ['+34 612 345 678', 'ana', 'ana', '+34 612 345 678'], sent: { ana: 2, luis: 0 } },
    // The starts run at random moments after their answers: which two of the four get through is not known, only that two do.
    { what: 'IP', limits: { ...OFF, anonymous: { ...OFF.anonymous, ip: TWO_AN_HOUR } }, accounts: ['ana', 'luis', 'ana', 'luis'], sent: { both: 2 } },
  ])('R-G6 reset sends are throttled per $what, and the answer does not change', async ({ limits, accounts, sent }) => {
    await start({ limits });
    const answers = [];
    // One browser each: a new session per request, as a script that drops its cookies would do.
    for (const account of accounts) answers.push(await new Browser().post('/password-reset/request', { account }));
    for (const answer of answers) {
      expect(answer.text).toBe(RESET_ACCEPTED);
      expect(stable(answer)).toEqual(stable(answers[0]!));
    }
    expect(answers[0]!.status).toBe(202);
    await refusals('rate_limited', 2);
    const [ana, luis] = [codesTo(demo.users[0]!.phone).length, codesTo(demo.users[1]!.phone).length];
    if ('both' in sent) expect(ana + luis).toBe(sent.both);
    else expect({ ana, luis }).toEqual(sent);
  });

  it('R-G6 a beforeSend refusal (the CAPTCHA hook) sends nothing and answers the same', async () => {
    const asked: BeforeSendContext[] = [];
    // An app's CAPTCHA check would look its answer up here; this one refuses every reset send.
    await start({
      limits: NO_LIMITS,
      beforeSend: (context) => {
        asked.push(context);
        return context.purpose !== 'password-reset';
      },
    });
    const refused = await new Browser().post('/password-reset/request', { account: 'ana' });
    const unknown = await new Browser().post('/password-reset/request', { account: 'nobody-here' });
    await refusals('invalid_request', 1);
    expect(stable(refused)).toEqual(stable(unknown));
    expect(refused.status).toBe(202);
    expect(demo.outbox.messages()).toEqual([]);
    // Told what a CAPTCHA or risk check needs, never the full number.
    expect(asked).toEqual([expect.objectContaining({ subject: demo.users[0]!.id, purpose: 'password-reset', ip: expect.any(String), to: expect.not.stringContaining('12345678') })]);
  });
});

/**
 * R-G1, R-K3: the reset verify answer does not wait for the send. A known account's request
 * starts a send that takes as long as the provider does; an unknown account's starts none. A
 * verify right after the request must answer at once, the same for both: waiting for the send
 * would tell the account exists (by the provider's latency).
 */
describe('password reset verify in the Express demo with a slow provider', () => {
  const SEND_MS = 300;
  let demo: DemoApp;
  let server: Server;
  /** Sends that finished: the provider has taken the message. */
  let sends = 0;

  beforeEach(async () => {
    sends = 0;
    // A provider that takes SEND_MS to accept each message, then shows it in the outbox.
    const slow = (outbox: OutboxChannel): Channel => ({
      name: 'slow-outbox',
      transport: 'whatsapp',
      send: async (message, signal) => {
        await delay(SEND_MS, undefined, { signal });
        const receipt = await outbox.send(message);
        sends++;
        return receipt;
      },
    });
    ({ demo, server } = await startDemo({ store: new MemoryStore(), limits: NO_LIMITS, channels: (outbox) => [slow(outbox)] }));
  });
  afterEach(async () => {
    await demo.resetsSettled();
    await closeServer(server);
  });

  const { Browser } = demoClient(() => ({ server, demo }));

  it('reset verify answer does not wait for the send: a known account answers before its send finished, as an unknown one, and the early code costs nothing', async () => {
    const known = new Browser();
    expect((await known.post('/password-reset/request', { account: demo.users[0]!.username })).status).toBe(202);
    const early = await known.post('/password-reset/verify', { code: '000000' });
    // Answered while the provider still had the message: the answer did not wait for it.
    expect(sends).toBe(0);
    expect(early.status).toBe(400);
    expect(early.text).toBe(RESET_REFUSED);

    const unknown = new Browser();
    await unknown.post('/password-reset/request', { account: 'nobody-here' });
    const stranger = await unknown.post('/password-reset/verify', { code: '000000' });
    expect({ status: stranger.status, body: stranger.text }).toEqual({ status: early.status, body: early.text });

    // Once the code is out, the right code works: the early attempt cost the challenge nothing.
    await demo.resetsSettled();
    expect(sends).toBe(1);
    const code = demo.outbox.messages().find((message) => message.purpose === 'password-reset')!.code;
    const verified = await known.post('/password-reset/verify', { code });
    expect(verified.status, verified.text).toBe(200);
  });
});
