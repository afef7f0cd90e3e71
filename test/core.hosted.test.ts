/**
 * Message Central Verify Now through the core (DESIGN §8, §8.1; docs/channels/README.md): the
 * provider makes and checks the code, and our store still owns the attempt limit, single
 * use and binding. Real parts only: `messageCentralChannel` over HTTP against
 * `startFakeMessageCentral()`, a real RedisStore on a private redis-server (and the
 * MemoryStore, which must behave the same), and for the fallback a real
 * `whatsappCloudChannel` against `startFakeWhatsApp()`.
 */
import { randomBytes } from 'node:crypto';
import { format } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import {
  MemoryStore,
  messageCentralChannel,
  RedisStore,
  whatsappCloudChannel,
  type ChallengeStore,
  type StepUpError,
  type StepUpEvent,
} from '../src/index.js';
import type { MessageCentralChannelOptions } from '../src/channels/message-central.js';
import { startFakeMessageCentral, startFakeWhatsApp, type FakeMessageCentral, type FakeWhatsApp } from '../src/testing/index.js';
import {
  fakeClock,
  hasDigitRun,
  makeStepUp,
  PHONE,
  PHONE_NATIONAL,
  redisFixture,
  rejection,
  SUBJECT,
  type FakeClock,
  type Harness,
  type HarnessOptions,
  type RedisFixture,
} from './core.fixtures.js';

const WRONG_PASSWORD = 'not-the-account-password-7c1f';

let mc: FakeMessageCentral;
let wa: FakeWhatsApp;
/** What a test saw leave the library: every event, console line and error message. */
let events: StepUpEvent[][];
let errors: StepUpError[];
/** Every provider code a test read from a fake: none may appear anywhere we log. */
let codes: string[];
let consoleSpies: MockInstance[];

beforeAll(async () => {
  wa = await startFakeWhatsApp();
});

afterAll(async () => {
  await wa.close();
});

beforeEach(async () => {
  // A fresh provider per test: it keeps a code active per number for 60 s (506).
  mc = await startFakeMessageCentral();
  events = [];
  errors = [];
  codes = [];
  consoleSpies = (['error', 'warn', 'log', 'info', 'debug'] as const).map((method) => vi.spyOn(console, method).mockImplementation(() => undefined));
});

afterEach(async () => {
  try {
    // R-C9: no password (or its base64), auth token, customer id, provider code or full number leaves the library.
    const secrets = [
      mc.password,
      Buffer.from(mc.password).toString('base64'),
      WRONG_PASSWORD,
      Buffer.from(WRONG_PASSWORD).toString('base64'),
      mc.customerId,
      wa.accessToken,
      ...mc.requests.map((request) => request.authToken ?? '').filter(Boolean),
      PHONE,
      PHONE.slice(1),
      PHONE_NATIONAL,
    ];
    const outputs = [
      ...events.flat().map((event) => JSON.stringify(event)),
      ...consoleSpies.flatMap((spy) => spy.mock.calls.map((args) => format(...(args as unknown[])))),
      ...errors.map((error) => `${String(error)}\n${error.stack ?? ''}\n${JSON.stringify(error.details)}`),
    ];
    for (const output of outputs) {
      for (const secret of secrets) expect(output).not.toContain(secret);
      for (const code of codes) expect(hasDigitRun(output, code), `a code in: ${output}`).toBe(false);
    }
  } finally {
    vi.restoreAllMocks();
    await mc.close();
    wa.reset();
  }
});

/** The newest code the fake provider made for PHONE; remembered for the leak check. */
function providerCode(fake: { lastCode(to: string): string | undefined } = mc, to = PHONE): string {
  const code = fake.lastCode(to);
  expect(code, 'the provider made no code').toMatch(/^\d{4,10}$/);
  codes.push(code!);
  return code!;
}

/** Another code of the same length, never equal to `code`. */
function wrongCode(code: string): string {
  return String((Number(code) + 1) % 10 ** code.length).padStart(code.length, '0');
}

async function refused(promise: Promise<unknown>, code: StepUpError['code']): Promise<StepUpError> {
  const error = await rejection(promise);
  errors.push(error);
  expect(error.code, error.message).toBe(code);
  return error;
}

const requestsTo = (path: 'token' | 'send' | 'validate') => mc.requests.filter((request) => request.path === path);

