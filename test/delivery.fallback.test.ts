/**
 * Delivery and fallback end to end: `createStepUp` with the real provider clients
 * (`whatsappCloudChannel`, `twilioChannel`) pointed at the local provider fakes, on a
 * real Redis store (a fresh key prefix per test) and on the MemoryStore. Nothing is
 * mocked: every send is an HTTP request that the fakes hold to the providers' own
 * schemas, and every secret, code and number that passes through is checked against
 * what the library lets out (events, console, errors).
 */
import { inspect } from 'node:util';
import { Redis } from 'ioredis';
import { afterEach, beforeAll, beforeEach, describe, expect, it, test, vi, type MockInstance } from 'vitest';
import {
  createStepUp,
  MemoryStore,
  RedisStore,
  type ChallengeStore,
  type ChallengeView,
  type StepUp,
  type StepUpError,
  type StepUpEvent,
  type StepUpOptions,
} from '../src/index.js';
import { twilioChannel } from '../src/channels/twilio.js';
import { whatsappCloudChannel } from '../src/channels/whatsapp-cloud.js';
import { parseWhatsAppStatusWebhook, type WhatsAppStatusUpdate } from '../src/channels/whatsapp-webhook.js';
import { startFakeTwilio, startFakeWhatsApp, type FakeTwilio, type FakeWhatsApp } from '../src/testing/index.js';
import { codeIn } from '../src/testing/fake-twilio-parts.js';
import {
  AUDIENCE, fakeClock, hasDigitRun, ISSUER, PEPPER, PHONE, PHONE_NATIONAL, redisFixture, rejection, SECRET, SUBJECT,
  type FakeClock, type RedisFixture,
} from './core.fixtures.js';
import { metaValidators } from './support/meta-spec.js';
import { redisUrl } from './support/redis.js';
import { createTwilioSpecValidators, type TwilioSpecValidators } from './support/twilio-spec.js';

const SENDER = '+15005550006';
const CONTENT_SID = `HX${'2'.repeat(32)}`;
const MASKED = '+34 •••••••78';
const ACR = 'urn:whatsapp-stepup:acr:oob-';
/** Every form in which the full number could leak. */
const NUMBER_FORMS = [PHONE, PHONE.slice(1), PHONE_NATIONAL];

type ChannelName = 'whatsapp' | 'whatsapp-twilio' | 'sms';

// ---- What left the library, for the secret checks (R-C9, R-M1) ------------------------

interface Seen {
  events: StepUpEvent[];
  /** Every console.error/warn/log/info/debug call, its arguments rendered. */
  logs: { method: string; text: string }[];
  /** Message, JSON and inspection of every error the library threw at a caller. */
  errors: string[];
}

/** This test's output; each test's is checked in afterEach and kept for the final sweep. */
let seen: Seen;
const allSeen: Seen = { events: [], logs: [], errors: [] };
/** Secrets and codes of every test, for the final sweep. */
const allForbidden = new Set<string>();
const allCodes = new Set<string>();
let consoleSpies: MockInstance[] = [];

// ---- Provider fakes and cleanup -------------------------------------------------------

let twilioSpec: TwilioSpecValidators;
let wa: FakeWhatsApp;
let twilio: FakeTwilio;
/** Extra secrets of this test (a wrong access token, say). */
let extraSecrets: string[];
let cleanups: (() => Promise<void> | void)[];

beforeAll(() => {
  twilioSpec = createTwilioSpecValidators();
});

beforeEach(async () => {
  seen = { events: [], logs: [], errors: [] };
  extraSecrets = [];
  cleanups = [];
  consoleSpies = (['error', 'warn', 'log', 'info', 'debug'] as const).map((method) =>
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      seen.logs.push({ method, text: args.map((arg) => (typeof arg === 'string' ? arg : inspect(arg, { depth: 5 }))).join(' ') });
    }),
  );
  wa = await startFakeWhatsApp({ validate: metaValidators().fake });
  twilio = await startFakeTwilio({ validate: twilioSpec.validate });
});

afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  for (const spy of consoleSpies) spy.mockRestore();
  const forbidden = secretsOfThisTest();
  const codes = codesSent();
  await wa.close();
  await twilio.close();

  // Both fakes held every request and their own answers to the providers' schemas.
  expect(wa.problems()).toEqual([]);
  expect(twilio.violations).toEqual([]);
  expect(leaks(seen, forbidden, codes)).toEqual([]);

  allSeen.events.push(...seen.events);
  allSeen.logs.push(...seen.logs);
  allSeen.errors.push(...seen.errors);
  for (const secret of forbidden) allForbidden.add(secret);
  for (const code of codes) allCodes.add(code);
});

