/**
 * The WhatsApp Cloud API channel sends exactly what Meta's spec describes and reads every
 * answer Meta documents: each request it makes and each answer the fake gives is checked
 * against the TemplateMessage, MessageResponsePayload and GraphAPIError schemas. A failure
 * is always a ChannelError that says whether to fall back or to fix the setup, and no
 * error ever carries the access token, the recipient's number or Meta's own wording.
 */
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { ChannelError, type Channel, type OutgoingMessage } from '../src/channels/channel.js';
import { whatsappCloudChannel, type WhatsAppCloudChannelOptions } from '../src/channels/whatsapp-cloud.js';
import { startFakeWhatsApp, type FakeWhatsApp } from '../src/testing/index.js';
import { metaValidators } from './support/meta-spec.js';

const TO = '+34600111222';
let fake: FakeWhatsApp;

beforeAll(async () => {
  fake = await startFakeWhatsApp({ validate: metaValidators().fake });
});

afterEach(() => {
  // Every request the channel sent and every answer the fake gave matched Meta's schemas.
  expect(fake.problems()).toEqual([]);
  fake.reset();
});

afterAll(async () => {
  await fake.close();
});

function channel(overrides: Partial<WhatsAppCloudChannelOptions> = {}): Channel {
  return whatsappCloudChannel({
    phoneNumberId: fake.phoneNumberId,
    accessToken: fake.accessToken,
    template: { name: 'login_code', language: 'en_US' },
    baseUrl: fake.baseUrl,
    ...overrides,
  });
}

function message(overrides: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return { to: TO, code: '123456', text: 'Acme: your sign-in code is 123456.', purpose: 'login', locale: 'en', challengeId: 'c1', ttlSeconds: 300, ...overrides };
}

/** The send's rejection, checked to be a ChannelError that leaks no secret and no number. */
async function failure(sending: Promise<unknown>, secrets: string[] = []): Promise<ChannelError> {
  const error = await sending.then(
    () => expect.unreachable('the send should have failed'),
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ChannelError);
  const channelError = error as ChannelError;
  for (const text of [channelError.message, String(channelError), channelError.stack ?? '', JSON.stringify(channelError.details)]) {
    for (const secret of [fake.accessToken, TO, TO.slice(1), ...secrets]) expect(text).not.toContain(secret);
  }
  return channelError;
}

describe('sending', () => {
  test('a send posts the AUTHENTICATION template with the code in the body and the copy-code button, and returns the wamid', async () => {
    const receipt = await channel().send(message(), new AbortController().signal);

    expect(receipt.messageId).toMatch(/^wamid\./);
    expect(receipt.messageId).toBe(fake.lastMessageId(TO));
    expect(fake.lastCode(TO)).toBe('123456');
    const request = fake.requests.at(-1)!;
    expect(request).toMatchObject({ method: 'POST', path: `/v23.0/${fake.phoneNumberId}/messages`, authorized: true, status: 200 });
    expect(request.body).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '34600111222',
      type: 'template',
      template: {
        name: 'login_code',
        language: { policy: 'deterministic', code: 'en_US' },
        components: [
          { type: 'body', parameters: [{ type: 'text', text: '123456' }] },
          { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: '123456' }] },
        ],
      },
    });
    expect(request.response).toMatchObject({ messages: [{ id: receipt.messageId, message_status: 'accepted' }] });
  });

  test('the channel is named whatsapp with the whatsapp transport unless told otherwise', () => {
    expect(channel()).toMatchObject({ name: 'whatsapp', transport: 'whatsapp' });
    expect(channel({ name: 'wa-backup' }).name).toBe('wa-backup');
  });

  test('apiVersion and baseUrl decide the URL', async () => {
    await channel({ apiVersion: 'v21.0', baseUrl: `${fake.baseUrl}/` }).send(message(), new AbortController().signal);
    expect(fake.requests.at(-1)!.path).toBe(`/v21.0/${fake.phoneNumberId}/messages`);
  });

  test.each([
    ['en', 'en_US'],
    ['es', 'es'],
    ['es-MX', 'es'],
    ['pt-BR', 'pt_BR'],
    ['pt', 'pt_BR'],
    ['PT-br', 'pt_BR'],
    ['fr', 'en_GB'],
  ])('the locale %s picks the Meta language %s from a language map', async (locale, code) => {
    const mapped = channel({ template: { name: 'login_code', language: { en: 'en_US', es: 'es', 'pt-BR': 'pt_BR', '*': 'en_GB' } } });
    await mapped.send(message({ locale }), new AbortController().signal);
    expect((fake.requests.at(-1)!.body as { template: { language: { code: string } } }).template.language.code).toBe(code);
  });

  test('a ten-digit code fits the button; longer or non-digit codes are refused before any request', async () => {
    await channel().send(message({ code: '0123456789' }), new AbortController().signal);
    expect(fake.lastCode(TO)).toBe('0123456789');

    const before = fake.requests.length;
    for (const code of ['01234567890', '12a456', '', '123']) {
      const error = await failure(channel().send(message({ code }), new AbortController().signal));
      expect(error.details).toMatchObject({ kind: 'configuration', providerCode: 'code_format' });
    }
    const error = await failure(channel().send(message({ to: '34600111222' }), new AbortController().signal));
    expect(error.details).toMatchObject({ kind: 'configuration', providerCode: 'phone_format' });
    expect(fake.requests.length).toBe(before);
  });
});

