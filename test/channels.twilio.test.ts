// The Twilio channel against a local fake that speaks Twilio's Messages API and holds
// every request and answer to Twilio's own OpenAPI schemas. Invariants: an SMS carries
// the core's text and a WhatsApp message the code in a Content template; every failure
// is a ChannelError that says fall back or fix the configuration; no secret and no phone
// number ever appears in an error.
import { createServer } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ChannelError, type OutgoingMessage } from '../src/channels/channel.js';
import { twilioChannel, type TwilioChannelOptions } from '../src/channels/twilio.js';
import { startFakeTwilio, type FakeTwilio } from '../src/testing/index.js';
import { makeStepUp, PHONE, SUBJECT } from './core.fixtures.js';
import { createTwilioSpecValidators, loadTwilioSpec } from './support/twilio-spec.js';

const TO = '+34612345678';
const SENDER = '+15005550006';
const MESSAGING_SERVICE = `MG${'1'.repeat(32)}`;
const CONTENT = `HX${'2'.repeat(32)}`;
const spec = createTwilioSpecValidators();
let fake: FakeTwilio;

beforeAll(async () => {
  fake = await startFakeTwilio({ validate: spec.validate });
});
afterEach(() => {
  // The fake checks each request and each of its own answers against the spec.
  expect(fake.violations).toEqual([]);
  fake.reset();
});
afterAll(async () => {
  await fake.close();
});

function message(overrides: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return {
    to: TO,
    code: '482913',
    text: 'Demo Bank: your sign-in code is 482913. It expires in 5 minutes. Do not share it with anyone.\n\n@bank.example #482913',
    purpose: 'login',
    locale: 'en',
    challengeId: 'AAAAAAAAAAAAAAAAAAAAAA',
    ttlSeconds: 300,
    ...overrides,
  };
}

function sms(overrides: Partial<TwilioChannelOptions> = {}) {
  return twilioChannel({ kind: 'sms', baseUrl: fake.baseUrl, accountSid: fake.accountSid, authToken: fake.authToken, from: SENDER, ...overrides });
}

function whatsapp(overrides: Partial<TwilioChannelOptions> = {}) {
  return twilioChannel({ kind: 'whatsapp', baseUrl: fake.baseUrl, accountSid: fake.accountSid, authToken: fake.authToken, from: SENDER, contentSid: CONTENT, ...overrides });
}

const live = () => new AbortController().signal;

async function failure(promise: Promise<unknown>): Promise<ChannelError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the send to fail');
    },
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ChannelError);
  return error as ChannelError;
}

/** Every way an error can reach a log: none may hold a secret or the recipient's number. */
function expectNothingSecretIn(error: unknown, secrets: string[]): void {
  const renderings = [String(error), (error as Error).message, (error as Error).stack ?? '', inspect(error, { depth: 5 }), String(JSON.stringify(error)), String(JSON.stringify((error as ChannelError).details))];
  for (const text of renderings) for (const secret of secrets) expect(text).not.toContain(secret);
}

function credentials(): string[] {
  return [fake.authToken, fake.apiKey.secret, Buffer.from(`${fake.accountSid}:${fake.authToken}`).toString('base64'), TO, TO.slice(1)];
}

describe('Twilio spec validators', () => {
  it('accept the spec’s own examples and our request', () => {
    const examples = loadTwilioSpec().paths['/2010-04-01/Accounts/{AccountSid}/Messages.json']!.post!.responses['201']!.content!['application/json']! as unknown as { examples: Record<string, { value: unknown }> };
    for (const { value } of Object.values(examples.examples)) expect(spec.response(value)).toEqual([]);
    expect(spec.request({ To: TO, From: SENDER, Body: 'hello', StatusCallback: 'https://example.com/hooks' })).toEqual([]);
    expect(spec.error({ code: 20003, message: 'Authenticate', more_info: 'https://www.twilio.com/docs/errors/20003', status: 401 })).toEqual([]);
  });

  it('have teeth: a request without To, a misspelt parameter, a bad sid or status, an error with a string code', () => {
    expect(spec.request({ From: SENDER, Body: 'hello' })).toContain("(root) must have required property 'To'");
    expect(spec.request({ To: TO, From: SENDER, Boddy: 'hello' })).toContain('/Boddy is not a CreateMessage parameter');
    expect(spec.request({ To: TO, MessagingServiceSid: 'MG123', Body: 'x' }).join()).toMatch(/MessagingServiceSid/);
    expect(spec.request({ To: TO, ContentSid: `HX${'2'.repeat(32)}`, ValidityPeriod: 'soon' }).join()).toMatch(/ValidityPeriod must be integer/);
    expect(spec.response({ sid: 'SM123', status: 'queued' }).join()).toMatch(/sid/);
    expect(spec.response({ sid: `SM${'a'.repeat(32)}`, status: 'posted' }).join()).toMatch(/status must be equal to one of the allowed values/);
    expect(spec.response({ sid: `SM${'a'.repeat(32)}`, date_created: '2024-01-01T00:00:00Z' }).join()).toMatch(/date_created must match format/);
    expect(spec.error({ code: '20003', message: 'Authenticate', more_info: 'x', status: 401 }).join()).toMatch(/code must be integer/);
    expect(spec.error({ code: 20003 }).join()).toMatch(/must have property 'message'/);
  });
});

