/**
 * The HTTP scenario suite of DESIGN §4-§6, written only as HTTP requests (supertest) to
 * a test app that a factory builds: http.express.test.ts and http.koa.test.ts run it, each
 * with an app built the same way on its adapter, so a scenario added here runs on both.
 * The routes it relies on are listed in `support/http-harness.ts`.
 *
 * Invariants: every row of the §4 error table answers its status and code in the shape
 * `{ error: { code, message, ... } }`; the guard refuses with 401 and an RFC 9470
 * challenge, never 403; a code and a one-time token succeed exactly once, also under
 * concurrency; no body ever carries a code, a full number, an internal message or a stack.
 */
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ACR_SMS,
  ACR_WHATSAPP,
  EXPLODING_USER,
  INTERNAL_MESSAGE,
  USERS,
  type HarnessFactory,
  type HarnessOptions,
  type HttpHarness,
  type StoreKind,
} from './support/http-harness.js';
import {
  createClient,
  decodeClaims,
  expectError,
  expectRefusal,
  forgeToken,
  randomChallengeId,
  unsignedToken,
  type Client,
} from './support/http-client.js';
import { startRedis } from './support/redis.js';

function without(claims: object, name: string): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...claims };
  delete copy[name];
  return copy;
}

const PAYMENT = { id: 'pay_1', amount: 125.5, currency: 'EUR', payee: 'ES9121000418450200051332' };
const LOGIN_START = { purpose: 'login' };
const PAYMENT_START = { purpose: 'payment', transaction: PAYMENT };
const VIEW_KEYS = ['attemptsLeft', 'challengeId', 'channel', 'channels', 'expiresAt', 'purpose', 'resendAfter', 'sendsLeft', 'to'];

export interface ScenarioOptions {
  /** Stores to run the suite on; the first one also runs the single-store scenarios. Default redis, then memory. */
  stores?: StoreKind[];
}

export function defineHttpScenarios(adapter: string, factory: HarnessFactory, options: ScenarioOptions = {}): void {
  const stores = options.stores ?? ['redis', 'memory'];
  for (const storeKind of stores) {
    describe(`${adapter} HTTP scenarios on the ${storeKind} store`, () => {
      const ctx = eachHarness(factory, { store: storeKind });
      defineChallengeScenarios(ctx);
      defineGuardScenarios(ctx);
      definePaymentScenarios(ctx);
    });
  }
  defineFailureScenarios(adapter, factory, stores[0]!);
  defineCrossSiteFormScenarios(adapter, factory, stores[0]!);
}

type Context = () => { h: HttpHarness; api: Client };

/** A new app and client for each test of the enclosing describe; after it, no response may have leaked anything. */
function eachHarness(factory: HarnessFactory, options: HarnessOptions): Context {
  let h: HttpHarness;
  let api: Client;
  beforeEach(async () => {
    h = await factory(options);
    api = createClient(h);
  });
  afterEach(async () => {
    try {
      api.assertNothingLeaked();
    } finally {
      await h.close();
    }
  });
  return () => ({ h, api });
}