describe("Meta's error codes", () => {
  test('131026 (not on WhatsApp) falls back and says so, in our words only', async () => {
    const to = '+447700900123';
    fake.failNext(to, { code: 131026, message: `(#131026) Message undeliverable to ${to}`, details: `Recipient ${to.slice(1)} is not a WhatsApp user` });
    const error = await failure(channel().send(message({ to }), new AbortController().signal), [to, to.slice(1), 'undeliverable to', 'not a WhatsApp user']);
    expect(error.details).toEqual({ kind: 'fallback', providerCode: 131026, notOnWhatsApp: true });
    expect(error.message).toContain('131026');
    // A refused message is not a sent one: there is no code to read.
    expect(fake.requests.at(-1)!.code).toBe('123456');
    expect(fake.lastCode(to)).toBeUndefined();
  });

  const templateCodes = Array.from({ length: 17 }, (_, index) => 132000 + index);
  test.each([...templateCodes, 190, 0, 10])('%i is a configuration error', async (code) => {
    fake.failNext(TO, { code, message: `(#${code}) about ${TO} and ${fake.accessToken}` });
    const error = await failure(channel().send(message(), new AbortController().signal));
    expect(error.details).toEqual({ kind: 'configuration', providerCode: code });
    expect(error.message).toContain(String(code));
  });

  test.each([131049, 130472, 131048, 130429, 131056, 80007, 4, 131000])('%i falls back at once', async (code) => {
    fake.failNext(TO, { code, details: `for ${TO}` });
    const error = await failure(channel().send(message(), new AbortController().signal));
    expect(error.details).toEqual({ kind: 'fallback', providerCode: code });
  });

  test('a code Meta has not documented for us falls back', async () => {
    fake.failNext(TO, { code: 131047 });
    expect((await failure(channel().send(message(), new AbortController().signal))).details).toEqual({ kind: 'fallback', providerCode: 131047 });
  });

  test('a wrong phone number id is a configuration error (Graph API code 100)', async () => {
    const error = await failure(channel({ phoneNumberId: '999999999' }).send(message(), new AbortController().signal));
    expect(error.details).toEqual({ kind: 'configuration', providerCode: 100 });
  });

  test('a wrong access token is a configuration error (190) whose message does not hold either token', async () => {
    const wrong = 'EAAwrongtoken0123456789';
    const error = await failure(channel({ accessToken: wrong }).send(message(), new AbortController().signal), [wrong]);
    expect(error.details).toEqual({ kind: 'configuration', providerCode: 190 });
    expect(fake.requests.at(-1)).toMatchObject({ authorized: false, status: 401 });
  });

  test('failures queue per number, for anyone, or for good until reset', async () => {
    fake.failNext('*', { code: 131000 });
    fake.failNext(TO, { code: 131026 });
    const send = () => channel().send(message(), new AbortController().signal);
    expect((await failure(send())).details.providerCode).toBe(131026);
    expect((await failure(send())).details.providerCode).toBe(131000);
    await expect(send()).resolves.toMatchObject({ messageId: expect.stringMatching(/^wamid\./) });

    fake.failAlways(TO, { code: 131048 });
    expect((await failure(send())).details.providerCode).toBe(131048);
    expect((await failure(send())).details.providerCode).toBe(131048);
    await expect(channel().send(message({ to: '+34600111333' }), new AbortController().signal)).resolves.toBeDefined();
    fake.reset();
    await expect(send()).resolves.toBeDefined();
  });
});

