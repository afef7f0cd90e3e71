/**
 * Audit and operations (R-M1, R-M2, R-C9): every decision reaches the app's hook, its
 * logger (a real pino) and its Prometheus metrics (a real prom-client registry), all from
 * one event stream; nothing that leaves the library holds a code, a full number, the
 * pepper, a secret, a provider credential or an issued token. Real parts only: a real
 * Redis store, the real channels against the local provider fakes, a real pino writing to
 * memory, real prom-client registries.
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { pino } from 'pino';
import * as client from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import {
  ChannelError,
  createStepUp,
  OutboxChannel,
  isStepUpError,
  type Channel,
  type StepUp,
  type StepUpEvent,
  type StepUpOptions,
} from '../src/index.js';
import type { StepUpLogger } from '../src/core/logger.js';
import { twilioChannel } from '../src/channels/twilio.js';
import { whatsappCloudChannel } from '../src/channels/whatsapp-cloud.js';
import { parseWhatsAppStatusWebhook } from '../src/channels/whatsapp-webhook.js';
import { startFakeTwilio, startFakeWhatsApp, type FakeTwilio, type FakeWhatsApp } from '../src/testing/index.js';
import { codeIn } from '../src/testing/fake-twilio-parts.js';
import {
  AUDIENCE, fakeClock, hasDigitRun, ISSUER, PAYMENT, PEPPER, redisFixture, rejection, SECRET,
  type FakeClock, type RedisFixture,
} from './core.fixtures.js';

// ---- What left the library --------------------------------------------------------------

/** A real pino logger writing JSON lines to memory (no pid or hostname: only what we log). */
function capturedPino() {
  const raw: string[] = [];
  const logger = pino({ level: 'info', base: null }, { write: (line: string) => void raw.push(line) });
  const lines = () => raw.map((line) => JSON.parse(line) as Record<string, unknown> & { level: number; msg: string });
  return { logger, raw, lines };
}

const PINO_LEVEL = { info: 30, warn: 40, error: 50 } as const;

/**
 * The level each event must be logged at, written out from the requirement rather than
 * from the implementation: successes info, failures/locks/limits/fallbacks warn, a
 * misconfigured channel error; a guard's request without a token is the normal first
 * step of a step-up (info).
 */
function expectedLevel(event: StepUpEvent): keyof typeof PINO_LEVEL {
  if (event.type === 'delivery.failed' && event.reason === 'channel_misconfigured') return 'error';
  if (['challenge.started', 'delivery.sent', 'verify.succeeded', 'token.accepted'].includes(event.type)) return 'info';
  if (event.type === 'delivery.status') return event.status === 'failed' ? 'warn' : 'info';
  if (event.type === 'token.rejected' && event.reason === 'missing') return 'info';
  return 'warn';
}

let consoleSpies: MockInstance[] = [];
let consoleLines: string[] = [];
let cleanups: (() => Promise<void> | void)[] = [];

beforeEach(() => {
  consoleLines = [];
  cleanups = [];
  consoleSpies = (['error', 'warn', 'log', 'info', 'debug'] as const).map((method) =>
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      consoleLines.push(`console.${method} ${args.map((arg) => (typeof arg === 'string' ? arg : inspect(arg, { depth: 5 }))).join(' ')}`);
    }),
  );
});

afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  for (const spy of consoleSpies) spy.mockRestore();
});

async function redis(): Promise<RedisFixture> {
  const fixture = await redisFixture('monitoring');
  cleanups.push(() => fixture.close());
  return fixture;
}

/** A number of its own for each flow, so that no per-number limit couples the flows. */
let nextNumber = 0;
function freshPhone(): { e164: string; forms: string[] } {
  nextNumber += 1;
  const national = `6${String(10_000_000 + ((Date.now() + nextNumber * 7919) % 89_999_999)).slice(-8)}`;
  return { e164: `+34${national}`, forms: [`+34${national}`, `34${national}`, national] };
}

const freshSubject = (label: string) => `${label}-${randomBytes(4).toString('hex')}`;

interface Service {
  stepup: StepUp;
  events: StepUpEvent[];
}

function service(options: Partial<StepUpOptions> & Pick<StepUpOptions, 'store' | 'channels'>, clock: FakeClock): Service {
  const events: StepUpEvent[] = [];
  const stepup = createStepUp({
    tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET },
    pepper: PEPPER,
    onEvent: (event) => events.push(event),
    ...options,
    clock,
  });
  cleanups.push(() => stepup.close());
  return { stepup, events };
}