function secretsOfThisTest(): string[] {
  return [
    wa.accessToken,
    twilio.authToken,
    Buffer.from(`${twilio.accountSid}:${twilio.authToken}`).toString('base64'),
    PEPPER,
    SECRET,
    ...extraSecrets,
    ...NUMBER_FORMS,
  ];
}

/** Every code either fake was asked to deliver, accepted or not. */
function codesSent(): string[] {
  const codes = wa.requests.map((request) => request.code);
  for (const request of twilio.requests) {
    const text = (name: string) => (typeof request.params[name] === 'string' ? (request.params[name] as string) : null);
    codes.push(codeIn({
      sid: '', to: text('To') ?? '', from: null, messagingServiceSid: null, body: text('Body'),
      contentSid: text('ContentSid'), contentVariables: text('ContentVariables'), statusCallback: null,
    }));
  }
  return [...new Set(codes.filter((code): code is string => typeof code === 'string' && code !== ''))];
}

function leaks(output: Seen, forbidden: Iterable<string>, codes: Iterable<string>): string[] {
  const texts = [
    ...output.events.map((event) => `event ${JSON.stringify(event)}`),
    ...output.logs.map((log) => `console.${log.method} ${log.text}`),
    ...output.errors.map((error) => `error ${error}`),
  ];
  const found: string[] = [];
  for (const text of texts) {
    for (const secret of forbidden) if (text.includes(secret)) found.push(`${text.slice(0, 120)} … holds a secret or the number`);
    for (const code of codes) if (hasDigitRun(text, code)) found.push(`${text.slice(0, 120)} … holds a code that was sent`);
  }
  return found;
}

/** A rejection the library raised at a caller, recorded for the secret checks. */
async function failure(promise: Promise<unknown>): Promise<StepUpError> {
  const error = await rejection(promise);
  seen.errors.push(`${error.message} ${JSON.stringify(error)} ${inspect(error, { depth: 5 })}`);
  return error;
}

// ---- The system under test --------------------------------------------------------------

function channel(name: ChannelName, overrides: { accessToken?: string } = {}) {
  switch (name) {
    case 'whatsapp':
      return whatsappCloudChannel({
        phoneNumberId: wa.phoneNumberId,
        accessToken: overrides.accessToken ?? wa.accessToken,
        template: { name: 'login_code', language: { en: 'en_US', '*': 'en_US' } },
        baseUrl: wa.baseUrl,
      });
    case 'whatsapp-twilio':
      return twilioChannel({
        kind: 'whatsapp', baseUrl: twilio.baseUrl, accountSid: twilio.accountSid, authToken: twilio.authToken,
        from: `whatsapp:${SENDER}`, contentSid: CONTENT_SID,
      });
    case 'sms':
      return twilioChannel({ kind: 'sms', baseUrl: twilio.baseUrl, accountSid: twilio.accountSid, authToken: twilio.authToken, from: SENDER });
  }
}

interface Instance {
  stepup: StepUp;
  events: StepUpEvent[];
}

interface World {
  clock: FakeClock | undefined;
  store: ChallengeStore;
  /** Redis only: the fixture behind `store`. */
  redis: RedisFixture | undefined;
  /**
   * A service on this world's store (on Redis, each instance after the first gets its
   * own client and RedisStore on the same prefix, like another process would).
   */
  instance(options?: InstanceOptions): Instance;
}

interface InstanceOptions {
  channels?: ChannelName[];
  accessToken?: string;
  sends?: StepUpOptions['sends'];
  /** Stop the fallback timer at once, so that only the test runs due fallbacks. */
  noWorker?: boolean;
}

type StoreKind = 'redis' | 'memory';