describe('answers without a Graph API error', () => {
  test.each([
    [502, '<html><body>Bad Gateway</body></html>', 'http_502'],
    [503, '', 'http_503'],
    [500, 'upstream connect error', 'http_500'],
  ])('HTTP %i with a non-JSON body falls back', async (httpStatus, rawBody, providerCode) => {
    fake.failNext(TO, { httpStatus, rawBody });
    expect((await failure(channel().send(message(), new AbortController().signal))).details).toEqual({ kind: 'fallback', providerCode });
  });

  test('HTTP 401 without an error body is a configuration error', async () => {
    fake.failNext(TO, { httpStatus: 401, rawBody: 'Unauthorized' });
    expect((await failure(channel().send(message(), new AbortController().signal))).details).toEqual({ kind: 'configuration', providerCode: 'http_401' });
  });

  test('HTTP 200 without a usable message id falls back', async () => {
    fake.failNext(TO, { httpStatus: 200, rawBody: 'OK' });
    expect((await failure(channel().send(message(), new AbortController().signal))).details).toEqual({ kind: 'fallback', providerCode: 'bad_response' });
    for (const messages of [[], [{ id: 'wamid.with space' }], [{ id: `wamid.${'A'.repeat(300)}` }], [{ id: 42 }]]) {
      fake.failNext(TO, { httpStatus: 200, rawBody: JSON.stringify({ messaging_product: 'whatsapp', messages }) });
      expect((await failure(channel().send(message(), new AbortController().signal))).details).toEqual({ kind: 'fallback', providerCode: 'bad_response' });
    }
  });

  test('a message held or paused by Meta is not taken as sent: the code would arrive late', async () => {
    for (const status of ['held_for_quality_assessment', 'paused']) {
      const body = { messaging_product: 'whatsapp', messages: [{ id: 'wamid.held', message_status: status }] };
      expect(metaValidators().messageResponse(body)).toEqual([]);
      fake.failNext(TO, { httpStatus: 200, rawBody: JSON.stringify(body) });
      expect((await failure(channel().send(message(), new AbortController().signal))).details).toEqual({ kind: 'fallback', providerCode: status });
    }
  });

  test('an answer without message_status (older API versions) is accepted', async () => {
    fake.failNext(TO, { httpStatus: 200, rawBody: JSON.stringify({ messaging_product: 'whatsapp', messages: [{ id: 'wamid.old' }] }) });
    await expect(channel().send(message(), new AbortController().signal)).resolves.toEqual({ messageId: 'wamid.old' });
  });

  test('an unreachable API falls back', async () => {
    const closed = await startFakeWhatsApp();
    await closed.close();
    const error = await failure(channel({ baseUrl: closed.baseUrl }).send(message(), new AbortController().signal));
    expect(error.details).toEqual({ kind: 'fallback', providerCode: 'network' });
  });
});