/** A provider that is down: every send fails the way a real client reports it. */
function downChannel(name: string, kind: 'fallback' | 'configuration' = 'fallback'): Channel {
  return {
    name,
    transport: 'whatsapp',
    send: async () => {
      throw new ChannelError(kind === 'configuration' ? 'The access token was refused (check the token).' : 'The provider is unavailable.', { kind });
    },
  };
}

const outbox = (name: string, transport: 'whatsapp' | 'sms') => new OutboxChannel({ name, transport });
const codeOf = (box: OutboxChannel, challengeId: string) => box.messages().filter((message) => message.challengeId === challengeId).at(-1)!.code;
const messageIdOf = (box: OutboxChannel, challengeId: string) => `outbox.${box.messages().filter((message) => message.challengeId === challengeId).at(-1)!.id}`;
const wrong = (code: string) => String((Number(code) + 1) % 10 ** code.length).padStart(code.length, '0');

// ---- The logger --------------------------------------------------------------------------

describe('R-M1 the logger', () => {
  it('R-M1 receives every event, in order, as the structured object with a short message at the level its outcome calls for', async () => {
    const { store } = await redis();
    const clock = fakeClock();
    const log = capturedPino();
    const wa = outbox('whatsapp', 'whatsapp');
    const sms = outbox('sms', 'sms');
    const { stepup, events } = service({ store, channels: [downChannel('broken'), wa, sms], logger: log.logger, sends: { cooldown: '30s' } }, clock);
    const a = freshPhone();
    const subject = freshSubject('a');

    // Start: the first channel is down, the code falls back to WhatsApp.
    const view = await stepup.start({ subject, phone: a.e164, purpose: 'login', ip: '203.0.113.7' });
    await rejection(stepup.resend(view.challengeId, { subject }));
    await rejection(stepup.verify(view.challengeId, wrong(codeOf(wa, view.challengeId)), { subject }));
    await stepup.handleDeliveryStatus({ messageId: messageIdOf(wa, view.challengeId), status: 'delivered' });
    const { token } = await stepup.verify(view.challengeId, codeOf(wa, view.challengeId), { subject, ip: '203.0.113.7' });
    await stepup.checkToken(token, { purpose: 'login', subject });
    await rejection(stepup.checkToken(undefined, { purpose: 'login' }));
    await rejection(stepup.checkToken(token, { purpose: 'password-reset' }));

    // A second challenge locked by wrong codes, and a delivery failure reported by status.
    const b = freshPhone();
    const other = freshSubject('b');
    const locked = await stepup.start({ subject: other, phone: b.e164, purpose: 'login' });
    await stepup.handleDeliveryStatus({ messageId: messageIdOf(wa, locked.challengeId), status: 'failed' });
    const code = codeOf(sms, locked.challengeId);
    for (let attempt = 0; attempt < 5; attempt++) await rejection(stepup.verify(locked.challengeId, wrong(code), { subject: other }));
    await rejection(stepup.verify(locked.challengeId, code, { subject: other }));
    await rejection(stepup.verify('not-an-id', code, { subject: other }));

    const lines = log.lines();
    expect(lines).toHaveLength(events.length);
    events.forEach((event, index) => {
      const line = lines[index]!;
      expect(line, `line ${index} (${event.type})`).toMatchObject({ ...event, level: PINO_LEVEL[expectedLevel(event)] });
      expect(line.msg).toMatch(/^step-up [a-z -]+$/);
    });
    // Every kind of decision of these flows reached the logger, at each of its levels.
    expect(new Set(events.map((event) => event.type))).toEqual(new Set([
      'challenge.started', 'delivery.sent', 'delivery.failed', 'delivery.fallback', 'delivery.status', 'verify.succeeded',
      'verify.failed', 'challenge.locked', 'rate.limited', 'token.accepted', 'token.rejected',
    ]));
    expect(new Set(lines.map((line) => line.level))).toEqual(new Set([30, 40]));
    expect(consoleLines).toEqual([]);

    // No secret among them: the codes, the numbers, the pepper, the token secret, the token.
    const codes = [...wa.messages(), ...sms.messages()].map((message) => message.code);
    const text = log.raw.join('');
    for (const secret of [...a.forms, ...b.forms, PEPPER, SECRET, token, token.split('.')[2]!]) expect(text).not.toContain(secret);
    for (const sent of codes) expect(hasDigitRun(text, sent), `code ${sent} in the log`).toBe(false);
  });

  it('R-M1 a misconfigured channel is logged at error through the logger (not the console), without the number', async () => {
    const { store } = await redis();
    const clock = fakeClock();
    const log = capturedPino();
    const sms = outbox('sms', 'sms');
    const { stepup } = service({ store, channels: [downChannel('whatsapp', 'configuration'), sms], logger: log.logger }, clock);
    const phone = freshPhone();
    await stepup.start({ subject: freshSubject('m'), phone: phone.e164, purpose: 'login' });

    const errors = log.lines().filter((line) => line.level === PINO_LEVEL.error);
    expect(errors.map((line) => line.msg)).toEqual([
      "[whatsapp-stepup] channel 'whatsapp' is misconfigured: The access token was refused (check the token).",
      'step-up code not delivered',
    ]);
    expect(errors[1]).toMatchObject({ type: 'delivery.failed', channel: 'whatsapp', reason: 'channel_misconfigured' });
    expect(consoleLines).toEqual([]);
    for (const form of phone.forms) expect(log.raw.join('')).not.toContain(form);
  });

  it('R-M1 without a logger, a misconfigured channel still goes to console.error, and events go nowhere else', async () => {
    const { store } = await redis();
    const sms = outbox('sms', 'sms');
    const { stepup } = service({ store, channels: [downChannel('whatsapp', 'configuration'), sms] }, fakeClock());
    await stepup.start({ subject: freshSubject('m'), phone: freshPhone().e164, purpose: 'login' });
    expect(consoleLines).toEqual(["console.error [whatsapp-stepup] channel 'whatsapp' is misconfigured: The access token was refused (check the token)."]);
  });

  it('R-M1 console fits as a logger', async () => {
    const { store } = await redis();
    const wa = outbox('whatsapp', 'whatsapp');
    const { stepup, events } = service({ store, channels: [wa], logger: console }, fakeClock());
    await stepup.start({ subject: freshSubject('c'), phone: freshPhone().e164, purpose: 'login' });
    expect(consoleLines).toHaveLength(events.length);
    expect(consoleLines[0]).toMatch(/^console\.info \{[\s\S]*type: 'challenge\.started'|^console\.info \{[\s\S]*type: 'delivery\.sent'/);
  });

  it.each([
    [{}, /`logger` must have info, warn and error methods .*missing: info, warn, error/],
    [{ info: () => {} }, /missing: warn, error\)/],
    ['pino', /`logger` must have info, warn and error methods/],
    [null, /`logger` must have info, warn and error methods/],
  ])('R-M1 a logger that cannot log is refused at construction, saying what is missing (%j)', async (logger, message) => {
    const { store } = await redis();
    expect(() => service({ store, channels: [outbox('whatsapp', 'whatsapp')], logger: logger as unknown as StepUpLogger }, fakeClock())).toThrow(message);
  });
});

// ---- A failing audit never decides ---------------------------------------------------------

describe('R-M1 a throwing logger or onEvent changes nothing', () => {
  /** The same flows on a fresh service; the transcript holds every outcome, ids left out. */
  async function transcript(outlets: Pick<StepUpOptions, 'logger' | 'onEvent'>, phone: string, startMs: number): Promise<unknown[]> {
    const { store } = await redis();
    const clock = fakeClock(startMs);
    const wa = outbox('whatsapp', 'whatsapp');
    const sms = outbox('sms', 'sms');
    const stepup = createStepUp({
      store, channels: [downChannel('broken'), wa, sms], tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET }, pepper: PEPPER,
      sends: { cooldown: '30s' }, clock, ...outlets,
    });
    cleanups.push(() => stepup.close());
    const out: unknown[] = [];
    const outcome = async (promise: Promise<unknown>) => {
      try {
        const value = await promise;
        out.push(value && typeof value === 'object' && 'challengeId' in value ? { ...value, challengeId: '-' } : typeof value === 'string' ? value : typeof value);
      } catch (error) {
        out.push(isStepUpError(error) ? { code: error.code, details: error.details } : String(error));
      }
    };
    const subject = freshSubject('t');
    const view = await stepup.start({ subject, phone, purpose: 'payment', transaction: PAYMENT });
    out.push({ ...view, challengeId: '-' });
    const code = codeOf(wa, view.challengeId);
    await outcome(stepup.resend(view.challengeId, { subject }));
    await outcome(stepup.verify(view.challengeId, wrong(code), { subject }));
    await outcome(stepup.handleDeliveryStatus({ messageId: messageIdOf(wa, view.challengeId), status: 'read' }));
    const { token } = await stepup.verify(view.challengeId, code, { subject });
    await outcome(stepup.checkToken(token, { purpose: 'payment', subject, transaction: { ...PAYMENT, amount: '9999.00' } }));
    await outcome(stepup.checkToken(token, { purpose: 'payment', subject, transaction: PAYMENT }));
    await outcome(stepup.checkToken(token, { purpose: 'payment', subject, transaction: PAYMENT }));
    await outcome(stepup.verify(view.challengeId, code, { subject }));
    return out;
  }

  it('R-M1 the outcomes are the same with a logger and an onEvent that throw on every call', async () => {
    const phone = freshPhone().e164;
    const startMs = Date.now();
    const quiet = await transcript({}, phone, startMs);
    const boom = () => {
      throw new Error('audit backend down');
    };
    const throwing = await transcript({ logger: { info: boom, warn: boom, error: boom }, onEvent: boom }, phone, startMs);
    expect(throwing).toEqual(quiet);
    expect(quiet).toContainEqual({ code: 'step_up_required', details: expect.objectContaining({ reason: 'replayed' }) });
    expect(consoleLines).toEqual([]);
  });
});

