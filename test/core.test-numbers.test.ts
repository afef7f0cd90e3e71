/**
 * `testNumbers` (docs/channels/README.md "Test numbers", README options table): numbers for app-store review and CI
 * that never receive anything and accept a fixed code. They are still challenges like any
 * other (single use, attempts counted, binding), every use is marked `testNumber: true` in
 * the events, and they are refused under NODE_ENV=production unless
 * `allowTestNumbersInProduction: true`. Real parts: the outbox, the WhatsApp and Message
 * Central channels over HTTP against their fakes, a real RedisStore and the MemoryStore.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createStepUp,
  MemoryStore,
  messageCentralChannel,
  OutboxChannel,
  RedisStore,
  whatsappCloudChannel,
  type ChallengeStore,
  type StepUpOptions,
} from '../src/index.js';
import { startFakeMessageCentral, startFakeWhatsApp, type FakeMessageCentral, type FakeWhatsApp } from '../src/testing/index.js';
import { AUDIENCE, fakeClock, ISSUER, makeStepUp, PEPPER, redisFixture, rejection, SECRET, SUBJECT, type FakeClock, type Harness, type HarnessOptions, type RedisFixture } from './core.fixtures.js';

const TEST_NUMBER = '+15005550006';
const FIXED = '424242';
const REAL = '+34612345678';

let wa: FakeWhatsApp;
let mc: FakeMessageCentral;

beforeAll(async () => {
  [wa, mc] = await Promise.all([startFakeWhatsApp(), startFakeMessageCentral()]);
});

afterAll(async () => {
  await Promise.all([wa.close(), mc.close()]);
});

afterEach(() => {
  wa.reset();
});

describe.each(['redis', 'memory'] as const)('test numbers on the %s store', (kind) => {
  let redis: RedisFixture | undefined;

  beforeAll(async () => {
    if (kind === 'redis') redis = await redisFixture('testnum');
  });

  afterAll(async () => {
    await redis?.close();
  });

  function storeFor(clock: FakeClock): ChallengeStore {
    if (kind === 'memory') return new MemoryStore({ clock });
    return new RedisStore({ client: redis!.client, prefix: `${redis!.prefix}${randomBytes(4).toString('hex')}:` });
  }

  /** The outbox first, or the real WhatsApp and Message Central channels against their fakes. */
  function setup(options: HarnessOptions & { providers?: boolean } = {}): Harness {
    const { providers, ...rest } = options;
    const clock = fakeClock();
    const channels = providers
      ? [
          whatsappCloudChannel({ phoneNumberId: wa.phoneNumberId, accessToken: wa.accessToken, template: { name: 'login_code', language: { '*': 'en_US' } }, baseUrl: wa.baseUrl }),
          messageCentralChannel({ customerId: mc.customerId, password: mc.password, flowType: 'SMS', baseUrl: mc.baseUrl }),
        ]
      : undefined;
    return makeStepUp({ clock, store: storeFor(clock), testNumbers: { [TEST_NUMBER]: FIXED }, ...(channels ? { channels } : {}), ...rest });
  }

  const start = (harness: Harness, phone = TEST_NUMBER, extra: { binding?: string } = {}) =>
    harness.stepup.start({ subject: SUBJECT, phone, purpose: 'login', ...extra });

  it('never reaches a channel: the outbox receives nothing, start and resend alike', async () => {
    const harness = setup();
    const view = await start(harness);
    expect(view).toMatchObject({ channel: 'outbox', attemptsLeft: 5 });
    harness.clock.advance(31_000);
    await harness.stepup.resend(view.challengeId, { subject: SUBJECT });
    expect(harness.outbox.messages()).toEqual([]);
    expect(harness.events.filter((event) => event.type.startsWith('delivery.'))).toEqual([
      expect.objectContaining({ type: 'delivery.sent', testNumber: true }),
    ]);

    // A real number on the same service is sent to as usual.
    await start(harness, REAL);
    expect(harness.outbox.messages()).toHaveLength(1);
  });

  it('never reaches a provider: no request to WhatsApp or Message Central (not even a token fetch)', async () => {
    const harness = setup({ providers: true });
    const before = { wa: wa.requests.length, mc: mc.requests.length };
    const view = await start(harness);
    expect(view.channel).toBe('whatsapp');
    harness.clock.advance(31_000);
    await harness.stepup.resend(view.challengeId, { subject: SUBJECT });
    await harness.stepup.resend(view.challengeId, { subject: SUBJECT, channel: 'mc-sms' }).catch(() => undefined);
    await expect(harness.stepup.verify(view.challengeId, FIXED, { subject: SUBJECT })).resolves.toMatchObject({ claims: { sub: SUBJECT } });
    expect({ wa: wa.requests.length, mc: mc.requests.length }).toEqual(before);
  });

  it('R-C3: the fixed code issues one token per challenge (a retry is that token), and again on a new challenge', async () => {
    const harness = setup();
    const view = await start(harness, TEST_NUMBER, { binding: 'session-A' });
    const { token, claims } = await harness.stepup.verify(view.challengeId, FIXED, { subject: SUBJECT, binding: 'session-A' });
    expect(claims).toMatchObject({ sub: SUBJECT, purpose: 'login', cid: view.challengeId, chn: 'outbox', amr: ['otp', 'mca'], sbh: expect.any(String) });
    await expect(harness.stepup.checkToken(token, { purpose: 'login', subject: SUBJECT })).resolves.toMatchObject({ jti: claims.jti });

    await expect(harness.stepup.verify(view.challengeId, FIXED, { subject: SUBJECT, binding: 'session-A' })).resolves.toMatchObject({ token, claims: { jti: claims.jti } });
    expect((await rejection(harness.stepup.verify(view.challengeId, FIXED, { subject: SUBJECT, binding: 'session-B' }))).code).toBe('challenge_not_found');

    const again = await start(harness);
    await expect(harness.stepup.verify(again.challengeId, FIXED, { subject: SUBJECT })).resolves.toMatchObject({ claims: { cid: again.challengeId } });
  });

  it('R-C4: the fixed code does not open another subject\'s or another session\'s challenge', async () => {
    const harness = setup();
    const view = await start(harness, TEST_NUMBER, { binding: 'session-A' });
    expect((await rejection(harness.stepup.verify(view.challengeId, FIXED, { subject: 'user-2', binding: 'session-A' }))).code).toBe('challenge_not_found');
    expect((await rejection(harness.stepup.verify(view.challengeId, FIXED, { subject: SUBJECT, binding: 'session-B' }))).code).toBe('challenge_not_found');
  });

  it('R-D1: a wrong code counts an attempt like any other, and the challenge locks at maxAttempts', async () => {
    const harness = setup({ code: { maxAttempts: 3 } });
    const view = await start(harness);
    const wrong = (await rejection(harness.stepup.verify(view.challengeId, '000000', { subject: SUBJECT })));
    expect(wrong).toMatchObject({ code: 'invalid_code', details: { attemptsLeft: 2 } });
    expect((await rejection(harness.stepup.verify(view.challengeId, '424243', { subject: SUBJECT }))).details.attemptsLeft).toBe(1);
    expect((await rejection(harness.stepup.verify(view.challengeId, '12a456', { subject: SUBJECT }))).code).toBe('too_many_attempts');
    expect((await rejection(harness.stepup.verify(view.challengeId, FIXED, { subject: SUBJECT }))).code).toBe('too_many_attempts');
    expect(harness.events.filter((event) => event.type === 'challenge.locked')).toHaveLength(1);
  });

  it('a test number is no free pass on a real number: the fixed code fails there', async () => {
    const harness = setup();
    const view = await start(harness, REAL);
    const error = await rejection(harness.stepup.verify(view.challengeId, FIXED, { subject: SUBJECT }));
    // (Unless the outbox happened to draw the same code, one in a million.)
    if (harness.outbox.latest(REAL)!.code !== FIXED) expect(error.code).toBe('invalid_code');
  });

  it('every start, resend and successful verify emits an event marked testNumber: true; real numbers are never marked', async () => {
    const harness = setup();
    const view = await start(harness);
    harness.clock.advance(31_000);
    await harness.stepup.resend(view.challengeId, { subject: SUBJECT });
    await harness.stepup.verify(view.challengeId, FIXED, { subject: SUBJECT });
    const marked = harness.events.filter((event) => event.testNumber === true).map((event) => event.type);
    expect(marked).toEqual(['challenge.started', 'delivery.sent', 'verify.succeeded']);
    for (const event of harness.events) expect(event.challengeId).toBe(view.challengeId);
    // The masked number only, never the number or the code.
    expect(JSON.stringify(harness.events)).not.toContain(TEST_NUMBER.slice(1));
    expect(JSON.stringify(harness.events)).not.toContain(FIXED);

    const real = await start(harness, REAL);
    await harness.stepup.verify(real.challengeId, harness.outbox.latest(REAL)!.code, { subject: SUBJECT });
    expect(harness.events.filter((event) => event.challengeId === real.challengeId && event.testNumber !== undefined)).toEqual([]);
  });

  it('a failed verify and the lock on a test number are marked testNumber: true as well', async () => {
    const harness = setup();
    const view = await start(harness);
    await rejection(harness.stepup.verify(view.challengeId, '000000', { subject: SUBJECT }));
    expect(harness.events.at(-1)).toMatchObject({ type: 'verify.failed', reason: 'invalid_code', testNumber: true });
    for (let i = 0; i < 4; i++) await rejection(harness.stepup.verify(view.challengeId, '000000', { subject: SUBJECT }));
    expect(harness.events.slice(-2)).toMatchObject([
      { type: 'verify.failed', reason: 'too_many_attempts', testNumber: true },
      { type: 'challenge.locked', testNumber: true },
    ]);
  });
});