describe('twilioChannel sends', () => {
  it('an SMS with the core’s text as Body, From, and Basic auth with the auth token', async () => {
    const channel = sms({ statusCallback: 'https://app.example/stepup/webhooks/twilio?x=1' });
    expect([channel.name, channel.transport]).toEqual(['sms', 'sms']);
    const receipt = await channel.send(message(), live());
    expect(fake.messages).toHaveLength(1);
    expect(receipt).toEqual({ messageId: fake.messages[0]!.sid });
    expect(receipt.messageId).toMatch(/^SM[0-9a-f]{32}$/);
    const [request] = fake.requests;
    expect(request).toMatchObject({ method: 'POST', path: `/2010-04-01/Accounts/${fake.accountSid}/Messages.json`, auth: 'account' });
    expect(request!.contentType).toMatch(/^application\/x-www-form-urlencoded/);
    expect(request!.params).toEqual({ To: TO, From: SENDER, Body: message().text, ValidityPeriod: '300', StatusCallback: 'https://app.example/stepup/webhooks/twilio?x=1' });
    expect(fake.lastBody(TO)).toBe(message().text);
    expect(fake.lastCode(TO)).toBe('482913');
  });

  it('an SMS through a Messaging Service, without From', async () => {
    await sms({ from: undefined, messagingServiceSid: MESSAGING_SERVICE }).send(message(), live());
    expect(fake.requests[0]!.params).toEqual({ To: TO, MessagingServiceSid: MESSAGING_SERVICE, Body: message().text, ValidityPeriod: '300' });
  });

  it('an SMS from a short code or an alphanumeric sender id', async () => {
    await sms({ from: 'DemoBank' }).send(message(), live());
    expect(fake.requests[0]!.params.From).toBe('DemoBank');
  });

  it('a WhatsApp template: whatsapp: prefixes, ContentSid and ContentVariables {"1": code}, no Body', async () => {
    const channel = whatsapp();
    expect([channel.name, channel.transport]).toEqual(['whatsapp-twilio', 'whatsapp']);
    const receipt = await channel.send(message(), live());
    expect(receipt.messageId).toBe(fake.messages[0]!.sid);
    expect(fake.requests[0]!.params).toEqual({ To: `whatsapp:${TO}`, From: `whatsapp:${SENDER}`, ContentSid: CONTENT, ContentVariables: '{"1":"482913"}', ValidityPeriod: '300' });
    expect(fake.lastCode(TO)).toBe('482913');
    expect(fake.lastCode(`whatsapp:${TO}`)).toBe('482913');
    expect(fake.lastCode(`sms:${TO}`)).toBeUndefined();
  });

  it('accepts a WhatsApp sender written with or without its prefix, and custom template variables', async () => {
    await whatsapp({ from: `whatsapp:${SENDER}`, contentVariables: (m) => ({ '1': m.code, '2': String(m.ttlSeconds / 60) }) }).send(message(), live());
    expect(fake.requests[0]!.params).toMatchObject({ From: `whatsapp:${SENDER}`, ContentVariables: '{"1":"482913","2":"5"}' });
  });

  it('WhatsApp through a Messaging Service', async () => {
    await whatsapp({ from: undefined, messagingServiceSid: MESSAGING_SERVICE, name: 'wa' }).send(message(), live());
    expect(fake.requests[0]!.params).toEqual({ To: `whatsapp:${TO}`, MessagingServiceSid: MESSAGING_SERVICE, ContentSid: CONTENT, ContentVariables: '{"1":"482913"}', ValidityPeriod: '300' });
  });

  it('asks Twilio to drop the message once the code has expired (ValidityPeriod, 1..36000 s)', async () => {
    for (const [ttlSeconds, expected] of [[90, '90'], [0.4, '1'], [86_400, '36000']] as const) {
      await sms().send(message({ ttlSeconds }), live());
      expect(fake.requests.at(-1)!.params.ValidityPeriod).toBe(expected);
    }
  });

  it('authenticates with an API key (key sid and secret) under the account’s URL', async () => {
    await sms({ authToken: undefined, apiKey: fake.apiKey }).send(message(), live());
    expect(fake.requests[0]).toMatchObject({ auth: 'api-key', path: `/2010-04-01/Accounts/${fake.accountSid}/Messages.json` });
  });
});

