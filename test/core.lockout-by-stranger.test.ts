/**
 * Nothing that an anonymous requester can do (password-reset requests for a user, every wrong
 * code they allow, requests that name a user's number) delays or blocks that user's own login
 * or payment: anonymous purposes spend budgets of their own, for sends and for wrong codes
 * (R-D4, R-G3, R-N6). Those budgets still bound what anyone can make us send to the number.
 *
 * Every test runs with the library's default limits, on the memory store and on a real Redis.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore, isStepUpError, type StepUpError } from '../src/index.js';
import { fakeClock, makeStepUp, latestCode, PAYMENT, PHONE, redisFixture, rejection, SUBJECT, type FakeClock, type Harness, type RedisFixture } from './core.fixtures.js';

const DEFAULT_LIMITS = undefined;

/** What an attacker who knows only the username does: every reset request and every wrong code the budgets let through. */
async function attackAs(harness: Harness, subject: string, phone: string, requests = 10): Promise<{ started: number; refused: string[]; wrong: number }> {
  let started = 0;
  let wrong = 0;
  const refused: string[] = [];
  for (let i = 0; i < requests; i++) {
    try {
      const view = await harness.stepup.start({ subject, phone, purpose: 'password-reset', ip: `198.51.100.${i + 1}` });
      started++;
      const code = latestCode(harness, view.challengeId);
      const guess = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
      for (;;) {
        const error = await rejection(harness.stepup.verify(view.challengeId, guess, { subject }));
        if (error.code !== 'invalid_code') break;
        wrong++;
      }
      wrong++;
    } catch (error) {
      if (!isStepUpError(error)) throw error;
      refused.push((error as StepUpError).code);
    }
  }
  return { started, refused, wrong };
}

describe.each([
  { name: 'memory store', redis: false },
  { name: 'Redis store', redis: true },
])('lockout by a stranger ($name)', ({ redis: useRedis }) => {
  let redis: RedisFixture | undefined;
  beforeAll(async () => {
    if (useRedis) redis = await redisFixture('stranger');
  });
  afterAll(async () => {
    await redis?.close();
  });

  function service(clock: FakeClock = fakeClock()): Harness {
    const store = redis ? redis.store : new MemoryStore({ clock });
    // A fresh prefix per service would need a new store; the subject is new per test instead.
    return makeStepUp({ store, clock, limits: DEFAULT_LIMITS as never });
  }
  let subjects = 0;
  const newSubject = () => `${SUBJECT}-stranger-${useRedis ? 'r' : 'm'}-${++subjects}-${Date.now()}`;
  // Each test its own number too: the number's counters are keyed by it.
  const newPhone = () => `+346${String(10_000_000 + Math.floor(Math.random() * 89_999_999)).padStart(8, '0')}`;

  it('R-N6 R-D4 10 anonymous reset requests and every wrong code they allow: the user\'s login start succeeds at once and its code gives a token', async () => {
    const harness = service();
    const subject = newSubject();
    const phone = newPhone();
    const { started, refused, wrong } = await attackAs(harness, subject, phone);
    // The anonymous budgets did their work: some requests were refused, wrong codes ran out.
    expect(started).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    expect(wrong).toBeGreaterThan(0);
    // The clock did not move. The user signs in: password passed, now the code.
    const view = await harness.stepup.start({ subject, phone, purpose: 'login', ip: '203.0.113.7', otherFactors: ['pwd'] });
    const result = await harness.stepup.verify(view.challengeId, latestCode(harness, view.challengeId), { subject });
    expect(result.claims.sub).toBe(subject);
    expect(result.claims.purpose).toBe('login');
  });

  it('R-N6 a payment after the same attack: starts, verifies and carries the transaction', async () => {
    const harness = service();
    const subject = newSubject();
    const phone = newPhone();
    await attackAs(harness, subject, phone);
    const view = await harness.stepup.start({ subject, phone, purpose: 'payment', transaction: PAYMENT });
    const result = await harness.stepup.verify(view.challengeId, latestCode(harness, view.challengeId), { subject });
    expect(result.claims.txn).toBeDefined();
  });

  it('an anonymous challenge\'s id says so; changing the mark names no challenge', async () => {
    const harness = service();
    const subject = newSubject();
    const phone = newPhone();
    const reset = await harness.stepup.start({ subject, phone, purpose: 'password-reset' });
    const login = await harness.stepup.start({ subject, phone, purpose: 'login' });
    expect(reset.challengeId).toMatch(/^[A-Za-z0-9_-]{4}\.[A-Za-z0-9_-]{22}$/);
    expect(login.challengeId).toMatch(/^[A-Za-z0-9_-]{26}$/);
    const code = latestCode(harness, reset.challengeId);
    const unmarked = reset.challengeId.replace('.', '');
    expect((await rejection(harness.stepup.verify(unmarked, code, { subject }))).code).toBe('challenge_not_found');
    expect((await harness.stepup.verify(reset.challengeId, code, { subject })).claims.purpose).toBe('password-reset');
  });
});