function mcChannel(options: Partial<MessageCentralChannelOptions> = {}) {
  return messageCentralChannel({ customerId: mc.customerId, password: mc.password, flowType: 'WHATSAPP', baseUrl: mc.baseUrl, ...options });
}

describe.each(['redis', 'memory'] as const)('hosted verify (Message Central) on the %s store', (kind) => {
  let redis: RedisFixture | undefined;

  beforeAll(async () => {
    if (kind === 'redis') redis = await redisFixture('hosted');
  });

  afterAll(async () => {
    await redis?.close();
  });

  /** A store of its own per test (facts such as "not on WhatsApp" outlive a test); Redis keys stay under the fixture's prefix. */
  let prefix = '';
  function storeFor(clock: FakeClock): ChallengeStore {
    if (kind === 'memory') return new MemoryStore({ clock });
    prefix = `${redis!.prefix}${randomBytes(4).toString('hex')}:`;
    return new RedisStore({ client: redis!.client, prefix });
  }

  function setup(options: { mc?: Partial<MessageCentralChannelOptions> } & HarnessOptions = {}): Harness {
    const { mc: channelOptions, ...rest } = options;
    const clock = rest.clock ?? fakeClock();
    const harness = makeStepUp({ channels: [mcChannel(channelOptions)], ...rest, clock, store: rest.store ?? storeFor(clock) });
    events.push(harness.events);
    return harness;
  }

  async function start(harness: Harness, input: { binding?: string } = {}) {
    return harness.stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'login', ...input });
  }

  it('R-C6: a hosted send carries no code of ours and the challenge stores none; the provider makes the code', async () => {
    const harness = setup();
    const view = await start(harness);
    expect(view).toMatchObject({ channel: 'mc-whatsapp', attemptsLeft: 5, sendsLeft: 2 });

    const [send, ...more] = requestsTo('send');
    expect(more).toEqual([]);
    expect(send!.method).toBe('POST');
    expect(Object.keys(send!.query).sort()).toEqual(['countryCode', 'customerId', 'flowType', 'mobileNumber', 'otpLength']);
    expect(send!.query).toMatchObject({ countryCode: '34', mobileNumber: PHONE_NATIONAL, flowType: 'WHATSAPP', otpLength: '6' });
    expect(requestsTo('validate')).toEqual([]);
    const code = providerCode();

    if (redis) {
      const fields = await redis.client.hgetall(`${prefix}{${view.challengeId.slice(0, 4)}}ch:${view.challengeId}`);
      // Our own code was generated before the send and dropped when the provider took over.
      expect(fields.dig).toBe('');
      expect(fields.mid).toBe(mc.lastVerificationId(PHONE));
      expect(fields.hid).toBe(`mc-whatsapp=${fields.mid}`);
      expect(Object.values(fields).some((value) => hasDigitRun(value, code))).toBe(false);
    }
    const sent = harness.events.find((event) => event.type === 'delivery.sent');
    expect(sent).toMatchObject({ channel: 'mc-whatsapp', challengeId: view.challengeId });
  });

  it("the provider's code gets a token: amr otp+mca, acr oob-whatsapp, chn mc-whatsapp, bound to the challenge", async () => {
    const harness = setup();
    const view = await start(harness, { binding: 'session-A' });
    const code = providerCode();
    const { token, claims } = await harness.stepup.verify(view.challengeId, code, { subject: SUBJECT, binding: 'session-A' });

    expect(claims).toMatchObject({
      sub: SUBJECT,
      purpose: 'login',
      cid: view.challengeId,
      chn: 'mc-whatsapp',
      acr: 'urn:whatsapp-stepup:acr:oob-whatsapp',
      amr: ['otp', 'mca'],
      sbh: expect.any(String),
    });
    await expect(harness.stepup.checkToken(token, { purpose: 'login', subject: SUBJECT })).resolves.toMatchObject({ jti: claims.jti });
    const [validate, ...more] = requestsTo('validate');
    expect(more).toEqual([]);
    expect(validate!.query).toEqual({ verificationId: mc.lastVerificationId(PHONE), code });
    expect(harness.events.filter((event) => event.type === 'verify.succeeded')).toHaveLength(1);

    // R-C3: single use. A retry of the approved code (its answer lost) is the same token, without asking the provider again;
    // another code, or the same from another session, gets nothing.
    await expect(harness.stepup.verify(view.challengeId, code, { subject: SUBJECT, binding: 'session-A' })).resolves.toMatchObject({ token, claims: { jti: claims.jti } });
    await refused(harness.stepup.verify(view.challengeId, wrongCode(code), { subject: SUBJECT, binding: 'session-A' }), 'challenge_not_found');
    await refused(harness.stepup.verify(view.challengeId, code, { subject: SUBJECT, binding: 'session-B' }), 'challenge_not_found');
    expect(requestsTo('validate')).toHaveLength(1);
  });

  it('R-D1: 702 wrong codes answer invalid_code with attemptsLeft going down; at maxAttempts the challenge locks and the provider is not asked again', async () => {
    const harness = setup({ code: { maxAttempts: 3 } });
    const view = await start(harness);
    const code = providerCode();
    const wrong = wrongCode(code);

    expect((await refused(harness.stepup.verify(view.challengeId, wrong, { subject: SUBJECT }), 'invalid_code')).details.attemptsLeft).toBe(2);
    expect((await refused(harness.stepup.verify(view.challengeId, wrong, { subject: SUBJECT }), 'invalid_code')).details.attemptsLeft).toBe(1);
    await refused(harness.stepup.verify(view.challengeId, wrong, { subject: SUBJECT }), 'too_many_attempts');
    expect(requestsTo('validate')).toHaveLength(3);

    // The right code is too late: refused by our store, the provider never hears of it.
    await refused(harness.stepup.verify(view.challengeId, code, { subject: SUBJECT }), 'too_many_attempts');
    expect(requestsTo('validate')).toHaveLength(3);
    expect(harness.events.filter((event) => event.type === 'challenge.locked')).toHaveLength(1);
    expect(harness.events.filter((event) => event.type === 'verify.succeeded')).toEqual([]);
  });

  it('R-C8: a malformed code costs an attempt and is not sent to the provider', async () => {
    const harness = setup();
    const view = await start(harness);
    providerCode();
    expect((await refused(harness.stepup.verify(view.challengeId, '12a456', { subject: SUBJECT }), 'invalid_code')).details.attemptsLeft).toBe(4);
    expect(requestsTo('validate')).toEqual([]);
  });

  it('705: a verification the provider expired answers challenge_expired, even with the right code', async () => {
    const harness = setup();
    const view = await start(harness);
    const code = providerCode();
    mc.expire(mc.lastVerificationId(PHONE)!);
    const error = await refused(harness.stepup.verify(view.challengeId, code, { subject: SUBJECT }), 'challenge_expired');
    expect(error.status).toBe(410);
    expect(harness.events.at(-1)).toMatchObject({ type: 'verify.failed', reason: 'challenge_expired' });
  });

  it('800 on validate (the provider\'s limit reached: the channel reads it as a code that can no longer be used) answers challenge_expired, never a pass', async () => {
    const harness = setup();
    const view = await start(harness);
    const code = providerCode();
    mc.respondNext('validate', { responseCode: 800 });
    await refused(harness.stepup.verify(view.challengeId, code, { subject: SUBJECT }), 'challenge_expired');
  });

  it('800 on send is a failed delivery (the next channel would be tried): delivery_failed with a single channel', async () => {
    const harness = setup();
    mc.respondNext('send', { responseCode: 800 });
    const error = await refused(start(harness), 'delivery_failed');
    expect(error.status).toBe(502);
    expect(harness.events.map((event) => event.type)).toEqual(['delivery.failed']);
  });

  it('703: a code the provider reports as already verified is refused (challenge_not_found); it neither passes nor locks', async () => {
    const harness = setup({ code: { maxAttempts: 2 } });
    const view = await start(harness);
    const code = providerCode();
    mc.respondNext('validate', { responseCode: 703 });
    await refused(harness.stepup.verify(view.challengeId, code, { subject: SUBJECT }), 'challenge_not_found');
    expect(harness.events.filter((event) => event.type === 'challenge.locked')).toEqual([]);
    // The forced 703 changed nothing at the provider: the right code, on the last attempt, still passes.
    await expect(harness.stepup.verify(view.challengeId, code, { subject: SUBJECT })).resolves.toMatchObject({ claims: { cid: view.challengeId } });
  });

  it('506 on start: rate_limited with retryAfter, and nothing is left behind', async () => {
    const harness = setup();
    mc.respondNext('send', { responseCode: 506 });
    const error = await refused(start(harness), 'rate_limited');
    expect(error.status).toBe(429);
    expect(error.details.retryAfter).toBeGreaterThan(0);
    expect(error.details.retryAfter).toBeLessThanOrEqual(60);
    expect(harness.events.map((event) => event.type)).toEqual(['delivery.failed']);
    if (redis) {
      expect((await redis.keys()).filter((key) => key.startsWith(prefix) && key.includes('}ch:'))).toEqual([]);
    }
  });

  it("506 on resend (the provider's code is still active): rate_limited with the provider's remaining time; the code sent stays valid", async () => {
    // Watches the store: the code the failed resend made (never sent) must be taken out again.
    const clock = fakeClock();
    const inner = storeFor(clock);
    const reserved: string[] = [];
    const discarded: string[] = [];
    const store = new Proxy(inner, {
      get(target, name, receiver) {
        if (name === 'reserveResend') return (id: string, owner: never, input: { digest: string }) => (reserved.push(input.digest), target.reserveResend(id, owner, input as never));
        if (name === 'discardCode') return (id: string, digest: string) => (discarded.push(digest), target.discardCode(id, digest));
        const value = Reflect.get(target, name, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const harness = setup({ store, clock });
    const view = await start(harness);
    const code = providerCode();
    harness.clock.advance(31_000); // past our cooldown; the provider's code lives 60 s of real time
    const error = await refused(harness.stepup.resend(view.challengeId, { subject: SUBJECT }), 'rate_limited');
    expect(error.details.retryAfter).toBeGreaterThan(0);
    expect(error.details.retryAfter).toBeLessThanOrEqual(60);
    expect(requestsTo('send')).toHaveLength(2);
    expect(reserved).toHaveLength(1);
    expect(discarded).toEqual(reserved);
    await expect(harness.stepup.verify(view.challengeId, code, { subject: SUBJECT })).resolves.toMatchObject({ claims: { chn: 'mc-whatsapp' } });
  });

  it('a provider timeout on validate fails closed: a 5xx error, never a token, even for the right code', async () => {
    // 800 ms: long enough for the request to reach the fake on a loaded machine (the fake checks
    // the code on arrival, then holds the answer), short beside the 3 s hold.
    const harness = setup({ mc: { timeoutMs: 800 } });
    const view = await start(harness);
    const code = providerCode();
    mc.delay(3_000);
    const error = await refused(harness.stepup.verify(view.challengeId, code, { subject: SUBJECT }), 'delivery_failed');
    expect(error.status).toBeGreaterThanOrEqual(500);
    mc.delay(0);
    expect(harness.events.filter((event) => event.type === 'verify.succeeded')).toEqual([]);

    // The provider did check that code while we waited, so it is spent there (703): still no token.
    await refused(harness.stepup.verify(view.challengeId, code, { subject: SUBJECT }), 'challenge_not_found');
    // A resend gets a new verification, whose code passes.
    harness.clock.advance(31_000);
    await harness.stepup.resend(view.challengeId, { subject: SUBJECT });
    const fresh = providerCode();
    await expect(harness.stepup.verify(view.challengeId, fresh, { subject: SUBJECT })).resolves.toMatchObject({ claims: { cid: view.challengeId } });
  });

  it('R-C3: of 50 concurrent verifies with the right code exactly one gets a token, the rest are refused', async () => {
    const harness = setup({ code: { maxAttempts: 10 } });
    const view = await start(harness);
    const code = providerCode();
    const outcomes = await Promise.allSettled(Array.from({ length: 50 }, () => harness.stepup.verify(view.challengeId, code, { subject: SUBJECT })));

    const passed = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    expect(passed).toHaveLength(1);
    const reasons = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as StepUpError] : []));
    errors.push(...reasons);
    expect(reasons).toHaveLength(49);
    for (const reason of reasons) expect(['too_many_attempts', 'challenge_not_found']).toContain(reason.code);
    // Our store reserved an attempt before each provider call: never more calls than attempts.
    expect(requestsTo('validate').length).toBeLessThanOrEqual(10);
    expect(harness.events.filter((event) => event.type === 'verify.succeeded')).toHaveLength(1);
  });

  it('R-C3: a 703 for a concurrent verify, answered before the winner\'s approval, does not lock the challenge under the winner', async () => {
    const harness = setup({ code: { maxAttempts: 2 } });
    const view = await start(harness);
    const code = providerCode();
    // Both verifies reserve an attempt (2 of 2); the provider answers the first to arrive with 703
    // and the second with its approval, in that order.
    mc.respondNext('validate', { responseCode: 703 });
    mc.delay(100);
    const outcomes = await Promise.allSettled([0, 1].map(() => harness.stepup.verify(view.challengeId, code, { subject: SUBJECT })));
    mc.delay(0);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    const [loser] = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as StepUpError] : []));
    errors.push(loser!);
    expect(loser!.code).toBe('challenge_not_found');
    expect(harness.events.filter((event) => event.type === 'challenge.locked')).toEqual([]);
  });

  it('R-C4: another subject, another binding or an unknown id is challenge_not_found, and the provider is never asked', async () => {
    const harness = setup();
    const view = await start(harness, { binding: 'session-A' });
    const code = providerCode();

    await refused(harness.stepup.verify(view.challengeId, code, { subject: 'user-2', binding: 'session-A' }), 'challenge_not_found');
    await refused(harness.stepup.verify(view.challengeId, code, { subject: SUBJECT, binding: 'session-B' }), 'challenge_not_found');
    await refused(harness.stepup.verify(view.challengeId, code, { subject: SUBJECT }), 'challenge_not_found');
    await refused(harness.stepup.verify(randomBytes(16).toString('base64url'), code, { subject: SUBJECT, binding: 'session-A' }), 'challenge_not_found');
    await refused(harness.stepup.verify('not-an-id', code, { subject: SUBJECT, binding: 'session-A' }), 'challenge_not_found');
    expect(requestsTo('validate')).toEqual([]);

    // None of those cost the owner an attempt.
    const wrong = await refused(harness.stepup.verify(view.challengeId, wrongCode(code), { subject: SUBJECT, binding: 'session-A' }), 'invalid_code');
    expect(wrong.details.attemptsLeft).toBe(4);
    await expect(harness.stepup.verify(view.challengeId, code, { subject: SUBJECT, binding: 'session-A' })).resolves.toMatchObject({ claims: { sub: SUBJECT } });
  });

  it('R-E1, R-E10: Message Central SMS after WhatsApp fails with 131026: its code verifies (amr sms), the code Meta refused does not', async () => {
    const whatsapp = whatsappCloudChannel({
      phoneNumberId: wa.phoneNumberId,
      accessToken: wa.accessToken,
      template: { name: 'login_code', language: { en: 'en_US', '*': 'en_US' } },
      baseUrl: wa.baseUrl,
    });
    const clock = fakeClock();
    const harness = makeStepUp({ clock, store: storeFor(clock), channels: [whatsapp, mcChannel({ flowType: 'SMS' })] });
    events.push(harness.events);
    wa.failNext(PHONE, { code: 131026 });

    const view = await start(harness);
    expect(view.channel).toBe('mc-sms');
    const ours = wa.requests.at(-1)!.code!;
    expect(ours).toMatch(/^\d{6}$/);
    codes.push(ours);
    expect(requestsTo('send').map((request) => request.query.flowType)).toEqual(['SMS']);
    const code = providerCode();
    expect(harness.events.map((event) => [event.type, event.channel])).toEqual([
      ['delivery.failed', 'whatsapp'],
      ['delivery.fallback', 'mc-sms'],
      ['delivery.sent', 'mc-sms'],
      ['challenge.started', 'mc-sms'],
    ]);

    // Our code reached Meta (which refused it) and was dropped when the provider took over.
    if (ours !== code) await refused(harness.stepup.verify(view.challengeId, ours, { subject: SUBJECT }), 'invalid_code');
    const { claims } = await harness.stepup.verify(view.challengeId, code, { subject: SUBJECT });
    expect(claims).toMatchObject({ chn: 'mc-sms', acr: 'urn:whatsapp-stepup:acr:oob-sms', amr: ['sms', 'mca'] });
  });

  it('a misconfigured account is reported loudly on the console, without the password, token or number', async () => {
    const harness = setup({ mc: { password: WRONG_PASSWORD } });
    await refused(start(harness), 'delivery_failed');
    const lines = consoleSpies.flatMap((spy) => spy.mock.calls.map((args) => format(...(args as unknown[]))));
    expect(lines.some((line) => line.includes("channel 'mc-whatsapp' is misconfigured"))).toBe(true);
    expect(harness.events.at(-1)).toMatchObject({ type: 'delivery.failed', reason: 'channel_misconfigured' });
  });
});