describe('twilioChannel failures', () => {
  it('a wrong auth token is a configuration error 20003, without the token', async () => {
    const wrong = 'f'.repeat(32);
    const error = await failure(sms({ authToken: wrong }).send(message(), live()));
    expect(error.details).toEqual({ kind: 'configuration', providerCode: 20003 });
    expectNothingSecretIn(error, [...credentials(), wrong]);
    expect(fake.messages).toHaveLength(0);
  });

  it('another account’s URL is a configuration error 20404', async () => {
    const error = await failure(sms({ accountSid: `AC${'9'.repeat(32)}`, authToken: undefined, apiKey: fake.apiKey }).send(message(), live()));
    expect(error.details).toEqual({ kind: 'configuration', providerCode: 20404 });
  });

  it.each([
    // The recipient's problem: fall back to the next channel.
    [21211, 400, 'fallback'],
    [21614, 400, 'fallback'],
    [21610, 400, 'fallback'],
    [21408, 400, 'fallback'],
    [21612, 400, 'fallback'],
    [63024, 400, 'fallback'],
    [30003, 400, 'fallback'],
    [30008, 400, 'fallback'],
    [20500, 500, 'fallback'],
    [12345, 400, 'fallback'],
    // Our setup is wrong: fall back, and report it loudly.
    [21606, 400, 'configuration'],
    [21212, 400, 'configuration'],
    [21659, 400, 'configuration'],
    [21608, 400, 'configuration'],
    [21656, 400, 'configuration'],
    [21655, 400, 'configuration'],
    [63007, 400, 'configuration'],
    [63016, 400, 'configuration'],
    [30034, 400, 'configuration'],
    [20005, 401, 'configuration'],
    [12345, 403, 'configuration'],
  ] as const)('Twilio error %i (HTTP %i) → %s, with the code and without the number Twilio echoes', async (code, httpStatus, kind) => {
    fake.failNext(TO, { code, httpStatus });
    const error = await failure(sms().send(message(), live()));
    expect(error.details).toEqual({ kind, providerCode: code });
    expect(error.message).toContain(String(code));
    expectNothingSecretIn(error, credentials());
  });

  it('63003 (no WhatsApp account) falls back and says notOnWhatsApp', async () => {
    fake.failNext(`whatsapp:${TO}`, { code: 63003, httpStatus: 400 });
    const error = await failure(whatsapp().send(message(), live()));
    expect(error.details).toEqual({ kind: 'fallback', providerCode: 63003, notOnWhatsApp: true });
    expectNothingSecretIn(error, credentials());
  });

  it('429 / 20429 falls back with the Retry-After seconds', async () => {
    fake.failNext('*', { code: 20429, httpStatus: 429, retryAfter: 7 });
    const error = await failure(sms().send(message(), live()));
    expect(error.details).toEqual({ kind: 'fallback', providerCode: 20429, retryAfter: 7 });
    fake.failNext('*', { code: 20429, httpStatus: 429 });
    expect((await failure(sms().send(message(), live()))).details).toEqual({ kind: 'fallback', providerCode: 20429 });
  });

  it('bodies that are not JSON: a 5xx or a 201 falls back, a 401 or 404 is configuration', async () => {
    fake.failNext('*', { httpStatus: 503, raw: `<html>Service Unavailable for ${TO}</html>` });
    const unavailable = await failure(sms().send(message(), live()));
    expect(unavailable.details).toEqual({ kind: 'fallback', providerCode: 503 });
    expectNothingSecretIn(unavailable, credentials());
    fake.failNext('*', { httpStatus: 401, raw: 'Unauthorized' });
    expect((await failure(sms().send(message(), live()))).details).toEqual({ kind: 'configuration', providerCode: 401 });
    fake.failNext('*', { httpStatus: 404, raw: 'Not Found' });
    expect((await failure(sms().send(message(), live()))).details).toEqual({ kind: 'configuration', providerCode: 404 });
    fake.failNext('*', { httpStatus: 201, raw: 'not json' });
    expect((await failure(sms().send(message(), live()))).details).toEqual({ kind: 'fallback', providerCode: 'invalid_response' });
  });

  it('its own timeout falls back', async () => {
    fake.delay(2_000);
    const startedAt = Date.now();
    const error = await failure(sms({ timeoutMs: 100 }).send(message(), live()));
    expect(error.details).toEqual({ kind: 'fallback', providerCode: 'timeout' });
    expect(Date.now() - startedAt).toBeLessThan(1_500);
  });

  it('honours the core’s abort signal, and sends nothing when it is already aborted', async () => {
    fake.delay(2_000);
    const controller = new AbortController();
    const startedAt = Date.now();
    setTimeout(() => controller.abort(new Error('send timed out')), 50);
    const error = await failure(sms().send(message(), controller.signal));
    expect(error.details.kind).toBe('fallback');
    expect(Date.now() - startedAt).toBeLessThan(1_500);
    const received = fake.requests.length;
    await failure(sms().send(message(), AbortSignal.abort()));
    expect(fake.requests).toHaveLength(received);
  });

  it('an unreachable Twilio falls back', async () => {
    const port = await closedPort();
    const error = await failure(sms({ baseUrl: `http://127.0.0.1:${port}` }).send(message(), live()));
    expect(error.details).toEqual({ kind: 'fallback', providerCode: 'network' });
  });

  it('a recipient that is not E.164 is refused before any request, without echoing it', async () => {
    const error = await failure(sms().send(message({ to: '0034612345678' }), live()));
    expect(error.details).toEqual({ kind: 'fallback', providerCode: 'invalid_recipient' });
    expect(error.message).not.toContain('612345678');
    expect(fake.requests).toHaveLength(0);
  });

  it('template variables that throw or are not strings are configuration errors', async () => {
    const throwing = whatsapp({ contentVariables: () => { throw new Error(`boom ${TO}`); } });
    const thrown = await failure(throwing.send(message(), live()));
    expect(thrown.details).toEqual({ kind: 'configuration', providerCode: 'content_variables' });
    expect(thrown.message).not.toContain(TO);
    const numeric = whatsapp({ contentVariables: (m) => ({ '1': Number(m.code) }) as never });
    expect((await failure(numeric.send(message(), live()))).details.kind).toBe('configuration');
    expect(fake.requests).toHaveLength(0);
  });
});