describe('testNumbers options', () => {
  const base = (): StepUpOptions => ({
    store: new MemoryStore(),
    channels: [new OutboxChannel()],
    tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET },
    pepper: PEPPER,
  });

  describe('under NODE_ENV=production', () => {
    beforeEach(() => {
      vi.stubEnv('NODE_ENV', 'production');
    });
    afterEach(() => {
      vi.unstubAllEnvs();
    });

    it('are refused without allowTestNumbersInProduction, with a message that says how to fix it', () => {
      const options = { ...base(), allowMemoryStoreInProduction: true, allowOutboxInProduction: true, testNumbers: { [TEST_NUMBER]: FIXED } };
      expect(() => createStepUp(options)).toThrow(TypeError);
      expect(() => createStepUp(options)).toThrow(/`testNumbers`.*NODE_ENV=production.*Remove them, or pass allowTestNumbersInProduction: true/);
      expect(() => createStepUp({ ...options, allowTestNumbersInProduction: false })).toThrow(/allowTestNumbersInProduction: true/);
    });

    it('are accepted with allowTestNumbersInProduction: true, and work', async () => {
      const outbox = new OutboxChannel();
      const stepup = createStepUp({ ...base(), channels: [outbox], allowMemoryStoreInProduction: true, allowOutboxInProduction: true, testNumbers: { [TEST_NUMBER]: FIXED }, allowTestNumbersInProduction: true });
      const view = await stepup.start({ subject: SUBJECT, phone: TEST_NUMBER, purpose: 'login' });
      await expect(stepup.verify(view.challengeId, FIXED, { subject: SUBJECT })).resolves.toMatchObject({ claims: { sub: SUBJECT } });
      expect(outbox.messages()).toEqual([]);
    });

    it('a service without testNumbers needs no such option', () => {
      expect(() => createStepUp({ ...base(), allowMemoryStoreInProduction: true, allowOutboxInProduction: true })).not.toThrow();
    });
  });

  it('allowTestNumbersInProduction must be a boolean', () => {
    expect(() => createStepUp({ ...base(), allowTestNumbersInProduction: 'yes' as unknown as boolean })).toThrow(/`allowTestNumbersInProduction` must be true or false/);
  });

  it.each([
    ['an array', [TEST_NUMBER]],
    ['a string', TEST_NUMBER],
    ['null', null],
  ])('testNumbers as %s is refused with an example', (_, testNumbers) => {
    expect(() => createStepUp({ ...base(), testNumbers: testNumbers as unknown as Record<string, string> })).toThrow(
      /`testNumbers` must be an object of E.164 number to fixed code, such as \{ '\+15005550006': '123456' \}/,
    );
  });

  it.each([
    ['not a number', 'call-me'],
    ['national format without phones.defaultCountry', '612345678'],
    ['too short for its country', '+3461234'],
    ['an unassigned range', '+15555550100'],
  ])('a key that is %s is refused, named by its last two characters, asking for E.164', (_, key) => {
    const run = () => createStepUp({ ...base(), testNumbers: { [REAL]: FIXED, [key]: FIXED } });
    expect(run).toThrow(TypeError);
    expect(run).toThrow(`\`testNumbers\` key '…${key.slice(-2)}' is not a valid phone number; use E.164 such as '+15005550006'.`);
  });

  it('a national number is accepted with phones.defaultCountry and matches its E.164 form', async () => {
    const outbox = new OutboxChannel();
    const stepup = createStepUp({ ...base(), channels: [outbox], phones: { defaultCountry: 'ES' }, testNumbers: { '612 345 678': FIXED } });
    const view = await stepup.start({ subject: SUBJECT, phone: REAL, purpose: 'login' });
    await expect(stepup.verify(view.challengeId, FIXED, { subject: SUBJECT })).resolves.toBeDefined();
    expect(outbox.messages()).toEqual([]);
  });

  it('the same number twice (after normalizing) is refused', () => {
    expect(() => createStepUp({ ...base(), testNumbers: { [REAL]: '111111', '+34 612 34 56 78': '222222' } })).toThrow(
      "`testNumbers` key '…78' is the same number as an earlier key (after normalizing to E.164); give each number once.",
    );
  });

  it('a number outside phones.allowCountries is refused, saying so', () => {
    expect(() => createStepUp({ ...base(), phones: { allowCountries: ['ES'] }, testNumbers: { [REAL]: FIXED, [TEST_NUMBER]: FIXED } })).toThrow(
      /`testNumbers` key '…06' is in a country missing from `phones.allowCountries`/,
    );
    expect(() => createStepUp({ ...base(), phones: { allowCountries: ['ES', 'US'] }, testNumbers: { [REAL]: FIXED, [TEST_NUMBER]: FIXED } })).not.toThrow();
  });

  it.each([
    ['too short', '12345', undefined],
    ['too long', '1234567', undefined],
    ['not digits', '12a456', undefined],
    ['a number, not a string', 424242, undefined],
    ['of the default length when code.length is 8', '424242', 8],
  ])('R-C1: a fixed code %s is refused with the length to use', (_, code, length) => {
    const digits = length ?? 6;
    const run = () =>
      createStepUp({ ...base(), ...(length ? { code: { length } } : {}), testNumbers: { [TEST_NUMBER]: code as unknown as string } });
    expect(run).toThrow(TypeError);
    expect(run).toThrow(`\`testNumbers\` codes must be strings of exactly ${digits} digits (\`code.length\`), such as '${'1'.repeat(digits)}'; the code of key '…06' is not.`);
    // The message never repeats the code.
    try {
      run();
    } catch (error) {
      expect(String((error as Error).message)).not.toContain(String(code));
    }
  });

  it('a fixed code of code.length digits is accepted at any length', () => {
    expect(() => createStepUp({ ...base(), code: { length: 8 }, testNumbers: { [TEST_NUMBER]: '42424242' } })).not.toThrow();
    expect(() => createStepUp({ ...base(), code: { length: 10 }, testNumbers: { [TEST_NUMBER]: '4242424242' } })).not.toThrow();
  });
});
