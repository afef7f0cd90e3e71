/**
 * Abuse limits (issue #6, R-D2, R-I1, R-I3, R-I4): each send limit bites at exactly its
 * count and lets go when its window ends; wrong codes of one subject are counted across
 * its challenges; the resend wait grows; numbers of refused types get nothing; the app's
 * beforeSend can refuse. On the memory store and on a real Redis (whose windows are real
 * time: short windows there, and a real wait).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStepUpError, MemoryStore, OutboxChannel, RedisStore, type ChallengeStore, type LimitsOptions, type StepUpError } from '../src/index.js';
import type { BeforeSendContext } from '../src/core/types.js';
import { stepUpError } from '../src/core/errors.js';
import { makeStepUp, NO_LIMITS, PHONE, redisFixture, rejection, SUBJECT, type Harness, type HarnessOptions, type RedisFixture } from './core.fixtures.js';

let redis: RedisFixture;
beforeAll(async () => {
  redis = await redisFixture('limits');
});
afterAll(async () => {
  await redis.close();
});

const WINDOW_MS = 1_200;
const window = `${WINDOW_MS / 1000}s` as const;
const OTHER_PHONE = '+34622345678';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(['memory', 'redis'] as const)('limits on the %s store', (kind) => {
  function setup(limits: LimitsOptions, extra: HarnessOptions = {}): Harness & { passWindow(): Promise<void> } {
    const store = kind === 'redis' ? { store: redis.store } : {};
    const harness = makeStepUp({ ...store, ...extra, limits: { ...NO_LIMITS, ...limits } });
    return Object.assign(harness, {
      // The memory store follows the fake clock; Redis expires keys in real time.
      async passWindow() {
        harness.clock.advance(WINDOW_MS + 50);
        if (kind === 'redis') await sleep(WINDOW_MS + 50);
      },
    });
  }
  let serial = 0;
  /** A subject of its own per call, so that tests on the shared Redis do not meet. */
  const fresh = (name: string) => `${name}-${kind}-${Date.now()}-${serial++}`;
  /** A number of its own per test (the per-number counters are shared on Redis). */
  const freshPhone = () => `+3461${String(Date.now() % 1_000_000 + serial++).padStart(7, '0')}`;

  const start = (h: Harness, input: { subject?: string; phone?: string; ip?: string } = {}) =>
    h.stepup.start({ subject: input.subject ?? SUBJECT, phone: input.phone ?? PHONE, purpose: 'login', ...(input.ip ? { ip: input.ip } : {}) });
  const expectLimited = async (promise: Promise<unknown>, code: 'rate_limited' | 'too_many_attempts' = 'rate_limited', windowMs = WINDOW_MS): Promise<StepUpError> => {
    const error = await rejection(promise);
    expect(error.code).toBe(code);
    expect(error.status).toBe(429);
    expect(error.retryAfter).toBeGreaterThanOrEqual(1);
    expect(error.retryAfter).toBeLessThanOrEqual(Math.ceil(windowMs / 1000));
    return error;
  };

  it('R-I1 sends per number: the (max+1)-th start is rate_limited, nothing is sent, and the window lets go', async () => {
    const h = setup({ phone: { max: 2, window } });
    const phone = freshPhone();
    await start(h, { phone, subject: fresh('a') });
    await start(h, { phone, subject: fresh('b') });
    await expectLimited(start(h, { phone, subject: fresh('c') }));
    expect(h.outbox.messages()).toHaveLength(2);
    expect(h.events.filter((event) => event.type === 'rate.limited').at(-1)).toMatchObject({ reason: 'rate_limited', limit: 'phone' });
    // Another number is not affected.
    await start(h, { phone: freshPhone(), subject: fresh('d') });
    await h.passWindow();
    await start(h, { phone, subject: fresh('e') });
    expect(h.outbox.messages()).toHaveLength(4);
  });

  it('R-I1 sends per number per day counts beside the short window', async () => {
    const h = setup({ phone: { max: 10, window }, phoneDaily: { max: 3, window } });
    const phone = freshPhone();
    for (let i = 0; i < 3; i++) await start(h, { phone, subject: fresh('s') });
    const error = await expectLimited(start(h, { phone, subject: fresh('s') }));
    expect(error.message).not.toContain(phone.slice(-6));
    expect(h.events.at(-1)).toMatchObject({ type: 'rate.limited', limit: 'phoneDaily' });
    await h.passWindow();
    await start(h, { phone, subject: fresh('s') });
  });

  it('R-I1 sends per subject, across numbers; resends count too', async () => {
    // An hour: the resend below moves the memory store's clock past a short window.
    const h = setup({ subject: { max: 3, window: '1h' } });
    const subject = fresh('user');
    const view = await start(h, { subject, phone: freshPhone() });
    await start(h, { subject, phone: freshPhone() });
    h.clock.advance(31_000);
    await h.stepup.resend(view.challengeId, { subject });
    await expectLimited(start(h, { subject, phone: freshPhone() }), 'rate_limited', 3_600_000);
    expect(h.outbox.messages()).toHaveLength(3);
    await start(h, { subject: fresh('other'), phone: freshPhone() });
  });

  it('R-I1 a resend refused by a limit sends nothing', async () => {
    const h = setup({ subject: { max: 1, window: '1h' } });
    const subject = fresh('user');
    const view = await start(h, { subject, phone: freshPhone() });
    h.clock.advance(31_000);
    await expectLimited(h.stepup.resend(view.challengeId, { subject }), 'rate_limited', 3_600_000);
    expect(h.outbox.messages()).toHaveLength(1);
  });

  it('R-I1 sends per IP, only when the caller passes one', async () => {
    const h = setup({ ip: { max: 2, window } });
    const ip = `203.0.113.${serial++ % 250}`;
    await start(h, { ip, subject: fresh('a'), phone: freshPhone() });
    await start(h, { ip, subject: fresh('b'), phone: freshPhone() });
    await expectLimited(start(h, { ip, subject: fresh('c'), phone: freshPhone() }));
    expect(h.events.at(-1)).toMatchObject({ type: 'rate.limited', limit: 'ip', ip });
    await start(h, { subject: fresh('d'), phone: freshPhone() });
    await h.passWindow();
    await start(h, { ip, subject: fresh('e'), phone: freshPhone() });
  });

  it('R-I1 sends per session, per number range (E.164 without its last 4 digits), per country and per purpose', async () => {
    const session = setup({ session: { max: 2, window } });
    const binding = `session-${serial++}`;
    const startBound = (h: Harness, phone: string) => h.stepup.start({ subject: fresh('s'), phone, purpose: 'login', binding });
    await startBound(session, freshPhone());
    await startBound(session, freshPhone());
    await expectLimited(startBound(session, freshPhone()));
    expect(session.events.at(-1)).toMatchObject({ type: 'rate.limited', limit: 'session' });
    await start(session, { subject: fresh('unbound'), phone: freshPhone() });

    const prefix = setup({ prefix: { max: 2, window } });
    const range = freshPhone().slice(0, -4);
    await start(prefix, { subject: fresh('p'), phone: `${range}0001` });
    await start(prefix, { subject: fresh('p'), phone: `${range}0002` });
    await expectLimited(start(prefix, { subject: fresh('p'), phone: `${range}0003` }));
    expect(prefix.events.at(-1)).toMatchObject({ type: 'rate.limited', limit: 'prefix' });
    await prefix.passWindow();
    await start(prefix, { subject: fresh('p'), phone: `${range}0004` });

    const country = setup({ country: { max: 1, window } });
    await start(country, { subject: fresh('c'), phone: freshPhone() });
    await expectLimited(start(country, { subject: fresh('c'), phone: freshPhone() }));
    await start(country, { subject: fresh('c'), phone: '+525512345678' });

    const purpose = setup({ purpose: { max: 1, window } });
    await start(purpose, { subject: fresh('u'), phone: freshPhone() });
    await expectLimited(start(purpose, { subject: fresh('u'), phone: freshPhone() }));
    await purpose.stepup.start({ subject: fresh('u'), phone: freshPhone(), purpose: 'password-reset' });
    expect(purpose.events.at(-1)).toMatchObject({ type: 'challenge.started', purpose: 'password-reset' });
  });

  it('R-I1 sends per subject let go after their window', async () => {
    const h = setup({ subject: { max: 2, window } });
    const subject = fresh('user');
    await start(h, { subject, phone: freshPhone() });
    await start(h, { subject, phone: freshPhone() });
    await expectLimited(start(h, { subject, phone: freshPhone() }));
    await h.passWindow();
    await start(h, { subject, phone: freshPhone() });
  });

  it('R-D3 wrong codes from many IPs still count against the one account', async () => {
    const h = setup({ failures: { max: 3, window: '1h' }, ip: { max: 100, window: '1h' } });
    const subject = fresh('victim');
    const view = await start(h, { subject, phone: freshPhone() });
    const code = h.outbox.messages().at(-1)!.code;
    const wrong = code === '000000' ? '111111' : '000000';
    for (let i = 0; i < 3; i++) await rejection(h.stepup.verify(view.challengeId, wrong, { subject, ip: `198.51.100.${i + 1}` }));
    expect((await rejection(h.stepup.verify(view.challengeId, code, { subject, ip: '198.51.100.99' }))).code).toBe('too_many_attempts');
  });

  it('R-D2 wrong codes count across challenges: past the limit verify and start are too_many_attempts, even with the right code, until the window ends', async () => {
    const h = setup({ failures: { max: 3, window } });
    const subject = fresh('victim');
    const first = await start(h, { subject, phone: freshPhone() });
    const code = (id: string) => h.outbox.messages().filter((message) => message.challengeId === id).at(-1)!.code;
    const wrong = (id: string) => (code(id) === '000000' ? '111111' : '000000');
    expect((await rejection(h.stepup.verify(first.challengeId, wrong(first.challengeId), { subject }))).code).toBe('invalid_code');
    expect((await rejection(h.stepup.verify(first.challengeId, wrong(first.challengeId), { subject }))).code).toBe('invalid_code');
    // A new challenge does not reset the count.
    const second = await start(h, { subject, phone: freshPhone() });
    expect((await rejection(h.stepup.verify(second.challengeId, wrong(second.challengeId), { subject }))).code).toBe('invalid_code');
    const third = await start(h, { subject, phone: freshPhone() }).catch((error: unknown) => error);
    expect(isStepUpError(third) && third.code).toBe('too_many_attempts');
    await expectLimited(h.stepup.verify(second.challengeId, code(second.challengeId), { subject }), 'too_many_attempts');
    expect(h.events.filter((event) => event.type === 'rate.limited').at(-1)).toMatchObject({ reason: 'too_many_attempts', limit: 'failures', subject });
    // Other users are not affected (R-D4: scoped to the subject).
    const bystander = fresh('bystander');
    const theirs = await start(h, { subject: bystander, phone: freshPhone() });
    await expect(h.stepup.verify(theirs.challengeId, code(theirs.challengeId), { subject: bystander })).resolves.toMatchObject({ claims: { sub: bystander } });
    // Time-bound (R-D4): after the window a new challenge verifies.
    await h.passWindow();
    const later = await start(h, { subject, phone: freshPhone() });
    await expect(h.stepup.verify(later.challengeId, code(later.challengeId), { subject })).resolves.toMatchObject({ claims: { sub: subject } });
  });

  it('R-D2 R-J2 the count is of consecutive wrong codes: a resend does not clear it, a right code does; at the limit even concurrent guesses cannot pass it', async () => {
    const h = setup({ failures: { max: 3, window: '1h' } }, { sends: { cooldown: '1s' } });
    const subject = fresh('consecutive');
    const code = (id: string) => h.outbox.messages().filter((message) => message.challengeId === id).at(-1)!.code;
    const wrong = (id: string) => (code(id) === '000000' ? '111111' : '000000');
    const first = await start(h, { subject, phone: freshPhone() });
    for (let i = 0; i < 2; i++) expect((await rejection(h.stepup.verify(first.challengeId, wrong(first.challengeId), { subject }))).code).toBe('invalid_code');
    // A resend brings a new code, not a clean slate.
    h.clock.advance(1_000);
    await h.stepup.resend(first.challengeId, { subject });
    const second = await start(h, { subject, phone: freshPhone() });
    // A right code clears the count: two more wrong ones are not yet the limit.
    await expect(h.stepup.verify(first.challengeId, code(first.challengeId), { subject })).resolves.toMatchObject({ claims: { sub: subject } });
    const third = await start(h, { subject, phone: freshPhone() });
    for (let i = 0; i < 2; i++) expect((await rejection(h.stepup.verify(second.challengeId, wrong(second.challengeId), { subject }))).code).toBe('invalid_code');
    // Concurrent wrong guesses on two challenges: the limit is exact, each guess counted once.
    const guesses = await Promise.all([second, third, third].map(({ challengeId }) => rejection(h.stepup.verify(challengeId, wrong(challengeId), { subject }))));
    expect(guesses.map((error) => error.code).sort()).toEqual(['invalid_code', 'too_many_attempts', 'too_many_attempts']);
    const refused = await rejection(h.stepup.verify(third.challengeId, code(third.challengeId), { subject }));
    expect(refused.code).toBe('too_many_attempts');
    // The window began at the first wrong code after the clear.
    expect(refused.retryAfter).toBe(3600);
  });

  it('R-I3 the resend wait grows: 30 s, 60 s, 120 s by default', async () => {
    const h = setup({}, { sends: { cooldown: ['30s', '60s', '120s'], maxPerChallenge: 5 } });
    const subject = fresh('user');
    const view = await start(h, { subject, phone: freshPhone() });
    expect(Date.parse(view.resendAfter) - h.clock()).toBe(30_000);
    h.clock.advance(30_000);
    const second = await h.stepup.resend(view.challengeId, { subject });
    expect(Date.parse(second.resendAfter) - h.clock()).toBe(60_000);
    h.clock.advance(59_000);
    expect((await rejection(h.stepup.resend(view.challengeId, { subject }))).retryAfter).toBe(1);
    h.clock.advance(1_000);
    const third = await h.stepup.resend(view.challengeId, { subject });
    expect(Date.parse(third.resendAfter) - h.clock()).toBe(120_000);
    h.clock.advance(120_000);
    const fourth = await h.stepup.resend(view.challengeId, { subject });
    expect(Date.parse(fourth.resendAfter) - h.clock()).toBe(120_000);
  });

  it('R-I2 numbers of refused types get no code, with a message that says why, and count against the subject', async () => {
    const h = setup({ subject: { max: 2, window } });
    const subject = fresh('pumper');
    expect((await rejection(start(h, { subject, phone: '+34803123456' }))).message).toBe('Codes cannot be sent to premium-rate numbers.');
    expect((await rejection(start(h, { subject, phone: '+34901123456' }))).message).toBe('Codes cannot be sent to shared-cost numbers.');
    expect(h.outbox.messages()).toHaveLength(0);
    expect(h.events.filter((event) => event.type === 'delivery.failed')).toHaveLength(2);
    // Two refused numbers used up this subject's sends.
    await expectLimited(start(h, { subject, phone: freshPhone() }));
    // denyTypes: [] refuses none; ['FIXED_LINE', 'UNKNOWN'] refuses landlines too.
    const open = setup({}, { phones: { denyTypes: [] } });
    await start(open, { subject: fresh('x'), phone: '+34803123456' });
    const strict = setup({}, { phones: { denyTypes: ['FIXED_LINE', 'UNKNOWN'] } });
    expect((await rejection(start(strict, { subject: fresh('y'), phone: '+34912345678' }))).message).toBe('Codes cannot be sent to landlines.');
    await start(strict, { subject: fresh('z'), phone: '+34803123456' });
  });

  it('R-I2 countries per transport: SMS only to the listed countries, WhatsApp still open; a chosen closed channel is refused by name', async () => {
    const whatsapp = new OutboxChannel({ name: 'whatsapp', transport: 'whatsapp' });
    const sms = new OutboxChannel({ name: 'sms', transport: 'sms' });
    const h = setup({}, { channels: [whatsapp, sms], phones: { allowCountriesByTransport: { sms: ['ES'] } } });
    const mexican = '+525512345678';
    const view = await start(h, { subject: fresh('mx'), phone: mexican });
    expect(view.channels).toEqual([
      { name: 'whatsapp', transport: 'whatsapp', current: true, available: true },
      { name: 'sms', transport: 'sms', current: false, available: false },
    ]);
    const chosen = await rejection(h.stepup.start({ subject: fresh('mx'), phone: mexican, purpose: 'login', channel: 'sms' }));
    expect(chosen).toMatchObject({ code: 'delivery_failed' });
    expect(chosen.message).toMatch(/\bsms\b/);
    expect(sms.messages()).toHaveLength(0);
    await start(h, { subject: fresh('es'), phone: freshPhone() });
    await h.stepup.start({ subject: fresh('es'), phone: freshPhone(), purpose: 'login', channel: 'sms' });
    expect(sms.messages()).toHaveLength(1);

    // With SMS channels only, a number no channel may reach is refused up front, saying why.
    const smsOnly = setup({ subject: { max: 1, window: '1h' } }, { channels: [new OutboxChannel({ name: 'sms', transport: 'sms' })], phones: { allowCountriesByTransport: { sms: ['ES'] } } });
    const subject = fresh('mx');
    expect((await rejection(start(smsOnly, { subject, phone: mexican }))).message).toBe('Codes cannot be sent to phone numbers of this country.');
    expect(smsOnly.events.at(-1)).toMatchObject({ type: 'delivery.failed', reason: 'invalid_request' });
    // …and counts against the subject.
    await expectLimited(start(smsOnly, { subject, phone: freshPhone() }), 'rate_limited', 3_600_000);
    expect(() => makeStepUp({ phones: { allowCountriesByTransport: { sms: [] } } })).toThrow(/allowCountriesByTransport.sms.*non-empty array/);
    expect(() => makeStepUp({ phones: { allowCountriesByTransport: { email: ['ES'] } as never } })).toThrow(/no option `email`/);
  });

  it('R-I5 the conversion breaker stops sends to a country whose codes are not verified, and not to one whose codes are', async () => {
    const h = setup({ conversion: { minSends: 3, minRate: 0.5, window: '1h' } });
    const mexican = () => `+5255${String(10_000_000 + (Date.now() % 1_000_000) + serial++).slice(-8)}`;
    // Three sends to Mexico, none verified: the fourth trips the breaker.
    for (let i = 0; i < 3; i++) await start(h, { subject: fresh('mx'), phone: mexican() });
    const error = await rejection(start(h, { subject: fresh('mx'), phone: mexican() }));
    expect(error).toMatchObject({ code: 'rate_limited', message: 'Codes cannot be sent to this country right now. Try again later.' });
    expect(h.events.filter((event) => event.type === 'rate.limited').at(-1)).toMatchObject({ limit: 'conversion' });
    // Spain is another country: not affected.
    await start(h, { subject: fresh('es'), phone: freshPhone() });
    // Where codes are verified (Brazil here: the counters of one store are per country), sends go on.
    const brazilian = () => `+55119${String(10_000_000 + (Date.now() % 1_000_000) + serial++).slice(-8)}`;
    const ok = setup({ conversion: { minSends: 3, minRate: 0.5, window: '1h' } });
    for (let i = 0; i < 4; i++) {
      const subject = fresh('br');
      const view = await start(ok, { subject, phone: brazilian() });
      await ok.stepup.verify(view.challengeId, ok.outbox.messages().at(-1)!.code, { subject });
      await new Promise((resolve) => setTimeout(resolve, 10)); // the verified count is written after the answer
    }
    await start(ok, { subject: fresh('br'), phone: brazilian() });
    expect(() => makeStepUp({ limits: { conversion: { minSends: 10, minRate: 2, window: '1h' } } })).toThrow(/minRate.*above 0 and at most 1/);
  });

  it('R-I4 beforeSend runs before each start and resend the user asks for; false refuses and nothing is sent', async () => {
    const seen: BeforeSendContext[] = [];
    let allow = true;
    const h = setup({}, { beforeSend: (context) => (seen.push(context), allow) });
    const subject = fresh('user');
    const phone = freshPhone();
    const view = await start(h, { subject, phone, ip: '198.51.100.7' });
    expect(seen[0]).toEqual({ subject, purpose: 'login', country: 'ES', to: view.to, ip: '198.51.100.7', challengeId: undefined, channel: undefined });
    expect(JSON.stringify(seen)).not.toContain(phone.slice(1));
    allow = false;
    h.clock.advance(31_000);
    expect((await rejection(h.stepup.resend(view.challengeId, { subject }))).code).toBe('invalid_request');
    expect(seen[1]).toMatchObject({ subject, challengeId: view.challengeId });
    expect((await rejection(start(h, { subject, phone }))).message).toBe('The application refused to send a code now.');
    expect(h.outbox.messages()).toHaveLength(1);
    // The hook may throw its own StepUpError, answered as it is.
    const thrower = setup({}, { beforeSend: () => { throw stepUpError('rate_limited', { retryAfter: 9 }, 'Solve the CAPTCHA first.'); } });
    const error = await rejection(start(thrower, { subject: fresh('t'), phone: freshPhone() }));
    expect(error).toMatchObject({ code: 'rate_limited', retryAfter: 9, message: 'Solve the CAPTCHA first.' });
  });

  it('R-I1 R-I4 R-I5 a start refused after the store took it (beforeSend, the conversion breaker) leaves no challenge behind', async () => {
    const base = kind === 'redis' ? redis.store : new MemoryStore();
    const admitted: string[] = [];
    // The store as it is, noting the challenges its admission created.
    const store: ChallengeStore = new Proxy(base, {
      get(target, property) {
        if (property === 'admit') {
          return async (...args: Parameters<ChallengeStore['admit']>) => {
            const outcome = await target.admit(...args);
            if (outcome.created) admitted.push(args[0].id);
            return outcome;
          };
        }
        const value = Reflect.get(target, property) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const gone = async (h: Harness, subject: string) => {
      const id = admitted.at(-1)!;
      expect((await rejection(h.stepup.verify(id, '123456', { subject }))).code).toBe('challenge_not_found');
    };
    const refusing = setup({}, { store, beforeSend: () => false });
    const subject = fresh('refused');
    expect((await rejection(start(refusing, { subject, phone: freshPhone() }))).code).toBe('invalid_request');
    expect(admitted).toHaveLength(1);
    await gone(refusing, subject);

    const breaker = setup({ conversion: { minSends: 2, minRate: 0.5, window: '1h' } }, { store });
    // German mobile numbers: a country no other test here sends to with the breaker on.
    const german = () => `+49151${String(10_000_000 + (Date.now() % 1_000_000) + serial++).slice(-8)}`;
    for (let i = 0; i < 2; i++) await start(breaker, { subject: fresh('de'), phone: german() });
    const tripped = fresh('de');
    expect((await rejection(start(breaker, { subject: tripped, phone: german() }))).message).toBe('Codes cannot be sent to this country right now. Try again later.');
    expect(admitted).toHaveLength(4);
    await gone(breaker, tripped);
    expect(breaker.outbox.messages()).toHaveLength(2);
  });

  it('limits are validated when the service is built, with a message that says how to fix it', () => {
    const build = (limits: unknown) => () => makeStepUp({ limits: limits as LimitsOptions });
    expect(build({ phone: { max: 0, window: '15m' } })).toThrow(/limits.phone.max.*whole number from 1/);
    expect(build({ phone: { max: 5 } })).toThrow(/limits.phone.window/);
    expect(build({ phone: { max: 5, window: '60d' } })).toThrow(/at most|31 days/);
    expect(build({ sms: { max: 5, window: '1m' } })).toThrow(/no option `sms`.*Known: phone, phoneDaily, subject, ip, session, prefix, country, purpose, failures, conversion/);
    expect(build({ ip: true })).toThrow(/limits.ip.*or false to turn it off/);
    expect(() => makeStepUp({ sends: { cooldown: [] } })).toThrow(/sends.cooldown/);
    expect(() => makeStepUp({ sends: { cooldown: ['30s', '11m'] } })).toThrow(/at most 10 minutes/);
    expect(() => makeStepUp({ phones: { denyTypes: ['PREMIUM'] as never } })).toThrow(/phones.denyTypes.*PREMIUM_RATE/);
    expect(() => makeStepUp({ beforeSend: 'yes' as never })).toThrow(/beforeSend/);
  });
});

describe('limit counters in Redis', () => {
  it('R-J11 R-J12 every counter has a TTL and no key or value holds the number, the subject or the IP', async () => {
    const fixture = await redisFixture('limit-keys');
    try {
      const h = makeStepUp({ store: fixture.store, limits: { failures: { max: 5, window: '1h' } } });
      const view = await h.stepup.start({ subject: 'user-42', phone: PHONE, purpose: 'login', ip: '192.0.2.1' });
      await rejection(h.stepup.verify(view.challengeId, '000000', { subject: 'user-42' }));
      const keys = (await fixture.keys()).filter((key) => key.includes('lim:'));
      // phone, phoneDaily, subject, ip, prefix (the challenge is unbound: no session counter), failures.
      expect(keys.length).toBe(6);
      // One keyed name per number (its two counters) and per subject (its counter and its failure record).
      const nameOf = (kind: string) => keys.map((key) => new RegExp(`${kind}:([\\w-]{22})`).exec(key)?.[1]).find(Boolean);
      expect(nameOf('lim:\\{phone')).toMatch(/^[\w-]{22}$/);
      expect(nameOf('lim:\\{phone')).toBe(nameOf('phoneDaily'));
      expect(nameOf('lim:\\{subject')).toMatch(/^[\w-]{22}$/);
      expect(nameOf('lim:\\{subject')).toBe(nameOf('failures'));
      expect(new Set(keys.map((key) => /:([\w-]{22})\}?$/.exec(key)?.[1])).size).toBe(4);
      for (const key of keys) {
        expect(await fixture.client.pttl(key)).toBeGreaterThan(0);
        // The subject's failures are a hash (count, window end) beside its challenges; the rest are strings.
        const value = key.includes('}lim:failures:') ? JSON.stringify(await fixture.client.hgetall(key)) : await fixture.client.get(key);
        for (const secret of ['user-42', '192.0.2.1', PHONE.slice(1), PHONE.slice(3)]) {
          expect(key).not.toContain(secret);
          expect(value).not.toContain(secret);
        }
      }
    } finally {
      await fixture.close();
    }
  });
});