// Redis counts the send windows on its own clock, which the fake one does not move: the
// windows' ends are tested on the memory store (the store contract holds both to one window).
describe('lockout by a stranger: the budgets\' windows (memory store)', () => {
  const service = (): Harness => makeStepUp({ store: new MemoryStore({ clock: fakeClockShared }), clock: fakeClockShared, limits: DEFAULT_LIMITS as never });
  let fakeClockShared: FakeClock;
  beforeEach(() => {
    fakeClockShared = fakeClock();
  });
  let subjects = 0;
  const newSubject = () => `${SUBJECT}-window-${++subjects}`;
  const newPhone = () => `+34612${String(100_000 + subjects).slice(-6)}`;
  it('R-D2 the anonymous wrong-code budget refuses anonymous purposes only, as too_many_attempts until its window ends', async () => {
    const harness = service();
    const subject = newSubject();
    const phone = newPhone();
    const { refused } = await attackAs(harness, subject, phone);
    expect(refused).toContain('too_many_attempts');
    // An hour later the 15-minute send windows are over, the wrong-code budget's (24 h) is not: resets stay refused.
    harness.clock.advance(60 * 60_000);
    expect(['too_many_attempts', 'rate_limited']).toContain((await rejection(harness.stepup.start({ subject, phone, purpose: 'password-reset' }))).code);
    // Once that window ends the user may reset again.
    harness.clock.advance(24 * 3600_000);
    const view = await harness.stepup.start({ subject, phone, purpose: 'password-reset' });
    expect((await harness.stepup.verify(view.challengeId, latestCode(harness, view.challengeId), { subject })).claims.purpose).toBe('password-reset');
  });

  it('R-I1 the anonymous budgets bound what anyone can make us send to the number: at most 3 reset codes in 15 minutes', async () => {
    const harness = service();
    const subject = newSubject();
    const phone = newPhone();
    const before = harness.outbox.messages().filter((message) => message.to === phone).length;
    // Requests naming the number for several accounts, from many addresses: no wrong codes this time.
    const codes: string[] = [];
    for (let i = 0; i < 10; i++) {
      await harness.stepup.start({ subject: `${subject}-${i % 2}`, phone, purpose: 'password-reset', ip: `198.51.100.${i + 1}` }).then(
        (view) => codes.push(view.challengeId),
        (error: unknown) => expect(isStepUpError(error) && error.code).toBe('rate_limited'),
      );
    }
    expect(codes).toHaveLength(3);
    expect(harness.outbox.messages().filter((message) => message.to === phone).length - before).toBe(3);
    // The user's own login still goes out to that number.
    const view = await harness.stepup.start({ subject: `${subject}-0`, phone, purpose: 'login' });
    expect(view.challengeId).toBeDefined();
  });

  it('R-D2 the user\'s own budget still holds: wrong login codes lock login, and anonymous resets do not reset that count', async () => {
    const harness = service();
    const subject = newSubject();
    const phone = newPhone();
    // Four login challenges of five wrong codes each: the user's budget of 20 a day is spent.
    for (let challenge = 0; challenge < 4; challenge++) {
      const view = await harness.stepup.start({ subject, phone, purpose: 'login' });
      const code = latestCode(harness, view.challengeId);
      const guess = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
      while ((await rejection(harness.stepup.verify(view.challengeId, guess, { subject }))).code === 'invalid_code');
    }
    expect((await rejection(harness.stepup.start({ subject, phone, purpose: 'login' }))).code).toBe('too_many_attempts');
    // A reset verified in the meantime clears only the anonymous budget's count.
    const reset = await harness.stepup.start({ subject, phone, purpose: 'password-reset' });
    await harness.stepup.verify(reset.challengeId, latestCode(harness, reset.challengeId), { subject });
    // Past the send windows, the user's wrong-code window (24 h) still refuses login.
    harness.clock.advance(15 * 60_000 + 1);
    expect((await rejection(harness.stepup.start({ subject, phone, purpose: 'login' }))).code).toBe('too_many_attempts');
  });

});

describe('anonymous purposes: options', () => {
  it('password-reset is anonymous and cannot be made otherwise; an app may mark its own purpose anonymous', () => {
    expect(makeStepUp().stepup.purpose('password-reset')?.anonymous).toBe(true);
    expect(makeStepUp().stepup.purpose('login')?.anonymous).toBe(false);
    expect(() => makeStepUp({ purposes: { 'password-reset': { anonymous: false } } })).toThrow(/anonymous/);
    expect(makeStepUp({ purposes: { 'unlock-account': { anonymous: true, oneTime: true } } }).stepup.purpose('unlock-account')?.anonymous).toBe(true);
    expect(() => makeStepUp({ purposes: { 'unlock-account': { anonymous: 'yes' as never } } })).toThrow(/`purposes\['unlock-account'\]\.anonymous` must be true or false/);
  });

  it('limits.anonymous is validated like limits, naming the option', () => {
    expect(() => makeStepUp({ limits: { anonymous: { phone: { max: 0, window: '15m' } } } })).toThrow(/`limits\.anonymous\.phone\.max` must be a whole number/);
    expect(() => makeStepUp({ limits: { anonymous: { conversion: false } as never } })).toThrow(/`limits\.anonymous` has no option `conversion`/);
    expect(() => makeStepUp({ limits: { anonymous: 'off' as never } })).toThrow(/`limits\.anonymous` must be an object/);
  });

  it('rate.limited events name the anonymous budget\'s limit', async () => {
    const harness = makeStepUp({ limits: { anonymous: { phone: { max: 1, window: '15m' } } } });
    await harness.stepup.start({ subject: 'u-events', phone: PHONE, purpose: 'password-reset' });
    await rejection(harness.stepup.start({ subject: 'u-events', phone: PHONE, purpose: 'password-reset' }));
    expect(harness.events.filter((event) => event.type === 'rate.limited').map((event) => event.limit)).toEqual(['anonymous.phone']);
  });
});