function defineChallengeScenarios(ctx: Context): void {
  describe('challenge routes: success shapes (DESIGN §4)', () => {
    it('POST /challenges answers 201 with a ChallengeView: masked number, no code, no-store', async () => {
      const { h, api } = ctx();
      const res = await api.start(LOGIN_START);
      expect(res.status, res.text).toBe(201);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(Object.keys(res.body).sort()).toEqual(VIEW_KEYS);
      expect(res.body).toMatchObject({ purpose: 'login', channel: 'whatsapp', sendsLeft: 2, attemptsLeft: 5 });
      expect(res.body.challengeId).toMatch(/^[A-Za-z0-9_-]{26}$/);
      expect(res.body.to).toMatch(/^\+34 •+78$/);
      expect(res.body.expiresAt).toBe(new Date(h.clock.now() + 300_000).toISOString());
      expect(res.body.resendAfter).toBe(new Date(h.clock.now() + 30_000).toISOString());
      const sent = h.outbox.latest(USERS.alice!.phone);
      expect(sent?.challengeId).toBe(res.body.challengeId);
      expect(res.text).not.toContain(sent!.code);
      expect(res.text).not.toContain('612345678');
    });

    it('POST /challenges/:id/resend answers 200 with a new code once the cooldown has passed', async () => {
      const { h, api } = ctx();
      const started = await api.start(LOGIN_START);
      const first = api.codeOf(started.body.challengeId);
      h.clock.advance(30_000);
      const res = await api.resend(started.body.challengeId);
      expect(res.status, res.text).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(Object.keys(res.body).sort()).toEqual(VIEW_KEYS);
      expect(res.body).toMatchObject({ challengeId: started.body.challengeId, channel: 'whatsapp', sendsLeft: 1, attemptsLeft: 5 });
      expect(res.body.resendAfter).toBe(new Date(h.clock.now() + 30_000).toISOString());
      expect(h.outbox.messages().filter((m) => m.challengeId === started.body.challengeId)).toHaveLength(2);
      const latest = api.codeOf(started.body.challengeId);
      expect(res.text).not.toContain(latest);
      const verified = await api.verify(started.body.challengeId, latest);
      expect(verified.status, `first ${first}, latest ${latest}: ${verified.text}`).toBe(200);
    });

    it('a resend can ask for the SMS channel; the token then says sms', async () => {
      const { h, api } = ctx();
      const started = await api.start(LOGIN_START);
      h.clock.advance(31_000);
      const res = await api.resend(started.body.challengeId, { channel: 'sms' });
      expect(res.status, res.text).toBe(200);
      expect(res.body.channel).toBe('sms');
      const sms = h.sms.latest(USERS.alice!.phone);
      expect(sms?.challengeId).toBe(started.body.challengeId);
      const verified = await api.verify(started.body.challengeId, sms!.code);
      expect(verified.status).toBe(200);
      const claims = decodeClaims(verified.body.token);
      expect(claims.acr).toBe(ACR_SMS);
      expect(claims.amr).toEqual(expect.arrayContaining(['sms', 'mca']));
      expect(claims.amr).not.toContain('otp');
    });

    it('R-B14 POST /challenges/:id/verify answers 200 { token, tokenType, expiresIn, purpose } with Cache-Control: no-store', async () => {
      const { api } = ctx();
      const started = await api.start(LOGIN_START);
      const res = await api.verify(started.body.challengeId, api.codeOf(started.body.challengeId));
      expect(res.status, res.text).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(Object.keys(res.body).sort()).toEqual(['expiresIn', 'purpose', 'token', 'tokenType']);
      expect(res.body).toMatchObject({ tokenType: 'step-up', expiresIn: 900, purpose: 'login' });
      const [header] = (res.body.token as string).split('.');
      expect(JSON.parse(Buffer.from(header!, 'base64url').toString())).toMatchObject({ alg: 'HS256', typ: 'stepup+jwt', kid: 'stepup-1' });
      const claims = decodeClaims(res.body.token);
      expect(claims).toMatchObject({ sub: 'alice', purpose: 'login', acr: ACR_WHATSAPP, cid: started.body.challengeId, chn: 'whatsapp' });
      expect(claims.amr).toEqual(expect.arrayContaining(['otp', 'mca']));
      expect(claims.amr).not.toContain('mfa');
    });
  });

  describe('bodies and paths: every adapter reads them alike', () => {
    const post = (api: Client, path = '/stepup/challenges') => api.http().post(path).set('X-Test-User', 'alice').set('X-Test-Session', 'sess-alice');

    it('a UTF-8 charset in any case, a trailing slash and an upper-case path are accepted', async () => {
      const { api } = ctx();
      const res = await api.send(post(api, '/stepup/Challenges/').set('Content-Type', 'application/json; charset=UTF-8').send(JSON.stringify(LOGIN_START)));
      expect(res.status, res.text).toBe(201);
    });

    it('another charset, a compressed body or a blank one → 400 invalid_request, and nothing is sent', async () => {
      const { h, api } = ctx();
      const body = JSON.stringify(LOGIN_START);
      const refused = [
        post(api).set('Content-Type', 'application/json; charset=latin1').send(body),
        post(api).set('Content-Type', 'application/json').set('Content-Encoding', 'gzip').send(gzipSync(body)),
        post(api).set('Content-Type', 'application/json').send('   '),
        post(api).set('Content-Type', 'application/json').send('"login"'),
      ];
      for (const test of refused) expectError(await api.send(test), 400, 'invalid_request');
      expect(h.outbox.messages()).toHaveLength(0);
    });

    it('a chunked body (no Content-Length) over the limit → 413 request_too_large', async () => {
      const { h, api } = ctx();
      const test = post(api).set('Content-Type', 'application/json');
      for (let i = 0; i < 16; i++) test.write(i === 0 ? '{"purpose":"login","locale":"' : 'x'.repeat(1024));
      const res = await api.send(test);
      // Sent as chunks: the router cannot refuse it up front by its length.
      expect((res as unknown as { req: import('node:http').ClientRequest }).req.getHeader('content-length')).toBeUndefined();
      expectError(res, 413, 'request_too_large');
      expect(h.outbox.messages()).toHaveLength(0);
    });

    it('a resend without a body is a resend without options; a start without one is invalid', async () => {
      const { h, api } = ctx();
      const started = await api.start(LOGIN_START);
      h.clock.advance(30_000);
      const resent = await api.send(post(api, `/stepup/challenges/${started.body.challengeId}/resend`));
      expect(resent.status, resent.text).toBe(200);
      expectError(await api.send(post(api)), 400, 'invalid_request');
    });

    it("other methods and paths are not the router's: they reach the app (404)", async () => {
      const { h, api } = ctx();
      for (const test of [api.http().get('/stepup/challenges'), post(api, '/stepupx/challenges').send(LOGIN_START), post(api, '/stepup/challenges/x/confirm').send({})]) {
        const res = await api.send(test.set('X-Test-User', 'alice'));
        expect(res.status).toBe(404);
        expect(res.body?.error?.code).toBeUndefined();
      }
      expect(h.outbox.messages()).toHaveLength(0);
    });
  });

  describe('invalid_request 400 (DESIGN §4)', () => {
    // `sends`: messages the case's own setup sent (a challenge to act on).
    const cases: { name: string; sends?: number; send: (api: Client) => Promise<import('supertest').Response> }[] = [
      {
        name: 'malformed JSON on start',
        send: (api) => api.send(api.http().post('/stepup/challenges').set('X-Test-User', 'alice').set('Content-Type', 'application/json').send('{"purpose":')),
      },
      {
        name: 'malformed JSON on verify',
        send: (api) =>
          api.send(api.http().post(`/stepup/challenges/${randomChallengeId()}/verify`).set('X-Test-User', 'alice').set('Content-Type', 'application/json').send('{code: 1}')),
      },
      { name: 'a JSON array as body', send: (api) => api.start([LOGIN_START]) },
      { name: 'purpose of the wrong type', send: (api) => api.start({ purpose: 5 }) },
      { name: 'channel of the wrong type', send: (api) => api.start({ purpose: 'login', channel: ['sms'] }) },
      { name: 'locale of the wrong type', send: (api) => api.start({ purpose: 'login', locale: 12 }) },
      { name: 'code of the wrong type', sends: 1, send: async (api) => api.verify((await api.start(LOGIN_START)).body.challengeId, 123456) },
      { name: 'resend channel of the wrong type', sends: 1, send: async (api) => api.resend((await api.start(LOGIN_START)).body.challengeId, { channel: 2 }) },
      { name: 'an unknown purpose', send: (api) => api.start({ purpose: 'wire-everything' }) },
      { name: 'a missing purpose', send: (api) => api.start({}) },
      { name: 'an unknown channel', send: (api) => api.start({ purpose: 'login', channel: 'carrier-pigeon' }) },
      { name: 'an unknown body field (a phone number from the client)', send: (api) => api.start({ purpose: 'login', phone: '+34699999999' }) },
      { name: 'an unknown field on verify', sends: 1, send: async (api) => api.send(api.http().post(`/stepup/challenges/${(await api.start(LOGIN_START)).body.challengeId}/verify`).set('X-Test-User', 'alice').set('X-Test-Session', 'sess-alice').send({ code: '123456', subject: 'bob' })) },
      { name: 'an unknown field on resend', sends: 1, send: async (api) => api.resend((await api.start(LOGIN_START)).body.challengeId, { to: '+34699999999' }) },
      { name: 'a payment without its transaction', send: (api) => api.start({ purpose: 'payment' }) },
      { name: 'a transaction that is not an object', send: (api) => api.start({ purpose: 'payment', transaction: 'all of it' }) },
      { name: 'a bad phone number on file', send: (api) => api.start(LOGIN_START, { user: 'bad-phone' }) },
    ];
    for (const { name, sends = 0, send } of cases) {
      it(`${name} → 400 invalid_request`, async () => {
        const { h, api } = ctx();
        const res = await send(api);
        expectError(res, 400, 'invalid_request');
        // The refused request itself sent nothing.
        expect(h.outbox.messages()).toHaveLength(sends);
        expect(h.sms.messages()).toHaveLength(0);
      });
    }
  });

  describe('invalid_code, challenge_not_found, challenge_expired, too_many_attempts', () => {
    it('a wrong code → 400 invalid_code with attemptsLeft; R-C8 a non-digit code counts as an attempt too', async () => {
      const { api } = ctx();
      const { body } = await api.start(LOGIN_START);
      const code = api.codeOf(body.challengeId);
      const wrong = code === '000000' ? '111111' : '000000';
      const first = await api.verify(body.challengeId, wrong);
      expect(expectError(first, 400, 'invalid_code').attemptsLeft).toBe(4);
      const second = await api.verify(body.challengeId, '12a456');
      expect(expectError(second, 400, 'invalid_code').attemptsLeft).toBe(3);
      expect(second.body.error.message).toBe(first.body.error.message);
      const third = await api.verify(body.challengeId, `${code}0`);
      expect(expectError(third, 400, 'invalid_code').attemptsLeft).toBe(2);
      expect((await api.verify(body.challengeId, ` ${code} `)).status).toBe(200);
    });

    it('an unknown or malformed challenge id → 404 challenge_not_found', async () => {
      const { api } = ctx();
      expectError(await api.verify(randomChallengeId(), '123456'), 404, 'challenge_not_found');
      expectError(await api.resend(randomChallengeId()), 404, 'challenge_not_found');
      expectError(await api.verify('not-an-id', '123456'), 404, 'challenge_not_found');
      expectError(await api.verify('x'.repeat(300), '123456'), 404, 'challenge_not_found');
    });

    it('a challenge id that is not valid percent-encoding → 404 challenge_not_found, not a 500', async () => {
      const { h, api } = ctx();
      for (const path of ['/stepup/challenges/%ZZ/verify', '/stepup/challenges/%E0%A4%A/resend']) {
        const res = await api.send(api.http().post(path).set('X-Test-User', 'alice').set('X-Test-Session', 'sess-alice').send({ code: '123456' }));
        expectError(res, 404, 'challenge_not_found');
      }
      expect(h.errors).toHaveLength(0);
    });

    it("another user's challenge → 404 challenge_not_found, and the owner's attempts are untouched", async () => {
      const { h, api } = ctx();
      const { body } = await api.start(LOGIN_START);
      const code = api.codeOf(body.challengeId);
      const bob = { user: 'bob', session: 'sess-alice' };
      expectError(await api.verify(body.challengeId, code, bob), 404, 'challenge_not_found');
      h.clock.advance(31_000);
      expectError(await api.resend(body.challengeId, {}, bob), 404, 'challenge_not_found');
      const wrong = code === '000000' ? '111111' : '000000';
      expect(expectError(await api.verify(body.challengeId, wrong), 400, 'invalid_code').attemptsLeft).toBe(4);
      expect((await api.verify(body.challengeId, code)).status).toBe(200);
    });

    it("another session's challenge → 404 challenge_not_found (also without a session)", async () => {
      const { h, api } = ctx();
      const { body } = await api.start(LOGIN_START);
      const code = api.codeOf(body.challengeId);
      expectError(await api.verify(body.challengeId, code, { user: 'alice', session: 'sess-stolen' }), 404, 'challenge_not_found');
      expectError(await api.verify(body.challengeId, code, { user: 'alice', session: null }), 404, 'challenge_not_found');
      h.clock.advance(31_000);
      expectError(await api.resend(body.challengeId, {}, { user: 'alice', session: 'sess-stolen' }), 404, 'challenge_not_found');
      expect((await api.verify(body.challengeId, code)).status).toBe(200);
    });

    it('a consumed challenge issues no other token (R-C3 single use): a retry of its code whose answer was lost → 200 with the same token; another code, user or session → 404', async () => {
      const { api } = ctx();
      const { body } = await api.start(LOGIN_START);
      const code = api.codeOf(body.challengeId);
      const first = await api.verify(body.challengeId, code);
      expect(first.status).toBe(200);
      const retry = await api.verify(body.challengeId, code);
      expect(retry.status).toBe(200);
      expect(retry.body).toEqual(first.body);
      expect(retry.headers['cache-control']).toBe('no-store');
      expectError(await api.verify(body.challengeId, code === '000000' ? '111111' : '000000'), 404, 'challenge_not_found');
      expectError(await api.verify(body.challengeId, code, { user: 'bob' }), 404, 'challenge_not_found');
      expectError(await api.verify(body.challengeId, code, { session: 'sess-elsewhere' }), 404, 'challenge_not_found');
    });

    it('past its ttl → 410 challenge_expired, on verify and resend; a second before, the code works', async () => {
      const { h, api } = ctx();
      const early = await api.start(LOGIN_START);
      const late = await api.start(LOGIN_START);
      h.clock.advance(299_000);
      expect((await api.verify(early.body.challengeId, api.codeOf(early.body.challengeId))).status).toBe(200);
      h.clock.advance(1_000);
      expectError(await api.verify(late.body.challengeId, api.codeOf(late.body.challengeId)), 410, 'challenge_expired');
      expectError(await api.resend(late.body.challengeId), 410, 'challenge_expired');
    });

    it('after maxAttempts wrong codes → 429 too_many_attempts, then even the right code is refused', async () => {
      const { h, api } = ctx();
      const { body } = await api.start(LOGIN_START);
      const code = api.codeOf(body.challengeId);
      const wrong = code === '000000' ? '111111' : '000000';
      for (const left of [4, 3, 2, 1]) {
        expect(expectError(await api.verify(body.challengeId, wrong), 400, 'invalid_code').attemptsLeft).toBe(left);
      }
      const locked = expectError(await api.verify(body.challengeId, wrong), 429, 'too_many_attempts');
      expect(locked.attemptsLeft).toBeUndefined();
      expectError(await api.verify(body.challengeId, code), 429, 'too_many_attempts');
      h.clock.advance(31_000);
      expectError(await api.resend(body.challengeId), 429, 'too_many_attempts');
      expect(h.outbox.messages()).toHaveLength(1);
    });
  });

  describe('rate_limited, request_too_large, unauthenticated, internal_error', () => {
    it('a resend within the cooldown → 429 rate_limited with Retry-After and retryAfter', async () => {
      const { h, api } = ctx();
      const { body } = await api.start(LOGIN_START);
      const now = await api.resend(body.challengeId);
      expect(expectError(now, 429, 'rate_limited').retryAfter).toBe(30);
      expect(now.headers['retry-after']).toBe('30');
      h.clock.advance(10_000);
      const later = await api.resend(body.challengeId);
      expect(expectError(later, 429, 'rate_limited').retryAfter).toBe(20);
      expect(later.headers['retry-after']).toBe('20');
      expect(h.outbox.messages()).toHaveLength(1);
    });

    it('after the last allowed send → 429 rate_limited with Retry-After', async () => {
      const { h, api } = ctx();
      const { body } = await api.start(LOGIN_START);
      for (const sendsLeft of [1, 0]) {
        h.clock.advance(30_000);
        const res = await api.resend(body.challengeId);
        expect(res.status, res.text).toBe(200);
        expect(res.body.sendsLeft).toBe(sendsLeft);
      }
      h.clock.advance(30_000);
      const res = await api.resend(body.challengeId);
      const error = expectError(res, 429, 'rate_limited');
      expect(error.retryAfter).toEqual(expect.any(Number));
      expect(res.headers['retry-after']).toBe(String(error.retryAfter));
      expect(h.outbox.messages()).toHaveLength(3);
    });

    it('R-C8 a 1 MB body → 413 request_too_large, fast, and nothing is sent', async () => {
      const { h, api } = ctx();
      const huge = JSON.stringify({ purpose: 'login', locale: 'x'.repeat(1024 * 1024) });
      const started = Date.now();
      const res = await api.send(api.http().post('/stepup/challenges').set('X-Test-User', 'alice').set('Content-Type', 'application/json').send(huge));
      expectError(res, 413, 'request_too_large');
      expect(Date.now() - started).toBeLessThan(2_000);
      const onVerify = await api.send(
        api.http().post(`/stepup/challenges/${randomChallengeId()}/verify`).set('X-Test-User', 'alice').set('Content-Type', 'application/json').send(JSON.stringify({ code: '1'.repeat(1024 * 1024) })),
      );
      expectError(onVerify, 413, 'request_too_large');
      expect(h.outbox.messages()).toHaveLength(0);
    });

    it('no user on the request → 401 unauthenticated on start, resend and verify', async () => {
      const { h, api } = ctx();
      const { body } = await api.start(LOGIN_START);
      expectError(await api.start(LOGIN_START, { user: null }), 401, 'unauthenticated');
      expectError(await api.start(LOGIN_START, { user: 'mallory' }), 401, 'unauthenticated');
      h.clock.advance(31_000);
      expectError(await api.resend(body.challengeId, {}, { user: null, session: 'sess-alice' }), 401, 'unauthenticated');
      expectError(await api.verify(body.challengeId, api.codeOf(body.challengeId), { user: null, session: 'sess-alice' }), 401, 'unauthenticated');
      expect(h.outbox.messages()).toHaveLength(1);
    });

    it('an unexpected error → 500 internal_error with a generic message; the error goes to onError only', async () => {
      const { h, api } = ctx();
      const res = await api.start(LOGIN_START, { user: EXPLODING_USER });
      expectError(res, 500, 'internal_error');
      expect(res.body).toEqual({ error: { code: 'internal_error', message: 'Something went wrong.' } });
      expect(res.text).not.toContain(INTERNAL_MESSAGE);
      expect(h.errors).toHaveLength(1);
      expect((h.errors[0] as Error).message).toBe(INTERNAL_MESSAGE);
    });

    it('an unexpected error in a guard → 500 internal_error, never a pass', async () => {
      const { h, api } = ctx();
      const { token } = await api.stepUp(LOGIN_START);
      const res = await api.get('/account/profile', token, { user: EXPLODING_USER, session: 'sess-alice' });
      expect(res.body).toEqual({ error: { code: 'internal_error', message: 'Something went wrong.' } });
      expect(res.status).toBe(500);
      expect(h.errors).toHaveLength(1);
    });
  });
}