describe('twilioChannel options', () => {
  const SECRET = 'S3cretTokenValue-do-not-print';
  const base = (): TwilioChannelOptions => ({ kind: 'sms', accountSid: `AC${'a'.repeat(32)}`, authToken: SECRET, from: SENDER });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['no kind', { kind: undefined }, /`kind` must be 'sms' or 'whatsapp'/],
    ['a bad kind', { kind: 'rcs' }, /`kind` must be 'sms' or 'whatsapp'/],
    ['a bad accountSid', { accountSid: 'AC123' }, /`accountSid` must be 'AC' followed by 32 hex digits/],
    ['no credentials', { authToken: undefined }, /exactly one of `authToken`.*and `apiKey`/],
    ['both credentials', { apiKey: { sid: `SK${'b'.repeat(32)}`, secret: SECRET } }, /exactly one of `authToken`/],
    ['an empty auth token', { authToken: '' }, /`authToken` is required/],
    ['an auth token with a space', { authToken: `${SECRET} ` }, /`authToken` has spaces/],
    ['an API key without its SK sid', { authToken: undefined, apiKey: { sid: SECRET, secret: SECRET } }, /`apiKey.sid` must be 'SK'/],
    ['an API key without a secret', { authToken: undefined, apiKey: { sid: `SK${'b'.repeat(32)}` } }, /`apiKey.secret` is required/],
    ['no sender', { from: undefined }, /exactly one of `from`.*`messagingServiceSid`/],
    ['two senders', { messagingServiceSid: MESSAGING_SERVICE }, /exactly one of `from`/],
    ['a WhatsApp sender for SMS', { from: `whatsapp:${SENDER}` }, /`from` must be an SMS sender/],
    ['a bad Messaging Service', { from: undefined, messagingServiceSid: 'MG1' }, /`messagingServiceSid` must be 'MG'/],
    ['a template for SMS', { contentSid: CONTENT }, /`contentSid` and `contentVariables` are for kind 'whatsapp'/],
    ['WhatsApp without a template', { kind: 'whatsapp' }, /`contentSid` is required for kind 'whatsapp'/],
    ['a bad template sid', { kind: 'whatsapp', contentSid: 'HX1' }, /`contentSid` must be 'HX'/],
    ['template variables that are not a function', { kind: 'whatsapp', contentSid: CONTENT, contentVariables: { 1: 'x' } }, /`contentVariables` must be a function/],
    ['a bad WhatsApp sender', { kind: 'whatsapp', contentSid: CONTENT, from: 'whatsapp:DemoBank' }, /`from` must be your WhatsApp sender/],
    ['a status callback with an underscore host', { statusCallback: 'https://my_app.example/hook' }, /`statusCallback` must be an absolute http\(s\) URL/],
    ['a status callback that is not http', { statusCallback: 'ftp://app.example/hook' }, /`statusCallback`/],
    ['a baseUrl with a query', { baseUrl: 'https://api.twilio.com/?x=1' }, /`baseUrl` must be an http\(s\) URL/],
    ['a tiny timeout', { timeoutMs: 5 }, /`timeoutMs` must be an integer from 100 to 60000/],
    ['a bad name', { name: 'SMS Channel' }, /`name` must be lower-case/],
    ['a misspelt option', { authtoken: SECRET }, /Unknown twilioChannel option `authtoken`/],
  ])('rejects %s with a message that says how to fix it and never prints the secret', (_label, change, expected) => {
    let thrown: unknown;
    try {
      twilioChannel({ ...base(), ...change } as TwilioChannelOptions);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as TypeError).message).toMatch(expected);
    expectNothingSecretIn(thrown, [SECRET]);
  });

  it('keeps the credentials out of the channel object', () => {
    const channel = sms({ authToken: undefined, apiKey: fake.apiKey });
    for (const rendering of [JSON.stringify(channel), inspect(channel, { depth: 5, showHidden: true })]) {
      for (const secret of credentials()) expect(rendering).not.toContain(secret);
    }
    expect(Object.isFrozen(channel)).toBe(true);
  });
});