async function makeWorld(kind: StoreKind, { realClock = false } = {}): Promise<World> {
  const clock = realClock ? undefined : fakeClock();
  let redis: RedisFixture | undefined;
  let store: ChallengeStore;
  if (kind === 'redis') {
    redis = await redisFixture('delivery');
    const fixture = redis;
    cleanups.push(() => fixture.close());
    store = redis.store;
  } else {
    store = clock ? new MemoryStore({ clock }) : new MemoryStore();
  }
  let instances = 0;
  return {
    clock,
    store,
    redis,
    instance(options = {}) {
      let own = store;
      if (redis && instances > 0) {
        const client = new Redis(redisUrl(), { enableOfflineQueue: true, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false });
        client.on('error', () => undefined);
        cleanups.push(() => client.disconnect());
        own = new RedisStore({ client, prefix: redis.prefix });
      }
      instances += 1;
      const events: StepUpEvent[] = [];
      const stepup = createStepUp({
        store: own,
        channels: (options.channels ?? ['whatsapp', 'sms']).map((name) => channel(name, { ...(options.accessToken ? { accessToken: options.accessToken } : {}) })),
        tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET },
        pepper: PEPPER,
        webOtpDomain: 'app.example.test',
        onEvent: (event) => {
          events.push(event);
          seen.events.push(event);
        },
        ...(options.sends ? { sends: options.sends } : {}),
        ...(clock ? { clock } : {}),
      });
      cleanups.push(() => stepup.close());
      if (options.noWorker) stepup.close();
      return { stepup, events };
    },
  };
}

const start = (instance: Instance, input: { channel?: string } = {}) =>
  instance.stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'login', ...input });

const verify = (instance: Instance, challengeId: string, code: string | undefined) =>
  instance.stepup.verify(challengeId, code, { subject: SUBJECT });

function channelsOf(view: ChallengeView): Record<string, { current: boolean; available: boolean }> {
  return Object.fromEntries(view.channels.map((entry) => [entry.name, { current: entry.current, available: entry.available }]));
}

const smsMessages = () => twilio.messages.filter((message) => !message.to.startsWith('whatsapp:'));
const smsCode = () => {
  const message = smsMessages().at(-1);
  return message && codeIn(message);
};
const waCode = () => wa.lastCode(PHONE);
const waMessageId = (): string => {
  const id = wa.lastMessageId(PHONE);
  expect(id, 'the WhatsApp fake accepted no message').toMatch(/^wamid\./);
  return id!;
};
/** A `failed` status as Meta would post it, read by our own webhook parser. */
function failedWebhook(messageId: string, errorCode: number): WhatsAppStatusUpdate {
  const updates = parseWhatsAppStatusWebhook(JSON.parse(JSON.stringify(wa.statusPayload({ messageId, status: 'failed', errorCode }))));
  expect(updates).toHaveLength(1);
  return updates[0]!;
}
const ofType = (events: StepUpEvent[], type: StepUpEvent['type']) => events.filter((event) => event.type === type);

/** Every key under the world's prefix with everything it holds, as text. */
async function dumpRedis(fixture: RedisFixture): Promise<{ key: string; content: string; pttl: number }[]> {
  const dump = [];
  for (const key of await fixture.keys()) {
    const type = await fixture.client.type(key);
    let content: unknown;
    if (type === 'string') content = await fixture.client.get(key);
    else if (type === 'hash') content = await fixture.client.hgetall(key);
    else if (type === 'zset') content = await fixture.client.zrange(key, '0', '-1', 'WITHSCORES');
    else if (type === 'set') content = await fixture.client.smembers(key);
    else if (type === 'list') content = await fixture.client.lrange(key, 0, -1);
    else content = `(${type})`;
    dump.push({ key, content: JSON.stringify(content), pttl: await fixture.client.pttl(key) });
  }
  return dump;
}

// ---- The scenarios, on each store -------------------------------------------------------