function defineGuardScenarios(ctx: Context): void {
  describe('the guard and RFC 9470 (SECURITY-REQUIREMENTS A)', () => {
    it('R-A1 no step-up token → 401 with WWW-Authenticate error="insufficient_user_authentication"', async () => {
      const { api } = ctx();
      const res = await api.get('/account/profile');
      const challenge = expectRefusal(res, { errorClass: 'insufficient_user_authentication', reason: 'missing' });
      expect(challenge.params.error_description).toEqual(expect.any(String));
      expect(res.body.error.purpose).toBe('login');
    });

    it('R-A2 a route with acrValues and maxAge states both; a route with only maxAge sends no acr_values', async () => {
      const { api } = ctx();
      const secure = await api.get('/account/secure');
      const both = expectRefusal(secure, { errorClass: 'insufficient_user_authentication', reason: 'missing' });
      expect(both.params.acr_values).toBe(ACR_WHATSAPP);
      expect(both.params.max_age).toBe('300');
      expect(secure.body).toMatchObject({ acr_values: ACR_WHATSAPP, max_age: 300 });
      const profile = await api.get('/account/profile');
      const onlyMaxAge = expectRefusal(profile, { errorClass: 'insufficient_user_authentication', reason: 'missing' });
      expect(onlyMaxAge.params.max_age).toBe('300');
      expect(onlyMaxAge.params).not.toHaveProperty('acr_values');
      expect(profile.body).not.toHaveProperty('acr_values');
      const reset = await api.post('/password-reset', {}, undefined, { user: null });
      const neither = expectRefusal(reset, { errorClass: 'insufficient_user_authentication', reason: 'missing' });
      expect(Object.keys(neither.params).sort()).toEqual(['error', 'error_description']);
    });

    describe('R-A3 failure classes stay distinct, never 403', () => {
      const invalid: { name: string; reason?: string; token: (h: HttpHarness, valid: string) => string; setup?: (h: HttpHarness) => void }[] = [
        { name: 'malformed', token: () => 'not-a-token' },
        { name: 'three garbage segments', token: () => 'eyJhbGciOi.eyJzdWIi.c2ln' },
        { name: 'signed with another secret', token: (h, valid) => forgeToken(h, decodeClaims(valid) as never, { secret: Buffer.alloc(32, 7) }) },
        {
          name: 'payload changed after signing',
          token: (_, valid) => {
            const [header, , signature] = valid.split('.');
            const claims = { ...decodeClaims(valid), sub: 'bob' };
            return `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
          },
        },
        { name: 'alg none', token: (_, valid) => unsignedToken(decodeClaims(valid) as never) },
        { name: 'typ JWT', token: (h, valid) => forgeToken(h, decodeClaims(valid) as never, { header: { typ: 'JWT' } }) },
        { name: 'typ at+jwt', token: (h, valid) => forgeToken(h, decodeClaims(valid) as never, { header: { typ: 'at+jwt' } }) },
        { name: 'no typ', token: (h, valid) => forgeToken(h, decodeClaims(valid) as never, { header: { typ: undefined } }) },
        { name: 'unknown kid', token: (h, valid) => forgeToken(h, decodeClaims(valid) as never, { header: { kid: 'attacker' } }) },
        { name: 'jku header pointing away', token: (h, valid) => forgeToken(h, decodeClaims(valid) as never, { header: { kid: 'attacker', jku: 'http://127.0.0.1:1/keys' } }) },
        { name: 'wrong issuer', token: (h, valid) => forgeToken(h, { ...decodeClaims(valid), iss: 'https://evil.test' }) },
        { name: 'wrong audience', token: (h, valid) => forgeToken(h, { ...decodeClaims(valid), aud: 'https://other.test' }) },
        { name: 'without auth_time', token: (h, valid) => forgeToken(h, without(decodeClaims(valid), 'auth_time')) },
        { name: 'without jti', token: (h, valid) => forgeToken(h, without(decodeClaims(valid), 'jti')) },
        { name: 'without exp', token: (h, valid) => forgeToken(h, without(decodeClaims(valid), 'exp')) },
        { name: 'expired', reason: 'expired', token: (_, valid) => valid, setup: (h) => h.clock.advance((900 + 31) * 1000) },
      ];
      for (const { name, reason = 'invalid', token, setup } of invalid) {
        it(`${name} → 401 error="invalid_token"`, async () => {
          const { h, api } = ctx();
          const { token: valid } = await api.stepUp(LOGIN_START);
          const presented = token(h, valid);
          setup?.(h);
          const res = await api.get('/account/profile', presented);
          const challenge = expectRefusal(res, { errorClass: 'invalid_token', reason });
          expect(challenge.params).not.toHaveProperty('max_age');
        });
      }

      it('too old, wrong purpose, other transaction, replayed, other user, other session, other method → insufficient_user_authentication', async () => {
        const { h, api } = ctx();
        const payment = await api.stepUp(PAYMENT_START);
        const login = await api.stepUp(LOGIN_START);
        const sms = await api.stepUp({ purpose: 'login', channel: 'sms' });
        const bobs = await api.stepUp(LOGIN_START, { user: 'bob' });
        const cases: [string, () => Promise<import('supertest').Response>][] = [
          ['wrong_purpose', () => api.get('/account/profile', payment.token)],
          ['transaction_mismatch', () => api.post('/payments', { ...PAYMENT, amount: 125.51 }, payment.token)],
          ['wrong_subject', () => api.get('/account/profile', bobs.token)],
          ['wrong_session', () => api.get('/account/profile', login.token, { user: 'alice', session: 'sess-other' })],
          ['wrong_method', () => api.get('/account/secure', sms.token)],
        ];
        for (const [reason, send] of cases) {
          const res = await send();
          const challenge = expectRefusal(res, { errorClass: 'insufficient_user_authentication', reason });
          expect(challenge.params.max_age).toBe('300');
        }
        expect((await api.post('/payments', PAYMENT, payment.token)).status).toBe(200);
        expectRefusal(await api.post('/payments', PAYMENT, payment.token), { errorClass: 'insufficient_user_authentication', reason: 'replayed' });
        h.clock.advance(301_000);
        expectRefusal(await api.get('/account/profile', login.token), { errorClass: 'insufficient_user_authentication', reason: 'too_old' });
      });
    });

    it('R-A4 a cookie app gets the StepUp scheme and a problem+json body that says nothing about the account', async () => {
      const { h, api } = ctx();
      const res = await api.get('/cookie/secure');
      expect(res.headers['www-authenticate']).toMatch(/^StepUp /);
      const challenge = expectRefusal(res, { errorClass: 'insufficient_user_authentication', reason: 'missing', scheme: 'StepUp' });
      expect(challenge.params.max_age).toBe('300');
      expect(res.body).toMatchObject({
        type: expect.any(String),
        title: expect.any(String),
        status: 401,
        detail: expect.any(String),
        max_age: 300,
        challenge_endpoint: '/stepup/challenges',
        error: { code: 'step_up_required', reason: 'missing', purpose: 'login', maxAge: 300 },
      });
      for (const secret of ['alice', '612345678', '•', '+34', 'sess-']) expect(res.text).not.toContain(secret);

      const { token } = await api.stepUp(LOGIN_START);
      const passed = await api.send(api.http().get('/cookie/secure').set('X-Test-User', 'alice').set('X-Test-Session', 'sess-alice').set('Cookie', `theme=dark; stepup=${token}`));
      expect(passed.status, passed.text).toBe(200);
      expect(passed.body.stepUp.sub).toBe('alice');
      // The cookie route reads the cookie only: the header is not its token source.
      const header = await api.get('/cookie/secure', token);
      expectRefusal(header, { errorClass: 'insufficient_user_authentication', reason: 'missing', scheme: 'StepUp' });
      expect(h.errors).toHaveLength(0);
    });

    it('R-A5 auth-param values with quotes or line breaks, and bad schemes, are refused when the guard is built', () => {
      const { h } = ctx();
      const base = { purpose: 'login', subject: () => 'alice' };
      expect(() => h.constructGuard({ ...base, acrValues: [ACR_WHATSAPP] })).not.toThrow();
      for (const acr of ['urn:x:"oob"', 'urn:x:oob\r\nSet-Cookie: a=b', 'urn:x:oob\n', 'urn:x:oob\\', 'two words', '']) {
        expect(() => h.constructGuard({ ...base, acrValues: [acr] }), JSON.stringify(acr)).toThrow(TypeError);
      }
      for (const scheme of ['Step Up', 'Bearer\r\nX-Injected: 1', 'Bearer"', '']) {
        expect(() => h.constructGuard({ ...base, scheme }), JSON.stringify(scheme)).toThrow(TypeError);
      }
      expect(() => h.constructGuard({ ...base, challengeEndpoint: '/stepup\r\n/x' })).toThrow(TypeError);
      expect(() => h.constructGuard({ ...base, denyAmr: ['sms"'] })).toThrow(TypeError);
    });

    it('R-A6 freshness: auth_time now−299 s passes, now−301 s with max_age 300 → too_old', async () => {
      const { h, api } = ctx();
      const { token, claims } = await api.stepUp(LOGIN_START);
      expect(claims.auth_time * 1000).toBe(h.clock.now());
      h.clock.advance(299_000);
      expect((await api.get('/account/profile', token)).status).toBe(200);
      h.clock.advance(1_000);
      expect((await api.get('/account/profile', token)).status).toBe(200);
      h.clock.advance(1_000);
      const res = await api.get('/account/profile', token);
      const challenge = expectRefusal(res, { errorClass: 'insufficient_user_authentication', reason: 'too_old' });
      expect(challenge.params.max_age).toBe('300');
      expect(res.body.error.maxAge).toBe(300);
    });

    it('R-A7 acr is matched by exact membership only', async () => {
      const { h, api } = ctx();
      const whatsapp = await api.stepUp(LOGIN_START);
      expect((await api.get('/account/secure', whatsapp.token)).status).toBe(200);
      const sms = await api.stepUp({ purpose: 'login', channel: 'sms' });
      expect(sms.claims.acr).toBe(ACR_SMS);
      expectRefusal(await api.get('/account/secure', sms.token), { errorClass: 'insufficient_user_authentication', reason: 'wrong_method' });
      // The route without acrValues takes either.
      expect((await api.get('/account/profile', sms.token)).status).toBe(200);
      for (const acr of [`${ACR_WHATSAPP}-plus`, ACR_WHATSAPP.toUpperCase(), `${ACR_WHATSAPP} `, 'urn:whatsapp-stepup:acr:oob', 'phrh']) {
        const forged = forgeToken(h, { ...whatsapp.claims, acr });
        expectRefusal(await api.get('/account/secure', forged), { errorClass: 'insufficient_user_authentication', reason: 'wrong_method' });
      }
    });

    it('R-A8 no issued token claims phishing resistance (acr is never phr or phrh)', async () => {
      const { api } = ctx();
      const starts = [
        LOGIN_START,
        { purpose: 'login', channel: 'sms' },
        PAYMENT_START,
        { ...PAYMENT_START, channel: 'sms' },
        { purpose: 'password-reset' },
        { purpose: 'password-reset', channel: 'sms' },
      ];
      const acrs = new Set<string>();
      for (const body of starts) {
        const { claims } = await api.stepUp(body);
        expect(['phr', 'phrh']).not.toContain(claims.acr);
        expect([ACR_WHATSAPP, ACR_SMS]).toContain(claims.acr);
        expect(claims.amr).toContain('mca');
        acrs.add(claims.acr);
      }
      expect(acrs).toEqual(new Set([ACR_WHATSAPP, ACR_SMS]));
    });

    it('R-A9 no loop: 401 → start → verify → the original request with the token → 200', async () => {
      const { api } = ctx();
      const refused = await api.get('/account/secure');
      const challenge = expectRefusal(refused, { errorClass: 'insufficient_user_authentication', reason: 'missing' });
      const { token } = await api.stepUp({ purpose: refused.body.error.purpose });
      const retried = await api.get('/account/secure', token);
      expect(retried.status, retried.text).toBe(200);
      expect(challenge.params.acr_values?.split(' ')).toContain(retried.body.stepUp.acr);

      const payment = await api.post('/payments', PAYMENT);
      expectRefusal(payment, { errorClass: 'insufficient_user_authentication', reason: 'missing' });
      const approved = await api.stepUp({ purpose: payment.body.error.purpose, transaction: PAYMENT });
      expect((await api.post('/payments', PAYMENT, approved.token)).status).toBe(200);
    });

    it('R-B14 a token in the query string is ignored → 401 missing', async () => {
      const { api } = ctx();
      const { token } = await api.stepUp(LOGIN_START);
      for (const name of ['stepup', 'token', 'step_up_token', 'access_token']) {
        const res = await api.get(`/account/profile?${name}=${encodeURIComponent(token)}`);
        expectRefusal(res, { errorClass: 'insufficient_user_authentication', reason: 'missing' });
      }
      expect((await api.get('/account/profile', token)).status).toBe(200);
    });

    it('password reset: a from-token route takes a reset token once, without a session, and no other purpose', async () => {
      const { api } = ctx();
      const reset = await api.stepUp({ purpose: 'password-reset' });
      const login = await api.stepUp(LOGIN_START);
      const anonymous = { user: null };
      expectRefusal(await api.post('/password-reset', {}, login.token, anonymous), { errorClass: 'insufficient_user_authentication', reason: 'wrong_purpose' });
      const res = await api.post('/password-reset', {}, reset.token, anonymous);
      expect(res.status, res.text).toBe(200);
      expect(res.body.stepUp).toMatchObject({ sub: 'alice', purpose: 'password-reset' });
      expectRefusal(await api.post('/password-reset', {}, reset.token, anonymous), { errorClass: 'insufficient_user_authentication', reason: 'replayed' });
      // R-B6: a reset token opens nothing else.
      const other = await api.stepUp({ purpose: 'password-reset' });
      expectRefusal(await api.get('/account/profile', other.token), { errorClass: 'insufficient_user_authentication', reason: 'wrong_purpose' });
      expectRefusal(await api.post('/payments', PAYMENT, other.token), { errorClass: 'insufficient_user_authentication', reason: 'wrong_purpose' });
    });
  });
}

function definePaymentScenarios(ctx: Context): void {
  describe('payment flow (transaction binding, one-time use)', () => {
    it('start with the transaction, verify, pay with the same transaction → 200 with req.stepUp', async () => {
      const { api } = ctx();
      const { token, claims, challengeId } = await api.stepUp(PAYMENT_START);
      expect(claims.txn).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(JSON.stringify(claims)).not.toContain(PAYMENT.payee);
      // Key order in the body does not matter: the hash is over the canonical form.
      const res = await api.post('/payments', { payee: PAYMENT.payee, currency: 'EUR', amount: 125.5, id: PAYMENT.id }, token);
      expect(res.status, res.text).toBe(200);
      expect(res.body).toEqual({ ok: true, stepUp: claims });
      expect(res.body.stepUp).toMatchObject({ sub: 'alice', purpose: 'payment', cid: challengeId, txn: claims.txn });
    });

    it('R-L1 the same token again → 401 replayed', async () => {
      const { api } = ctx();
      const { token } = await api.stepUp(PAYMENT_START);
      expect((await api.post('/payments', PAYMENT, token)).status).toBe(200);
      expectRefusal(await api.post('/payments', PAYMENT, token), { errorClass: 'insufficient_user_authentication', reason: 'replayed' });
    });

    it('R-B10 a changed amount → 401 transaction_mismatch, and the refused token is not burnt', async () => {
      const { api } = ctx();
      const { token } = await api.stepUp(PAYMENT_START);
      const changes = [
        { ...PAYMENT, amount: 125.51 },
        { ...PAYMENT, amount: '1255.00' },
        { ...PAYMENT, payee: 'ES9121000418450200051333' },
        { ...PAYMENT, currency: 'USD' },
        { ...PAYMENT, reference: 'INV-1' },
        { id: PAYMENT.id, amount: PAYMENT.amount, currency: 'EUR' },
        { ...PAYMENT, amount: 'not an amount' },
      ];
      for (const changed of changes) {
        expectRefusal(await api.post('/payments', changed, token), { errorClass: 'insufficient_user_authentication', reason: 'transaction_mismatch' });
      }
      // The same transaction written otherwise (its canonical form is the same) passes.
      expect((await api.post('/payments', { payee: PAYMENT.payee, currency: 'eur', amount: '125.500', id: PAYMENT.id }, token)).status).toBe(200);
    });

    // A payment token approves one record: its id is in the hash, so a token for pending payment
    // A cannot execute payment B of the same amount to the same payee; a payment has no record without it.
    it('R-F4 a token for payment A (10.00 EUR to Bob) on payment B (10 EUR to Bob) → 401 transaction_mismatch; a start without transaction.id → 400', async () => {
      const { api } = ctx();
      const paymentA = { id: 'pay_A', amount: '10.00', currency: 'EUR', payee: 'Bob' };
      const paymentB = { id: 'pay_B', amount: '10', currency: 'EUR', payee: 'Bob' };
      const { token } = await api.stepUp({ purpose: 'payment', transaction: paymentA });
      expectRefusal(await api.post('/payments', paymentB, token), { errorClass: 'insufficient_user_authentication', reason: 'transaction_mismatch' });
      expect((await api.post('/payments', paymentA, token)).status).toBe(200);
      for (const transaction of [{ amount: '10.00', currency: 'EUR', payee: 'Bob' }, { ...paymentA, id: '' }, { ...paymentA, id: 7 }]) {
        const error = expectError(await api.start({ purpose: 'payment', transaction }), 400, 'invalid_request');
        expect(error.message).toContain('transaction.id');
      }
    });

    it('R-F1 a verify request carrying a transaction is refused; the stored one is what counts', async () => {
      const { api } = ctx();
      const { body } = await api.start(PAYMENT_START);
      const code = api.codeOf(body.challengeId);
      const res = await api.post(`/stepup/challenges/${body.challengeId}/verify`, { code, transaction: { ...PAYMENT, amount: 1 } });
      expectError(res, 400, 'invalid_request');
      const verified = await api.verify(body.challengeId, code);
      expect(verified.status, verified.text).toBe(200);
      expectRefusal(await api.post('/payments', { ...PAYMENT, amount: 1 }, verified.body.token), { errorClass: 'insufficient_user_authentication', reason: 'transaction_mismatch' });
      expect((await api.post('/payments', PAYMENT, verified.body.token)).status).toBe(200);
    });

    it('R-F9 a payment token on the password-reset route → 401 wrong_purpose', async () => {
      const { api } = ctx();
      const { token } = await api.stepUp(PAYMENT_START);
      expectRefusal(await api.post('/password-reset', {}, token, { user: null }), { errorClass: 'insufficient_user_authentication', reason: 'wrong_purpose' });
    });

    it('R-B6 a login token on the payment route → 401 wrong_purpose', async () => {
      const { api } = ctx();
      const { token } = await api.stepUp(LOGIN_START);
      expectRefusal(await api.post('/payments', PAYMENT, token), { errorClass: 'insufficient_user_authentication', reason: 'wrong_purpose' });
    });

    it("R-B5 another user's payment token → 401 wrong_subject", async () => {
      const { api } = ctx();
      const bobs = await api.stepUp(PAYMENT_START, { user: 'bob', session: 'sess-shared' });
      expectRefusal(await api.post('/payments', PAYMENT, bobs.token, { user: 'alice', session: 'sess-shared' }), {
        errorClass: 'insufficient_user_authentication',
        reason: 'wrong_subject',
      });
      expectRefusal(await api.post('/payments', PAYMENT, bobs.token, { user: null, session: 'sess-shared' }), {
        errorClass: 'insufficient_user_authentication',
        reason: 'wrong_subject',
      });
      expect((await api.post('/payments', PAYMENT, bobs.token, { user: 'bob', session: 'sess-shared' })).status).toBe(200);
    });

    it('R-B11 a token presented from another session → 401 wrong_session', async () => {
      const { api } = ctx();
      const { token } = await api.stepUp(PAYMENT_START);
      expectRefusal(await api.post('/payments', PAYMENT, token, { user: 'alice', session: 'sess-elsewhere' }), {
        errorClass: 'insufficient_user_authentication',
        reason: 'wrong_session',
      });
      expectRefusal(await api.post('/payments', PAYMENT, token, { user: 'alice', session: null }), {
        errorClass: 'insufficient_user_authentication',
        reason: 'wrong_session',
      });
      expect((await api.post('/payments', PAYMENT, token)).status).toBe(200);
    });
  });

  describe('concurrency', () => {
    it('R-C3 50 concurrent verifies with the right code → one token (each 200 carries it), which the one-time guard accepts once', async () => {
      const { api } = ctx();
      const { body } = await api.start(PAYMENT_START);
      const code = api.codeOf(body.challengeId);
      const answers = await Promise.all(Array.from({ length: 50 }, () => api.verify(body.challengeId, code)));
      expect(answers.map((res) => res.status)).toEqual(Array(50).fill(200));
      const tokens = new Set(answers.map((res) => res.body.token as string));
      expect(tokens.size).toBe(1);
      const paid = await Promise.all(answers.map((res) => api.post('/payments', PAYMENT, res.body.token as string)));
      expect(paid.filter((res) => res.status === 200)).toHaveLength(1);
      for (const res of paid.filter((answer) => answer.status !== 200)) expectRefusal(res, { errorClass: 'insufficient_user_authentication', reason: 'replayed' });
    });

    it('R-L1 50 concurrent uses of one payment token → exactly one 200, the rest replayed', async () => {
      const { api } = ctx();
      const { token } = await api.stepUp(PAYMENT_START);
      const answers = await Promise.all(Array.from({ length: 50 }, () => api.post('/payments', PAYMENT, token)));
      expect(answers.filter((res) => res.status === 200)).toHaveLength(1);
      for (const res of answers.filter((answer) => answer.status !== 200)) {
        expectRefusal(res, { errorClass: 'insufficient_user_authentication', reason: 'replayed' });
      }
    });
  });
}

function defineFailureScenarios(adapter: string, factory: HarnessFactory, storeKind: StoreKind): void {
  describe(`${adapter} when delivery or the store fails`, () => {
    it('every channel failing → 502 delivery_failed, and the challenge does not survive', async () => {
      const h = await factory({ store: storeKind, channels: 'failing' });
      try {
        const api = createClient(h);
        const res = await api.start(LOGIN_START);
        expectError(res, 502, 'delivery_failed');
        expect(res.text).not.toContain('provider said no');
        expect(h.events.map((event) => event.type)).not.toContain('challenge.started');
        const failed = h.events.find((event) => event.type === 'delivery.failed');
        expect(failed?.challengeId).toEqual(expect.any(String));
        // The challenge that could not be delivered is gone: no code for it can ever be checked.
        expectError(await api.verify(failed!.challengeId!, '123456'), 404, 'challenge_not_found');
        api.assertNothingLeaked();
      } finally {
        await h.close();
      }
    });

    it('R-J7 R-F11 Redis stopped mid-test → start, verify, resend and the one-time guard answer 503 store_unavailable fast, never 2xx', async () => {
      const redis = await startRedis();
      const h = await factory({ store: 'redis', redisUrl: redis.url });
      try {
        const api = createClient(h);
        const payment = await api.stepUp(PAYMENT_START);
        const pending = await api.start(LOGIN_START);
        expect(pending.status).toBe(201);
        const code = api.codeOf(pending.body.challengeId);
        const sentBefore = h.outbox.messages().length;

        await redis.stop();
        h.clock.advance(31_000);
        const attempts: [string, () => ReturnType<Client['start']>][] = [
          ['start', () => api.start(LOGIN_START)],
          ['verify', () => api.verify(pending.body.challengeId, code)],
          ['resend', () => api.resend(pending.body.challengeId)],
          ['one-time guard', () => api.post('/payments', PAYMENT, payment.token)],
        ];
        for (const [name, send] of attempts) {
          const began = Date.now();
          const res = await send();
          const elapsed = Date.now() - began;
          expect(res.status, `${name}: ${res.text}`).toBe(503);
          expect(expectError(res, 503, 'store_unavailable').retryAfter).toBe(1);
          expect(res.headers['retry-after']).toBe('1');
          expect(elapsed, name).toBeLessThan(1_500);
        }
        // Fail closed: nothing was sent while the store was down.
        expect(h.outbox.messages()).toHaveLength(sentBefore);
        api.assertNothingLeaked();
      } finally {
        await h.close();
        await redis.stop();
      }
    });
  });
}

/**
 * A cross-site form post: a page on another site can make the browser POST a form to the
 * router, with the user's cookies, as form-encoded, multipart or text/plain, the types that
 * need no CORS preflight. The router's routes take application/json only, judged by the
 * Content-Type header whatever a parser before them did with the body: anything else is 415.
 */
function defineCrossSiteFormScenarios(adapter: string, factory: HarnessFactory, storeKind: StoreKind): void {
  for (const appParsers of [false, true]) {
    const setup = appParsers ? 'an app that parses JSON, forms and text for its own routes before the router' : 'an app without body parsers';
    describe(`${adapter} cross-site form post (${setup})`, () => {
      const ctx = eachHarness(factory, { store: storeKind, appParsers });
      const post = (path: string) => ctx().api.http().post(path).set('X-Test-User', 'alice').set('X-Test-Session', 'sess-alice');
      /** The ways a page on another site can post without a preflight; each carries `fields`. */
      const forms = (path: string, fields: Record<string, string>) => [
        { kind: 'form-encoded', test: () => post(path).type('form').send(new URLSearchParams(fields).toString()) },
        { kind: 'multipart/form-data', test: () => Object.entries(fields).reduce((test, [name, value]) => test.field(name, value), post(path)) },
        { kind: 'text/plain holding JSON', test: () => post(path).set('Content-Type', 'text/plain').send(JSON.stringify(fields)) },
        { kind: 'text/plain; charset=utf-8', test: () => post(path).set('Content-Type', 'text/plain; charset=utf-8').send(JSON.stringify(fields)) },
      ];

      it('a form post of the right code to verify → 415 unsupported_media_type each time; the code is untouched and then verifies as JSON', async () => {
        const { api } = ctx();
        const started = await api.start(LOGIN_START);
        const { challengeId } = started.body;
        const code = api.codeOf(challengeId);
        for (const { kind, test } of forms(`/stepup/challenges/${challengeId}/verify`, { code })) {
          const res = await api.send(test());
          expect(res.status, kind).toBe(415);
          expectError(res, 415, 'unsupported_media_type');
        }
        // Not even counted as attempts: a wrong JSON code still leaves 4 of 5.
        expect(expectError(await api.verify(challengeId, code === '000000' ? '111111' : '000000'), 400, 'invalid_code').attemptsLeft).toBe(4);
        expect((await api.verify(challengeId, code)).status).toBe(200);
      });

      it('a form post to start or resend → 415, and nothing is sent', async () => {
        const { h, api } = ctx();
        const started = await api.start(LOGIN_START);
        h.clock.advance(31_000);
        const sent = h.outbox.messages().length;
        const cases = [...forms('/stepup/challenges', { purpose: 'login' }), ...forms(`/stepup/challenges/${started.body.challengeId}/resend`, { channel: 'sms' })];
        for (const { kind, test } of cases) {
          const res = await api.send(test());
          expect(res.status, kind).toBe(415);
          expectError(res, 415, 'unsupported_media_type');
        }
        expect(h.outbox.messages()).toHaveLength(sent);
        expect(h.sms.messages()).toHaveLength(0);
      });

      it('an empty form post (a Content-Type, no fields) → 415: a body-less resend must be sent without one', async () => {
        const { h, api } = ctx();
        const started = await api.start(LOGIN_START);
        h.clock.advance(31_000);
        const res = await api.send(post(`/stepup/challenges/${started.body.challengeId}/resend`).type('form').send(''));
        expectError(res, 415, 'unsupported_media_type');
        expect(h.outbox.messages()).toHaveLength(1);
        // Without a body and without a Content-Type, a resend is still a resend without options.
        expect((await api.send(post(`/stepup/challenges/${started.body.challengeId}/resend`))).status).toBe(200);
      });

      it('a body without a Content-Type, or with another JSON-like type → 415', async () => {
        const { h, api } = ctx();
        const body = Buffer.from(JSON.stringify(LOGIN_START));
        const untyped = post('/stepup/challenges').set('Content-Length', String(body.length));
        untyped.write(body);
        const res = await api.send(untyped);
        expect((res as unknown as { req: import('node:http').ClientRequest }).req.getHeader('content-type')).toBeUndefined();
        expectError(res, 415, 'unsupported_media_type');
        for (const type of ['application/json-patch+json', 'application/x-json', 'application/javascript', 'text/json']) {
          expectError(await api.send(post('/stepup/challenges').set('Content-Type', type).send(JSON.stringify(LOGIN_START))), 415, 'unsupported_media_type');
        }
        expect(h.outbox.messages()).toHaveLength(0);
      });

      it('application/json, with charset=utf-8 and in any case, is still accepted on start and verify', async () => {
        const { api } = ctx();
        const started = await api.send(post('/stepup/challenges').set('Content-Type', 'application/json; charset=utf-8').send(JSON.stringify(LOGIN_START)));
        expect(started.status, started.text).toBe(201);
        const code = api.codeOf(started.body.challengeId);
        const verified = await api.send(post(`/stepup/challenges/${started.body.challengeId}/verify`).set('Content-Type', 'Application/JSON; charset=UTF-8').send(JSON.stringify({ code })));
        expect(verified.status, verified.text).toBe(200);
      });
    });
  }
}