describe('limits across instances', () => {
  it('R-D5 two app instances on one Redis share the counts: alternate wrong guesses trip the limit at its count', async () => {
    const fixture = await redisFixture('limit-instances');
    try {
      const limits: LimitsOptions = { ...NO_LIMITS, failures: { max: 4, window: '1h' } };
      const a = makeStepUp({ store: fixture.store, limits });
      // Another instance: its own RedisStore on the same Redis and prefix.
      const b = makeStepUp({ store: new RedisStore({ client: fixture.client, prefix: fixture.prefix }), limits });
      const subject = `shared-${Date.now()}`;
      const first = await a.stepup.start({ subject, phone: PHONE, purpose: 'login' });
      const second = await b.stepup.start({ subject, phone: PHONE, purpose: 'login' });
      const codeA = a.outbox.messages().at(-1)!.code;
      const wrong = (code: string) => (code === '000000' ? '111111' : '000000');
      for (const [instance, id] of [[a, first.challengeId], [b, second.challengeId], [a, first.challengeId], [b, second.challengeId]] as const) {
        expect((await rejection(instance.stepup.verify(id, wrong(codeA), { subject }))).code).toBe('invalid_code');
      }
      expect((await rejection(a.stepup.verify(first.challengeId, codeA, { subject }))).code).toBe('too_many_attempts');
      expect((await rejection(b.stepup.start({ subject, phone: PHONE, purpose: 'login' }))).code).toBe('too_many_attempts');
    } finally {
      await fixture.close();
    }
  });
});