// ---- Metrics -------------------------------------------------------------------------------

/** Every sample of the library's metrics as `name{label="value",…}` → value, zero samples left out. */
async function samples(registry: client.Registry): Promise<Record<string, number>> {
  const flat: Record<string, number> = {};
  for (const metric of await registry.getMetricsAsJSON()) {
    if (!metric.name.startsWith('stepup_')) continue;
    for (const sample of metric.values) {
      const labels = Object.entries(sample.labels).map(([key, value]) => `${key}="${value}"`).join(',');
      const name = (sample as { metricName?: string }).metricName ?? metric.name;
      if (sample.value !== 0 && !name.endsWith('_bucket') && !name.endsWith('_sum')) flat[`${name}{${labels}}`] = sample.value;
    }
  }
  return flat;
}

describe('R-M1 metrics', () => {
  it('R-M1 after a scripted set of flows the counters hold exactly what happened, and the histogram has the latencies', async () => {
    const { store } = await redis();
    const clock = fakeClock();
    const registry = new client.Registry();
    const wa = outbox('whatsapp', 'whatsapp');
    const sms = outbox('sms', 'sms');
    const main = service({ store, channels: [wa, sms], metrics: { client, registry }, sends: { cooldown: '30s' } }, clock);
    // A second service on the same registry (another instance): it shares the metrics.
    const smsOnly = outbox('sms', 'sms');
    const degraded = service({ store, channels: [downChannel('whatsapp'), smsOnly], metrics: { client, registry } }, clock);
    const tokens: string[] = [];

    // 1. start, a wrong code, the right code, a delivered status; the token accepted, then refused twice.
    const s1 = freshSubject('m1');
    const c1 = await main.stepup.start({ subject: s1, phone: freshPhone().e164, purpose: 'login' });
    await rejection(main.stepup.verify(c1.challengeId, wrong(codeOf(wa, c1.challengeId)), { subject: s1 }));
    await main.stepup.handleDeliveryStatus({ messageId: messageIdOf(wa, c1.challengeId), status: 'delivered' });
    const t1 = (await main.stepup.verify(c1.challengeId, codeOf(wa, c1.challengeId), { subject: s1 })).token;
    tokens.push(t1);
    await main.stepup.checkToken(t1, { purpose: 'login', subject: s1 });
    await rejection(main.stepup.checkToken(t1, { purpose: 'login', subject: 'someone-else' }));
    await rejection(main.stepup.checkToken(undefined, { purpose: 'login' }));

    // 2. a resend inside the cooldown (rate limit), then a lock by wrong codes, then one more try.
    const s2 = freshSubject('m2');
    const c2 = await main.stepup.start({ subject: s2, phone: freshPhone().e164, purpose: 'password-reset' });
    await rejection(main.stepup.resend(c2.challengeId, { subject: s2 }));
    const code2 = codeOf(wa, c2.challengeId);
    for (let attempt = 0; attempt < 5; attempt++) await rejection(main.stepup.verify(c2.challengeId, wrong(code2), { subject: s2 }));
    await rejection(main.stepup.verify(c2.challengeId, code2, { subject: s2 }));

    // 3. the first channel down: the code falls back to SMS, which carries it; a one-time token used twice.
    const s3 = freshSubject('m3');
    const c3 = await degraded.stepup.start({ subject: s3, phone: freshPhone().e164, purpose: 'password-reset' });
    const t3 = (await degraded.stepup.verify(c3.challengeId, codeOf(smsOnly, c3.challengeId), { subject: s3 })).token;
    tokens.push(t3);
    await degraded.stepup.checkToken(t3, { purpose: 'password-reset', subject: s3 });
    await rejection(degraded.stepup.checkToken(t3, { purpose: 'password-reset', subject: s3 }));

    // 4. an expired challenge, and two that do not exist.
    const s4 = freshSubject('m4');
    const c4 = await main.stepup.start({ subject: s4, phone: freshPhone().e164, purpose: 'login' });
    clock.advance(6 * 60_000);
    await rejection(main.stepup.verify(c4.challengeId, codeOf(wa, c4.challengeId), { subject: s4 }));
    await rejection(main.stepup.verify('not-an-id', '123456', { subject: s4 }));
    await rejection(main.stepup.verify(randomBytes(16).toString('base64url'), '123456', { subject: s4 }));

    // The limit the event names (`cooldown`, with the send limits), else its reason.
    const limited = main.events.find((event) => event.type === 'rate.limited')!;
    const limitReason = (limited as { limit?: string }).limit ?? limited.reason!;
    expect(['cooldown', 'rate_limited']).toContain(limitReason);

    expect(await samples(registry)).toEqual({
      'stepup_challenges_started_total{purpose="login",channel="whatsapp"}': 2,
      'stepup_challenges_started_total{purpose="password-reset",channel="whatsapp"}': 1,
      'stepup_challenges_started_total{purpose="password-reset",channel="sms"}': 1,
      'stepup_sends_total{channel="whatsapp",outcome="sent"}': 3,
      'stepup_sends_total{channel="whatsapp",outcome="failed"}': 1,
      'stepup_sends_total{channel="sms",outcome="fallback"}': 1,
      'stepup_sends_total{channel="sms",outcome="sent"}': 1,
      // A wrong code's verdict names its challenge's purpose and channel; a closed challenge's (locked, expired, missing) does not.
      'stepup_verifications_total{purpose="login",channel="whatsapp",outcome="invalid_code"}': 1,
      'stepup_verifications_total{purpose="password-reset",channel="whatsapp",outcome="invalid_code"}': 4,
      'stepup_verifications_total{purpose="password-reset",channel="whatsapp",outcome="locked"}': 1,
      'stepup_verifications_total{purpose="unknown",channel="unknown",outcome="locked"}': 1,
      'stepup_verifications_total{purpose="unknown",channel="unknown",outcome="expired"}': 1,
      'stepup_verifications_total{purpose="unknown",channel="unknown",outcome="not_found"}': 2,
      'stepup_verifications_total{purpose="login",channel="whatsapp",outcome="success"}': 1,
      'stepup_verifications_total{purpose="password-reset",channel="sms",outcome="success"}': 1,
      [`stepup_rate_limited_total{reason="${limitReason}"}`]: 1,
      'stepup_tokens_total{purpose="login",outcome="accepted"}': 1,
      'stepup_tokens_total{purpose="login",outcome="wrong_subject"}': 1,
      'stepup_tokens_total{purpose="login",outcome="missing"}': 1,
      'stepup_tokens_total{purpose="password-reset",outcome="accepted"}': 1,
      'stepup_tokens_total{purpose="password-reset",outcome="replayed"}': 1,
      // Provider answers for every send (the failed one too) and the delivered status.
      'stepup_delivery_latency_seconds_count{channel="whatsapp",kind="send"}': 4,
      'stepup_delivery_latency_seconds_count{channel="sms",kind="send"}': 1,
      'stepup_delivery_latency_seconds_count{channel="whatsapp",kind="delivered"}': 1,
    });

    // Labels hold configured names and fixed outcomes only: no number, subject, code, id or token.
    const text = await registry.metrics();
    const ids = [c1, c2, c3, c4].map((view) => view.challengeId);
    const codes = [...wa.messages(), ...smsOnly.messages()].map((message) => message.code);
    for (const secret of [s1, s2, s3, s4, ...ids, ...tokens, PEPPER, SECRET]) expect(text).not.toContain(secret);
    for (const sent of codes) expect(hasDigitRun(text, sent)).toBe(false);
    for (const [, value] of text.matchAll(/="([^"]*)"/g)) expect(value).toMatch(/^([a-z][a-z_-]*|\+Inf|\d+(\.\d+)?)$/);
  });

  it('R-M1 a metrics option that is not prom-client is refused at construction, saying how to pass it', async () => {
    const { store } = await redis();
    const make = (metrics: unknown) => () => service({ store, channels: [outbox('whatsapp', 'whatsapp')], metrics: metrics as StepUpOptions['metrics'] }, fakeClock());
    const usage = /import \* as client from 'prom-client'/;
    expect(make(new client.Registry())).toThrow(/`metrics` takes \{ client, registry \}, not the registry itself/);
    expect(make({ registry: new client.Registry() })).toThrow(/`metrics.client` is not the prom-client module/);
    expect(make({ client, registry: {} })).toThrow(/`metrics.registry` is not a prom-client Registry/);
    expect(make({ client, prefix: 'x' })).toThrow(/`metrics` has no option `prefix`/);
    expect(make('prom-client')).toThrow(usage);
    const clash = new client.Registry();
    new client.Gauge({ name: 'stepup_sends_total', help: 'not ours', registers: [clash] });
    expect(make({ client, registry: clash })).toThrow(/already holds a metric 'stepup_sends_total'/);
  });

  it('R-M1 without a registry, the metrics go to prom-client\'s global one', async () => {
    const { store } = await redis();
    client.register.clear();
    cleanups.push(() => client.register.clear());
    const wa = outbox('whatsapp', 'whatsapp');
    const { stepup } = service({ store, channels: [wa], metrics: { client } }, fakeClock());
    await stepup.start({ subject: freshSubject('g'), phone: freshPhone().e164, purpose: 'login' });
    expect(await client.register.getSingleMetricAsString('stepup_challenges_started_total')).toContain('stepup_challenges_started_total{purpose="login",channel="whatsapp"} 1');
  });
});