describe('time limits', () => {
  test('a slow API hits the channel timeout and falls back', async () => {
    fake.delay(5_000);
    const started = performance.now();
    const error = await failure(channel({ timeoutMs: 100 }).send(message(), new AbortController().signal));
    expect(error.details).toEqual({ kind: 'fallback', providerCode: 'timeout' });
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  test("the core's abort signal stops a send at once", async () => {
    fake.delay(5_000);
    const controller = new AbortController();
    const started = performance.now();
    const sending = channel().send(message(), controller.signal);
    setTimeout(() => controller.abort(new Error('send timed out')), 50);
    const error = await failure(sending);
    expect(error.details.kind).toBe('fallback');
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  test('an already aborted signal fails without waiting', async () => {
    fake.delay(5_000);
    const started = performance.now();
    const error = await failure(channel().send(message(), AbortSignal.abort()));
    expect(error.details.kind).toBe('fallback');
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});

describe('options', () => {
  const valid: WhatsAppCloudChannelOptions = {
    phoneNumberId: '106540352242922',
    accessToken: 'EAAsecretToken0123456789',
    template: { name: 'login_code', language: 'en_US' },
  };

  test.each<[string, Record<string, unknown>, RegExp]>([
    ['no phoneNumberId', { phoneNumberId: undefined }, /`phoneNumberId` is required/],
    ['a phone number as phoneNumberId', { phoneNumberId: '+15550783881' }, /`phoneNumberId` must be the numeric id/],
    ['no accessToken', { accessToken: '' }, /`accessToken` is required/],
    ['a "Bearer " prefix on the token', { accessToken: 'Bearer EAAsecretToken0123456789' }, /`accessToken` must be the token alone/],
    ['a line break in the token', { accessToken: 'EAAsecretToken0123456789\n' }, /`accessToken` must be the token alone/],
    ['no template', { template: undefined }, /`template` is required/],
    ['a template name with capitals', { template: { name: 'Login Code', language: 'en_US' } }, /`template.name` must be/],
    ['a BCP 47 tag as Meta language', { template: { name: 'login_code', language: 'en-US' } }, /`template.language` must be a Meta template language code/],
    ['a language map without *', { template: { name: 'login_code', language: { en: 'en_US' } } }, /needs a '\*' entry/],
    ['a bad locale key', { template: { name: 'login_code', language: { 'en US': 'en_US', '*': 'en_US' } } }, /keys must be locales/],
    ['a bad code in the map', { template: { name: 'login_code', language: { es: 'spanish', '*': 'en_US' } } }, /template.language\['es'\]/],
    ['an unknown template key', { template: { name: 'login_code', language: 'en_US', namespace: 'x' } }, /`template` has no option `namespace`/],
    ['a bad apiVersion', { apiVersion: '23' }, /`apiVersion` must be a Graph API version such as 'v23.0'/],
    ['a baseUrl with a query', { baseUrl: 'https://graph.facebook.com/?access_token=x' }, /`baseUrl` must be an http\(s\) URL without query/],
    ['a baseUrl that is not a URL', { baseUrl: 'graph.facebook.com' }, /`baseUrl` must be an http\(s\) URL/],
    ['a timeout out of range', { timeoutMs: 50 }, /`timeoutMs` must be an integer from 100 to 60000/],
    ['a bad channel name', { name: 'WhatsApp' }, /`name` must be lower-case/],
    ['an unknown option', { token: 'x' }, /has no option `token`/],
  ])('%s is refused with a message that says how to fix it', (_, change, expected) => {
    const options = { ...valid, ...change } as unknown as WhatsAppCloudChannelOptions;
    let thrown: unknown;
    try {
      whatsappCloudChannel(options);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as TypeError).message).toMatch(expected);
    expect((thrown as TypeError).message).not.toContain('secretToken');
  });

  test('no options at all is refused', () => {
    expect(() => whatsappCloudChannel(undefined as unknown as WhatsAppCloudChannelOptions)).toThrow(/needs an options object/);
  });

  test('the channel object does not show the access token when logged', () => {
    const built = whatsappCloudChannel(valid);
    expect(inspect(built, { depth: 10, showHidden: true })).not.toContain('secretToken');
    expect(JSON.stringify(built)).not.toContain('secretToken');
    expect(Object.isFrozen(built)).toBe(true);
  });
});