describe.each(['redis', 'memory'] as const)('on the %s store', (kind) => {
  describe('success by each channel', () => {
    it.each([
      { requested: undefined, carried: 'whatsapp', transport: 'whatsapp', amr: 'otp' },
      { requested: 'whatsapp-twilio', carried: 'whatsapp-twilio', transport: 'whatsapp', amr: 'otp' },
      { requested: 'sms', carried: 'sms', transport: 'sms', amr: 'sms' },
    ] as const)('R-E1 the code $carried carried verifies, and the view and token name that channel', async ({ requested, carried, transport, amr }) => {
      const world = await makeWorld(kind);
      const a = world.instance({ channels: ['whatsapp', 'whatsapp-twilio', 'sms'] });
      const view = await start(a, requested ? { channel: requested } : {});

      expect(view.channel).toBe(carried);
      expect(view.to).toBe(MASKED);
      expect(channelsOf(view)).toEqual({
        whatsapp: { current: carried === 'whatsapp', available: true },
        'whatsapp-twilio': { current: carried === 'whatsapp-twilio', available: true },
        sms: { current: carried === 'sms', available: true },
      });

      let code: string | undefined;
      if (carried === 'whatsapp') {
        expect(wa.requests).toHaveLength(1);
        expect(twilio.requests).toHaveLength(0);
        code = waCode();
      } else {
        expect(wa.requests).toHaveLength(0);
        expect(twilio.messages).toHaveLength(1);
        const message = twilio.messages[0]!;
        if (carried === 'whatsapp-twilio') {
          expect(message.to).toBe(`whatsapp:${PHONE}`);
          expect(message.contentSid).toBe(CONTENT_SID);
          expect(message.body).toBeNull();
          code = twilio.lastCode(`whatsapp:${PHONE}`);
        } else {
          expect(message.to).toBe(PHONE);
          expect(message.body).toMatch(/\n@app\.example\.test #\d{6}$/);
          code = smsCode();
        }
      }
      expect(code).toMatch(/^\d{6}$/);

      const result = await verify(a, view.challengeId, code);
      expect(result.token).toEqual(expect.any(String));
      expect(result.claims.chn).toBe(carried);
      expect(result.claims.acr).toBe(`${ACR}${transport}`);
      expect(result.claims.amr[0]).toBe(amr);
      expect(ofType(a.events, 'delivery.sent')).toMatchObject([{ channel: carried, to: MASKED }]);
    });
  });

  test('R-E10 131026 from WhatsApp sends by SMS at once, and the SMS code verifies with SMS acr/amr', async () => {
    const world = await makeWorld(kind);
    const a = world.instance();
    wa.failNext(PHONE, { code: 131026 });
    const view = await start(a);

    expect(view.channel).toBe('sms');
    expect(wa.requests).toHaveLength(1);
    expect(wa.requests[0]!.status).toBe(400);
    expect(smsMessages()).toHaveLength(1);
    expect(ofType(a.events, 'delivery.failed')).toMatchObject([{ channel: 'whatsapp', reason: 'delivery_failed', to: MASKED }]);
    expect(ofType(a.events, 'delivery.fallback')).toMatchObject([{ channel: 'sms', challengeId: view.challengeId }]);
    expect(ofType(a.events, 'delivery.sent')).toMatchObject([{ channel: 'sms' }]);
    // The number has no WhatsApp: the view offers SMS only from now on.
    expect(channelsOf(view)).toEqual({ whatsapp: { current: false, available: false }, sms: { current: true, available: true } });

    const result = await verify(a, view.challengeId, smsCode());
    expect(result.claims.acr).toBe(`${ACR}sms`);
    expect(result.claims.amr).toContain('sms');
    expect(result.claims.chn).toBe('sms');
  });

  test('R-J12 a number without WhatsApp is remembered under a keyed hash: the next start goes straight to SMS', async () => {
    const world = await makeWorld(kind);
    const a = world.instance();
    wa.failNext(PHONE, { code: 131026 });
    await start(a);
    expect(wa.requests).toHaveLength(1);

    // Another instance on the same store knows it too.
    const b = world.instance();
    const second = await start(b);
    expect(second.channel).toBe('sms');
    expect(wa.requests).toHaveLength(1);
    expect(smsMessages()).toHaveLength(2);
    expect(channelsOf(second)).toEqual({ whatsapp: { current: false, available: false }, sms: { current: true, available: true } });
    expect(ofType(b.events, 'delivery.failed')).toEqual([]);
    expect(ofType(b.events, 'delivery.fallback')).toEqual([]);

    // A resend also skips WhatsApp and still says so.
    world.clock!.advance(31_000);
    const resent = await b.stepup.resend(second.challengeId, { subject: SUBJECT });
    expect(resent.channel).toBe('sms');
    expect(wa.requests).toHaveLength(1);
    expect(channelsOf(resent).whatsapp).toEqual({ current: false, available: false });
    await expect(verify(b, second.challengeId, smsCode())).resolves.toMatchObject({ token: expect.any(String) });

    if (world.redis) {
      const dump = await dumpRedis(world.redis);
      expect(dump.some(({ key }) => key.startsWith(`${world.redis!.prefix}fact:{nowa:`))).toBe(true);
      for (const { key, content, pttl } of dump) {
        for (const form of NUMBER_FORMS) {
          expect(key, 'a key name holds the number').not.toContain(form);
          expect(content, `the value of ${key} holds the number`).not.toContain(form);
        }
        // R-J11: nothing lives for ever.
        expect(pttl, `${key} has no TTL`).toBeGreaterThan(0);
      }
    }
  });

  test('a 131026 skips every WhatsApp channel at once, in the same send', async () => {
    const world = await makeWorld(kind);
    const a = world.instance({ channels: ['whatsapp', 'whatsapp-twilio', 'sms'] });
    wa.failNext(PHONE, { code: 131026 });
    const view = await start(a);

    expect(view.channel).toBe('sms');
    expect(twilio.requests.map((request) => request.params.To)).toEqual([PHONE]);
    expect(channelsOf(view)).toEqual({
      whatsapp: { current: false, available: false },
      'whatsapp-twilio': { current: false, available: false },
      sms: { current: true, available: true },
    });
    expect(ofType(a.events, 'delivery.fallback')).toMatchObject([{ channel: 'sms' }]);
    await expect(verify(a, view.challengeId, smsCode())).resolves.toMatchObject({ token: expect.any(String) });
  });

  test('a 131026 in a failed-status webhook is remembered too', async () => {
    const world = await makeWorld(kind);
    const a = world.instance();
    await start(a);
    await expect(a.stepup.handleDeliveryStatus(failedWebhook(waMessageId(), 131026))).resolves.toBe('fell_back');
    expect(smsMessages()).toHaveLength(1);

    const next = await start(a);
    expect(next.channel).toBe('sms');
    expect(wa.requests).toHaveLength(1);
    expect(channelsOf(next).whatsapp).toEqual({ current: false, available: false });
  });

  describe('failed-status webhook after WhatsApp accepted', () => {
    test('R-E10 SMS goes once with a new code; the WhatsApp code is dead; repeats and a late delivered change nothing', async () => {
      const world = await makeWorld(kind);
      const a = world.instance();
      const view = await start(a);
      expect(view.channel).toBe('whatsapp');
      const whatsappCode = waCode()!;
      const wamid = waMessageId();
      const update = failedWebhook(wamid, 131049);
      world.clock!.advance(2_000);

      await expect(a.stepup.handleDeliveryStatus(update)).resolves.toBe('fell_back');
      expect(smsMessages()).toHaveLength(1);
      const code = smsCode()!;
      expect(code).not.toBe(whatsappCode);
      expect(ofType(a.events, 'delivery.status')).toMatchObject([{ status: 'failed', channel: 'whatsapp', latencyMs: 2_000, to: MASKED }]);
      expect(ofType(a.events, 'delivery.fallback')).toMatchObject([{ channel: 'sms', reason: 'delivery_failed' }]);

      // The same webhook again, the same status without the parser, and a late `delivered`.
      await expect(a.stepup.handleDeliveryStatus(update)).resolves.toBe('ignored');
      await expect(a.stepup.handleDeliveryStatus({ messageId: wamid, status: 'failed', errorCodes: [131049] })).resolves.toBe('ignored');
      await expect(a.stepup.handleDeliveryStatus({ messageId: wamid, status: 'delivered' })).resolves.toBe('ignored');
      await expect(a.stepup.handleDeliveryStatus({ messageId: wamid, status: 'read' })).resolves.toBe('ignored');
      expect(smsMessages()).toHaveLength(1);
      expect(wa.requests).toHaveLength(1);

      const wrong = await failure(verify(a, view.challengeId, whatsappCode));
      expect(wrong.code).toBe('invalid_code');
      const result = await verify(a, view.challengeId, code);
      expect(result.claims.chn).toBe('sms');
      expect(result.claims.acr).toBe(`${ACR}sms`);
    });

    test('R-E10 the same failed status applied concurrently through two instances sends exactly one SMS', async () => {
      const world = await makeWorld(kind);
      const a = world.instance();
      const b = world.instance();
      const view = await start(a);
      const whatsappCode = waCode()!;
      const update = failedWebhook(waMessageId(), 131049);

      const outcomes = await Promise.all([a.stepup.handleDeliveryStatus(update), b.stepup.handleDeliveryStatus(update)]);
      expect(outcomes.sort()).toEqual(['fell_back', 'ignored']);
      expect(smsMessages()).toHaveLength(1);
      expect([...a.events, ...b.events].filter((event) => event.type === 'delivery.fallback')).toHaveLength(1);

      expect((await failure(verify(b, view.challengeId, whatsappCode))).code).toBe('invalid_code');
      await expect(verify(b, view.challengeId, smsCode())).resolves.toMatchObject({ token: expect.any(String) });
    });
  });

  describe('sends.fallbackAfter', () => {
    test('R-E10 past the due time, two instances running due fallbacks at once send one SMS with a new code', async () => {
      const world = await makeWorld(kind);
      const a = world.instance({ sends: { fallbackAfter: '20s' }, noWorker: true });
      const b = world.instance({ sends: { fallbackAfter: '20s' }, noWorker: true });
      const view = await start(a);
      const whatsappCode = waCode()!;

      world.clock!.advance(19_000);
      expect(await Promise.all([a.stepup.runDueFallbacks(), b.stepup.runDueFallbacks()])).toEqual([0, 0]);
      expect(twilio.requests).toHaveLength(0);

      world.clock!.advance(1_001);
      const sent = await Promise.all([a.stepup.runDueFallbacks(), b.stepup.runDueFallbacks()]);
      expect(sent[0] + sent[1]).toBe(1);
      expect(smsMessages()).toHaveLength(1);
      expect([...a.events, ...b.events].filter((event) => event.type === 'delivery.fallback')).toMatchObject([{ channel: 'sms', reason: 'fallback_timeout' }]);

      // Nothing is due any more, and a late webhook for the WhatsApp message changes nothing.
      world.clock!.advance(60_000);
      expect(await Promise.all([a.stepup.runDueFallbacks(), b.stepup.runDueFallbacks()])).toEqual([0, 0]);
      await expect(b.stepup.handleDeliveryStatus({ messageId: waMessageId(), status: 'failed', errorCodes: [131049] })).resolves.toBe('ignored');
      expect(twilio.requests).toHaveLength(1);

      expect((await failure(verify(a, view.challengeId, whatsappCode))).code).toBe('invalid_code');
      await expect(verify(b, view.challengeId, smsCode())).resolves.toMatchObject({ token: expect.any(String) });
    });

    test('a delivered status before the due time means no SMS, ever', async () => {
      const world = await makeWorld(kind);
      const a = world.instance({ sends: { fallbackAfter: '20s' }, noWorker: true });
      const b = world.instance({ sends: { fallbackAfter: '20s' }, noWorker: true });
      const view = await start(a);
      const wamid = waMessageId();

      world.clock!.advance(5_000);
      await expect(b.stepup.handleDeliveryStatus({ messageId: wamid, status: 'delivered' })).resolves.toBe('applied');
      world.clock!.advance(20_000);
      expect(await Promise.all([a.stepup.runDueFallbacks(), b.stepup.runDueFallbacks()])).toEqual([0, 0]);
      // Statuses only move forward: a `failed` after `delivered` is ignored.
      await expect(a.stepup.handleDeliveryStatus({ messageId: wamid, status: 'failed', errorCodes: [131000] })).resolves.toBe('ignored');
      world.clock!.advance(120_000);
      expect(await Promise.all([a.stepup.runDueFallbacks(), b.stepup.runDueFallbacks()])).toEqual([0, 0]);
      expect(twilio.requests).toHaveLength(0);

      await expect(verify(a, view.challengeId, waCode())).resolves.toMatchObject({ token: expect.any(String) });
    });

    test('R-E10 a sent status is not delivered: the fallback still happens', async () => {
      const world = await makeWorld(kind);
      const a = world.instance({ sends: { fallbackAfter: '20s' }, noWorker: true });
      const view = await start(a);

      world.clock!.advance(1_000);
      await expect(a.stepup.handleDeliveryStatus({ messageId: waMessageId(), status: 'sent' })).resolves.toBe('applied');
      world.clock!.advance(19_500);
      await expect(a.stepup.runDueFallbacks()).resolves.toBe(1);
      expect(smsMessages()).toHaveLength(1);
      await expect(verify(a, view.challengeId, smsCode())).resolves.toMatchObject({ token: expect.any(String) });
    });

    test('a failed webhook and the due timer racing on two instances still send once', async () => {
      const world = await makeWorld(kind);
      const a = world.instance({ sends: { fallbackAfter: '20s' }, noWorker: true });
      const b = world.instance({ sends: { fallbackAfter: '20s' }, noWorker: true });
      await start(a);
      const update = failedWebhook(waMessageId(), 131049);
      world.clock!.advance(20_001);

      await Promise.all([a.stepup.runDueFallbacks(), b.stepup.handleDeliveryStatus(update)]);
      expect(smsMessages()).toHaveLength(1);
      expect(await Promise.all([a.stepup.runDueFallbacks(), b.stepup.runDueFallbacks()])).toEqual([0, 0]);
      expect(smsMessages()).toHaveLength(1);
    });

    test('with real timers, the background worker sends the SMS by itself', async () => {
      const world = await makeWorld(kind, { realClock: true });
      const a = world.instance({ sends: { fallbackAfter: '1s' } });
      const began = Date.now();
      const view = await start(a);
      expect(view.channel).toBe('whatsapp');

      // The fake holds the SMS a moment before the core has recorded it: wait for the core's event.
      await vi.waitFor(() => expect(ofType(a.events, 'delivery.fallback')).toHaveLength(1), { timeout: 3_500, interval: 25 });
      expect(Date.now() - began).toBeGreaterThanOrEqual(1_000);
      expect(Date.now() - began).toBeLessThan(3_500);
      expect(ofType(a.events, 'delivery.fallback')).toMatchObject([{ channel: 'sms', reason: 'fallback_timeout' }]);
      expect(smsMessages()).toHaveLength(1);
      await expect(verify(a, view.challengeId, smsCode())).resolves.toMatchObject({ token: expect.any(String) });
    });
  });

  test('a provider slower than sends.timeout falls back to SMS with a delivery.failed naming WhatsApp', async () => {
    const world = await makeWorld(kind);
    const a = world.instance({ sends: { timeout: '0.2s' } });
    wa.delay(5_000);
    const began = Date.now();
    const view = await start(a);

    expect(Date.now() - began).toBeLessThan(2_000);
    expect(view.channel).toBe('sms');
    expect(wa.requests).toHaveLength(1);
    expect(ofType(a.events, 'delivery.failed')).toMatchObject([{ channel: 'whatsapp', reason: 'delivery_failed' }]);
    expect(ofType(a.events, 'delivery.fallback')).toMatchObject([{ channel: 'sms' }]);
    // A slow answer says nothing about WhatsApp: the number is not marked.
    expect(channelsOf(view).whatsapp).toEqual({ current: false, available: true });
    await expect(verify(a, view.challengeId, smsCode())).resolves.toMatchObject({ token: expect.any(String) });
  });

  test('R-E1 an explicit channel that fails is a 502 naming it, and nothing goes by another channel', async () => {
    const world = await makeWorld(kind);
    const a = world.instance();
    const view = await start(a);
    expect(wa.requests).toHaveLength(1);

    world.clock!.advance(31_000);
    twilio.failNext(PHONE, { httpStatus: 500, code: 20500 });
    const error = await failure(a.stepup.resend(view.challengeId, { subject: SUBJECT, channel: 'sms' }));
    expect(error.code).toBe('delivery_failed');
    expect(error.status).toBe(502);
    expect(error.message).toMatch(/\bsms\b/);
    expect(twilio.requests).toHaveLength(1);
    expect(twilio.messages).toHaveLength(0);
    expect(wa.requests).toHaveLength(1);
    expect(ofType(a.events, 'delivery.fallback')).toEqual([]);

    // The same at start: the explicit channel only, named in the error.
    twilio.failNext(PHONE, { httpStatus: 500, code: 20500 });
    const atStart = await failure(start(a, { channel: 'sms' }));
    expect(atStart.code).toBe('delivery_failed');
    expect(atStart.status).toBe(502);
    expect(atStart.message).toMatch(/\bsms\b/);
    expect(twilio.requests).toHaveLength(2);
    expect(twilio.messages).toHaveLength(0);
    expect(wa.requests).toHaveLength(1);
  });

  test('every channel failing is delivery_failed, and nothing is left behind', async () => {
    const world = await makeWorld(kind);
    const a = world.instance();
    wa.failNext(PHONE, { code: 131000 });
    twilio.failNext(PHONE, { httpStatus: 500, code: 20500 });
    const error = await failure(start(a));

    expect(error.code).toBe('delivery_failed');
    expect(error.status).toBe(502);
    expect(ofType(a.events, 'delivery.failed')).toMatchObject([
      { channel: 'whatsapp', reason: 'delivery_failed' },
      { channel: 'sms', reason: 'delivery_failed' },
    ]);
    expect(ofType(a.events, 'challenge.started')).toEqual([]);
    expect(twilio.messages).toHaveLength(0);
    expect(seen.logs.filter((log) => log.method === 'error')).toEqual([]);
    if (world.redis) expect((await world.redis.keys()).filter((key) => key.includes('}ch:'))).toEqual([]);
  });

  test('R-C9 a wrong access token (Graph 190) is channel_misconfigured, logged once without the token, and SMS still goes', async () => {
    const world = await makeWorld(kind);
    const wrongToken = `EAAwrong${'x'.repeat(40)}`;
    extraSecrets.push(wrongToken);
    const a = world.instance({ accessToken: wrongToken });
    const view = await start(a);

    expect(wa.requests).toHaveLength(1);
    expect(wa.requests[0]!.authorized).toBe(false);
    expect(wa.requests[0]!.status).toBe(401);
    expect(ofType(a.events, 'delivery.failed')).toMatchObject([{ channel: 'whatsapp', reason: 'channel_misconfigured' }]);
    const errors = seen.logs.filter((log) => log.method === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.text).toMatch(/whatsapp/);
    expect(errors[0]!.text).toMatch(/190/);
    expect(errors[0]!.text).not.toContain(wrongToken);
    expect(errors[0]!.text).not.toContain(wa.accessToken);

    expect(view.channel).toBe('sms');
    await expect(verify(a, view.challengeId, smsCode())).resolves.toMatchObject({ token: expect.any(String) });
  });

  describe('sends.keepEarlierCodes', () => {
    async function fellBack(a: Instance) {
      const view = await start(a);
      const whatsappCode = waCode()!;
      await expect(a.stepup.handleDeliveryStatus(failedWebhook(waMessageId(), 131049))).resolves.toBe('fell_back');
      const code = smsCode()!;
      expect(code).not.toBe(whatsappCode);
      return { challengeId: view.challengeId, whatsappCode, smsCode: code };
    }

    test('after the fallback the WhatsApp code verifies, once', async () => {
      const world = await makeWorld(kind);
      const a = world.instance({ sends: { keepEarlierCodes: true } });
      const challenge = await fellBack(a);
      const result = await verify(a, challenge.challengeId, challenge.whatsappCode);
      expect(result.claims.chn).toBe('sms');
      // Consumed by the WhatsApp code: the SMS one is spent with it, a retry of the WhatsApp one is the same token.
      expect((await failure(verify(a, challenge.challengeId, challenge.smsCode))).code).toBe('challenge_not_found');
      await expect(verify(a, challenge.challengeId, challenge.whatsappCode)).resolves.toMatchObject({ token: result.token });
    });

    test('after the fallback the SMS code verifies, once', async () => {
      const world = await makeWorld(kind);
      const a = world.instance({ sends: { keepEarlierCodes: true } });
      const challenge = await fellBack(a);
      await expect(verify(a, challenge.challengeId, challenge.smsCode)).resolves.toMatchObject({ token: expect.any(String) });
      expect((await failure(verify(a, challenge.challengeId, challenge.whatsappCode))).code).toBe('challenge_not_found');
    });
  });

  test('R-M1 every delivery.status event has a non-negative latencyMs and the masked number only', async () => {
    const world = await makeWorld(kind);
    const a = world.instance();
    await start(a);
    const sentAt = world.clock!();
    const wamid = waMessageId();
    for (const [status, after] of [['sent', 700], ['delivered', 1_300], ['read', 4_000]] as const) {
      world.clock!.set(sentAt + after);
      await expect(a.stepup.handleDeliveryStatus({ messageId: wamid, status })).resolves.toBe('applied');
    }
    const statuses = ofType(a.events, 'delivery.status');
    expect(statuses.map((event) => [event.status, event.latencyMs])).toEqual([['sent', 700], ['delivered', 1_300], ['read', 4_000]]);
    for (const event of statuses) {
      expect(event.to).toBe(MASKED);
      expect(event.channel).toBe('whatsapp');
    }
  });
});

// ---- Across every flow above ------------------------------------------------------------

test('R-C9 R-M1 no event, console line or error of any flow above holds a secret, a code sent or the full number', () => {
  // The sweep is only meaningful if the flows ran and produced output.
  expect(allSeen.events.length).toBeGreaterThan(50);
  expect(allCodes.size).toBeGreaterThan(10);
  expect(allSeen.logs.some((log) => log.method === 'error')).toBe(true);
  expect(allSeen.errors.length).toBeGreaterThan(5);
  expect(leaks(allSeen, allForbidden, allCodes)).toEqual([]);

  const statuses = allSeen.events.filter((event) => event.type === 'delivery.status');
  expect(statuses.length).toBeGreaterThan(5);
  for (const event of statuses) {
    expect(event.latencyMs).toEqual(expect.any(Number));
    expect(event.latencyMs).toBeGreaterThanOrEqual(0);
    expect(event.to).toBe(MASKED);
  }
  // Every event that names the destination names it masked.
  for (const event of allSeen.events) if (event.to !== undefined) expect(event.to).toBe(MASKED);
});