// ---- The leak test -------------------------------------------------------------------------

describe('R-M1 R-C9 nothing that leaves the library holds a secret', () => {
  let wa: FakeWhatsApp;
  let twilio: FakeTwilio;

  beforeEach(async () => {
    wa = await startFakeWhatsApp();
    twilio = await startFakeTwilio();
    cleanups.push(() => wa.close(), () => twilio.close());
  });

  it('R-M1 every flow, failures included: no code, full number, pepper, secret, token or provider credential in events, logs, console, errors or metrics', async () => {
    const fixture = await redis();
    const clock = fakeClock();
    const log = capturedPino();
    const registry = new client.Registry();
    const events: StepUpEvent[] = [];
    const errors: string[] = [];
    const tokens: string[] = [];
    const WRONG_TOKEN = `EAAG${randomBytes(24).toString('hex')}`;

    const whatsapp = (accessToken = wa.accessToken) => whatsappCloudChannel({
      phoneNumberId: wa.phoneNumberId, accessToken, template: { name: 'login_code', language: { '*': 'en_US' } }, baseUrl: wa.baseUrl,
    });
    const sms = () => twilioChannel({ kind: 'sms', baseUrl: twilio.baseUrl, accountSid: twilio.accountSid, authToken: twilio.authToken, from: '+15005550006' });
    const make = (channels: Channel[], sends: StepUpOptions['sends'] = { cooldown: '30s', fallbackAfter: '60s' }) => {
      const stepup = createStepUp({
        store: fixture.store, channels, tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET }, pepper: PEPPER, sends, clock,
        logger: log.logger, metrics: { client, registry }, onEvent: (event) => events.push(event),
      });
      stepup.close(); // only this test runs due fallbacks
      return stepup;
    };
    const stepup = make([whatsapp(), sms()]);
    const misconfigured = make([whatsapp(WRONG_TOKEN), sms()]);
    const failure = async (promise: Promise<unknown>) => {
      try {
        await promise;
      } catch (error) {
        errors.push(`${String(error)} ${JSON.stringify(error)} ${inspect(error, { depth: 5 })}`);
        return error;
      }
      throw new Error('expected a failure');
    };
    const phones: string[][] = [];
    const phone = () => {
      const fresh = freshPhone();
      phones.push(fresh.forms);
      return fresh.e164;
    };
    const waCodeFor = (to: string) => wa.lastCode(to)!;
    const smsCodeFor = (to: string) => codeIn(twilio.messages.filter((message) => message.to === to).at(-1)!)!;

    // Start, a resend in the cooldown, a resend after it, a wrong code, the right code.
    const p1 = phone();
    const s1 = freshSubject('l1');
    const c1 = await stepup.start({ subject: s1, phone: p1, purpose: 'login', ip: '198.51.100.4' });
    await failure(stepup.resend(c1.challengeId, { subject: s1, ip: '198.51.100.4' }));
    clock.advance(31_000);
    await stepup.resend(c1.challengeId, { subject: s1 });
    await failure(stepup.verify(c1.challengeId, wrong(waCodeFor(p1)), { subject: s1 }));
    // Delivery statuses of the WhatsApp message, as Meta posts them, read by our parser.
    for (const status of ['sent', 'delivered', 'read'] as const) {
      const [update] = parseWhatsAppStatusWebhook(JSON.parse(JSON.stringify(wa.statusPayload({ messageId: wa.lastMessageId(p1)!, status }))));
      await stepup.handleDeliveryStatus(update!);
    }
    const login = await stepup.verify(c1.challengeId, waCodeFor(p1), { subject: s1, binding: 'session-1' });
    tokens.push(login.token);
    // The guard: accepted, then refused for each reason a request can give.
    await stepup.checkToken(login.token, { purpose: 'login', subject: s1, ip: '198.51.100.4' });
    await failure(stepup.checkToken(login.token, { purpose: 'login', subject: 'intruder' }));
    await failure(stepup.checkToken(login.token, { purpose: 'login', binding: 'session-2' }));
    await failure(stepup.checkToken(login.token, { purpose: 'password-reset' }));
    await failure(stepup.checkToken(`${login.token.slice(0, -4)}AAAA`, { purpose: 'login' }));
    await failure(stepup.checkToken(undefined, { purpose: 'login' }));
    // A verified challenge: its code again is the same token (a `repeated` event), another code is not found.
    tokens.push((await stepup.verify(c1.challengeId, waCodeFor(p1), { subject: s1 })).token);
    await failure(stepup.verify(c1.challengeId, waCodeFor(p1) === '000000' ? '111111' : '000000', { subject: s1 }));

    // A payment: the token accepted for its transaction, refused for another, then replayed.
    const p2 = phone();
    const s2 = freshSubject('p2');
    const c2 = await stepup.start({ subject: s2, phone: p2, purpose: 'payment', transaction: PAYMENT });
    const payment = await stepup.verify(c2.challengeId, waCodeFor(p2), { subject: s2 });
    tokens.push(payment.token);
    await failure(stepup.checkToken(payment.token, { purpose: 'payment', subject: s2, transaction: { ...PAYMENT, payee: 'ES0000000000000000000000' } }));
    await stepup.checkToken(payment.token, { purpose: 'payment', subject: s2, transaction: PAYMENT });
    await failure(stepup.checkToken(payment.token, { purpose: 'payment', subject: s2, transaction: PAYMENT }));

    // A lock by wrong codes, then the right code refused.
    const p3 = phone();
    const s3 = freshSubject('k3');
    const c3 = await stepup.start({ subject: s3, phone: p3, purpose: 'login' });
    for (let attempt = 0; attempt < 5; attempt++) await failure(stepup.verify(c3.challengeId, wrong(waCodeFor(p3)), { subject: s3 }));
    await failure(stepup.verify(c3.challengeId, waCodeFor(p3), { subject: s3 }));
    await failure(stepup.resend(c3.challengeId, { subject: s3 }));

    // Expired; not found (malformed and unknown ids; another subject's challenge).
    const p4 = phone();
    const s4 = freshSubject('e4');
    const c4 = await stepup.start({ subject: s4, phone: p4, purpose: 'login' });
    await failure(stepup.verify(c4.challengeId, waCodeFor(p4), { subject: 'intruder' }));
    clock.advance(6 * 60_000);
    await failure(stepup.verify(c4.challengeId, waCodeFor(p4), { subject: s4 }));
    await failure(stepup.verify('../../etc', '123456', { subject: s4 }));
    await failure(stepup.resend(randomBytes(16).toString('base64url'), { subject: s4 }));

    // Fallbacks: not on WhatsApp (SMS at once); a provider error that repeats the number;
    // a failed status; the fallback timer; a wrong access token (misconfigured).
    const p5 = phone();
    const s5 = freshSubject('f5');
    wa.failNext(p5, { code: 131026 });
    const c5 = await stepup.start({ subject: s5, phone: p5, purpose: 'login' });
    tokens.push((await stepup.verify(c5.challengeId, smsCodeFor(p5), { subject: s5 })).token);

    const p6 = phone();
    const s6 = freshSubject('f6');
    wa.failNext(p6, { code: 131000, message: `Something went wrong sending to ${p6}`, details: `recipient ${p6.slice(1)}` });
    twilio.failNext(p6, { httpStatus: 400, code: 21211 });
    await failure(stepup.start({ subject: s6, phone: p6, purpose: 'login' }));

    const p7 = phone();
    const s7 = freshSubject('f7');
    const c7 = await stepup.start({ subject: s7, phone: p7, purpose: 'login' });
    const [failed] = parseWhatsAppStatusWebhook(JSON.parse(JSON.stringify(wa.statusPayload({ messageId: wa.lastMessageId(p7)!, status: 'failed', errorCode: 131049 }))));
    expect(await stepup.handleDeliveryStatus(failed!)).toBe('fell_back');
    await stepup.handleDeliveryStatus({ messageId: twilio.messages.at(-1)!.sid, status: 'delivered' });
    await failure(stepup.verify(c7.challengeId, waCodeFor(p7), { subject: s7 }));
    tokens.push((await stepup.verify(c7.challengeId, smsCodeFor(p7), { subject: s7 })).token);

    const p8 = phone();
    const s8 = freshSubject('f8');
    await stepup.start({ subject: s8, phone: p8, purpose: 'login' });
    clock.advance(61_000);
    expect(await stepup.runDueFallbacks()).toBe(1);

    const p9 = phone();
    await misconfigured.start({ subject: freshSubject('f9'), phone: p9, purpose: 'login' });

    // Everything that left the library.
    const texts = [
      ...events.map((event) => `event ${JSON.stringify(event)}`),
      ...log.raw.map((line) => `log ${line}`),
      ...consoleLines,
      ...errors.map((error) => `error ${error}`),
      `metrics ${await registry.metrics()}`,
    ];
    const codes = new Set<string>([
      ...wa.requests.map((request) => request.code).filter((code): code is string => typeof code === 'string'),
      ...twilio.messages.map((message) => codeIn(message)).filter((code): code is string => typeof code === 'string'),
    ]);
    const secrets = [
      ...phones.flat(), PEPPER, SECRET, wa.accessToken, WRONG_TOKEN, twilio.authToken,
      Buffer.from(`${twilio.accountSid}:${twilio.authToken}`).toString('base64'),
      ...tokens, ...tokens.map((token) => token.split('.')[2]!),
    ];
    const leaks: string[] = [];
    for (const text of texts) {
      for (const secret of secrets) if (text.includes(secret)) leaks.push(`${text.slice(0, 100)} … holds a secret or a number`);
      for (const code of codes) if (hasDigitRun(text, code)) leaks.push(`${text.slice(0, 100)} … holds the code ${code}`);
    }
    expect(leaks).toEqual([]);

    // The flows did reach every kind of decision, every outlet and the misconfiguration message.
    expect(codes.size).toBeGreaterThanOrEqual(10);
    expect(new Set(events.map((event) => event.type)).size).toBe(11);
    expect(new Set(events.map((event) => event.reason).filter(Boolean))).toEqual(new Set([
      'rate_limited', 'invalid_code', 'wrong_subject', 'wrong_session', 'wrong_purpose', 'invalid', 'missing', 'challenge_not_found',
      'transaction_mismatch', 'replayed', 'too_many_attempts', 'challenge_expired', 'delivery_failed', 'fallback_timeout', 'channel_misconfigured',
    ]));
    expect(log.lines()).toHaveLength(events.length + 1);
    expect(log.raw.join('')).toContain("channel 'whatsapp' is misconfigured");
    expect(errors.length).toBeGreaterThanOrEqual(20);
    expect(consoleLines).toEqual([]);
  });
});