describe('twilioChannel in a step-up service', () => {
  it('falls back from WhatsApp (63003) to SMS, the SMS code verifies, and no secret reaches an event or a log', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const harness = makeStepUp({ channels: [whatsapp({ name: 'whatsapp' }), sms()], webOtpDomain: 'bank.example' });
      fake.failNext('*', { code: 63003, httpStatus: 400 });
      const view = await harness.stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'login' });
      expect(view.channel).toBe('sms');
      const code = fake.lastCode(PHONE)!;
      expect(fake.lastBody(PHONE)).toContain(`#${code}`);
      const { claims } = await harness.stepup.verify(view.challengeId, code, { subject: SUBJECT });
      expect(claims.amr).toContain('sms');

      // A bad token: configuration error, logged loudly, without the token.
      const broken = makeStepUp({ channels: [sms({ authToken: 'e'.repeat(32) })] });
      await expect(broken.stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'login' })).rejects.toThrow();
      const everything = JSON.stringify([harness.events, broken.events, logged.mock.calls]);
      for (const secret of [fake.authToken, fake.apiKey.secret, 'e'.repeat(32)]) expect(everything).not.toContain(secret);
      expect(JSON.stringify(logged.mock.calls)).not.toContain(PHONE.slice(1));
    } finally {
      logged.mockRestore();
    }
  });
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
