/**
 * A status webhook is believed only when its X-Hub-Signature-256 matches the raw body
 * under the app secret, compared in constant time; anything else is false, never an
 * exception. The parser takes only well-formed delivery statuses out of a body and never
 * throws on junk, so a forged or odd body cannot crash the route or trigger a fallback.
 */
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import * as crypto from 'node:crypto';
import fc from 'fast-check';
import { parseWhatsAppStatusWebhook, verifyMetaSignature } from '../src/channels/whatsapp-webhook.js';
import { signMetaWebhook, startFakeWhatsApp, type FakeWhatsApp } from '../src/testing/index.js';
import { whatsappCloudChannel } from '../src/channels/whatsapp-cloud.js';
import { metaValidators } from './support/meta-spec.js';

vi.mock('node:crypto', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:crypto')>();
  return { ...original, timingSafeEqual: vi.fn(original.timingSafeEqual) };
});

const SECRET = 'app-secret-0123456789abcdef';
const TO = '+34600111222';
let fake: FakeWhatsApp;
let messageId: string;

beforeAll(async () => {
  fake = await startFakeWhatsApp({ validate: metaValidators().fake });
  const channel = whatsappCloudChannel({
    phoneNumberId: fake.phoneNumberId,
    accessToken: fake.accessToken,
    template: { name: 'login_code', language: 'en_US' },
    baseUrl: fake.baseUrl,
  });
  messageId = (await channel.send(
    { to: TO, code: '123456', text: '', purpose: 'login', locale: 'en', challengeId: 'c1', ttlSeconds: 300 },
    new AbortController().signal,
  )).messageId!;
});

afterAll(async () => {
  expect(fake.problems()).toEqual([]);
  await fake.close();
});

describe('parseWhatsAppStatusWebhook', () => {
  test.each(['sent', 'delivered', 'read'] as const)('a %s status of a sent message is read with its wamid and timestamp', (status) => {
    const body = fake.statusPayload({ messageId, status, timestamp: 1_764_000_000 });
    expect(parseWhatsAppStatusWebhook(body)).toEqual([{ messageId, status, errorCodes: [], timestamp: 1_764_000_000 }]);
  });

  test('a failed status carries its error codes', () => {
    const body = fake.statusPayload({ messageId, status: 'failed', errorCode: 131049, timestamp: 1_764_000_001 });
    expect(parseWhatsAppStatusWebhook(body)).toEqual([{ messageId, status: 'failed', errorCodes: [131049], timestamp: 1_764_000_001 }]);
  });

  test('the same body survives a trip through JSON, as the route will parse it', () => {
    const body = fake.statusPayload({ messageId, status: 'delivered' });
    expect(parseWhatsAppStatusWebhook(JSON.parse(JSON.stringify(body)))).toEqual(parseWhatsAppStatusWebhook(body));
  });

  test('other changes and malformed statuses are skipped; good ones keep their order', () => {
    const metadata = { display_phone_number: '15550783881', phone_number_id: fake.phoneNumberId };
    const body = {
      object: 'whatsapp_business_account',
      entry: [
        null,
        { id: '1', changes: 'nope' },
        {
          id: '419561257915477',
          changes: [
            // An incoming message: not a status.
            { field: 'messages', value: { messaging_product: 'whatsapp', metadata, contacts: [{ profile: { name: 'Ana' }, wa_id: '34600111222' }], messages: [{ from: '34600111222', id: 'wamid.in', timestamp: '1', type: 'text', text: { body: 'hi' } }] } },
            { field: 'group_lifecycle_update', value: { messaging_product: 'whatsapp', metadata, groups: [] } },
            {
              field: 'messages',
              value: {
                messaging_product: 'whatsapp',
                metadata,
                statuses: [
                  { id: 'wamid.A', status: 'failed', timestamp: '1764000000', recipient_id: '34600111222', errors: [{ code: 131026 }, { code: '131000' }, null] },
                  { id: 'wamid.B', status: 'deleted', timestamp: '1764000000', recipient_id: '34600111222' },
                  { status: 'sent', timestamp: '1764000000', recipient_id: '34600111222' },
                  { id: '', status: 'sent' },
                  { id: 42, status: 'sent' },
                  { id: 'wamid.with space', status: 'sent', timestamp: '1764000000', recipient_id: '34600111222' },
                  'wamid.C',
                  { id: 'wamid.D', status: 'delivered', timestamp: 'yesterday', recipient_id: '34600111222' },
                  { id: 'wamid.E', status: 'read', timestamp: '1764000002', recipient_id: '34600111222', errors: 'none' },
                ],
              },
            },
          ],
        },
      ],
    };
    expect(parseWhatsAppStatusWebhook(body)).toEqual([
      { messageId: 'wamid.A', status: 'failed', errorCodes: [131026], timestamp: 1_764_000_000 },
      { messageId: 'wamid.D', status: 'delivered', errorCodes: [] },
      { messageId: 'wamid.E', status: 'read', errorCodes: [], timestamp: 1_764_000_002 },
    ]);
  });

  test.each([undefined, null, 'x', 42, [], {}, { object: 'page', entry: [] }, { object: 'whatsapp_business_account' }, { object: 'whatsapp_business_account', entry: {} }])(
    'junk (%j) gives no statuses',
    (body) => {
      expect(parseWhatsAppStatusWebhook(body)).toEqual([]);
    },
  );

  test('a body of a foreign object type is ignored even when it holds statuses', () => {
    const body = fake.statusPayload({ messageId, status: 'failed' }) as { object: string };
    expect(parseWhatsAppStatusWebhook({ ...body, object: 'instagram' })).toEqual([]);
  });

  test('no value, however odd, makes it throw (property-based)', () => {
    fc.assert(
      fc.property(fc.anything({ maxDepth: 6, withNullPrototype: true, withObjectString: true }), (body) => {
        expect(Array.isArray(parseWhatsAppStatusWebhook(body))).toBe(true);
      }),
    );
    const shaped = fc.record({
      object: fc.constantFrom('whatsapp_business_account', 'x'),
      entry: fc.array(fc.record({ changes: fc.array(fc.record({ value: fc.record({ statuses: fc.array(fc.anything()) }) })) })),
    });
    fc.assert(fc.property(shaped, (body) => {
      for (const update of parseWhatsAppStatusWebhook(body)) {
        expect(['sent', 'delivered', 'read', 'failed']).toContain(update.status);
        expect(typeof update.messageId).toBe('string');
      }
    }));
  });
});

describe('verifyMetaSignature', () => {
  const raw = () => JSON.stringify(fake.statusPayload({ messageId, status: 'delivered', timestamp: 1_764_000_000 }));

  test('the header Meta computes over the raw body is accepted, as bytes or as a string', () => {
    const body = raw();
    const header = signMetaWebhook(body, SECRET);
    expect(header).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyMetaSignature(Buffer.from(body), header, SECRET)).toBe(true);
    expect(verifyMetaSignature(body, header, SECRET)).toBe(true);
    expect(verifyMetaSignature(Buffer.from(body), header.toUpperCase().replace('SHA256=', 'sha256='), SECRET)).toBe(true);
  });

  test('a signature made with another secret is refused', () => {
    const body = raw();
    expect(verifyMetaSignature(Buffer.from(body), signMetaWebhook(body, 'another-secret'), SECRET)).toBe(false);
  });

  test('a missing header is refused', () => {
    expect(verifyMetaSignature(Buffer.from(raw()), undefined, SECRET)).toBe(false);
  });

  test.each(['', 'sha256=', 'sha256=zz', `sha1=${'a'.repeat(40)}`, `sha256=${'a'.repeat(63)}`, `sha256=${'a'.repeat(65)}`, `sha256=${'g'.repeat(64)}`, `${'a'.repeat(64)}`])(
    'a malformed header (%s) is refused',
    (header) => {
      expect(verifyMetaSignature(Buffer.from(raw()), header, SECRET)).toBe(false);
    },
  );

  test('a body changed by a single byte is refused', () => {
    const body = Buffer.from(raw());
    const header = signMetaWebhook(body, SECRET);
    for (const position of [0, Math.floor(body.length / 2), body.length - 1]) {
      const changed = Buffer.from(body);
      changed[position] = changed[position]! ^ 0x01;
      expect(verifyMetaSignature(changed, header, SECRET)).toBe(false);
    }
    expect(verifyMetaSignature(Buffer.concat([body, Buffer.from(' ')]), header, SECRET)).toBe(false);
  });

  test('the comparison goes through crypto.timingSafeEqual on equal-length digests', () => {
    const spy = vi.mocked(crypto.timingSafeEqual);
    spy.mockClear();
    const body = raw();
    expect(verifyMetaSignature(Buffer.from(body), signMetaWebhook(body, 'wrong-secret'), SECRET)).toBe(false);
    expect(spy).toHaveBeenCalledTimes(1);
    const [given, expected] = spy.mock.calls[0]! as [Buffer, Buffer];
    expect(given.length).toBe(32);
    expect(expected.length).toBe(32);
  });

  test('an empty secret or a parsed body is a setup mistake, said without echoing the secret', () => {
    const body = raw();
    expect(() => verifyMetaSignature(Buffer.from(body), signMetaWebhook(body, SECRET), '')).toThrow(/`appSecret` is required/);
    let thrown: unknown;
    try {
      verifyMetaSignature(JSON.parse(body) as unknown as Buffer, signMetaWebhook(body, SECRET), SECRET);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect(String(thrown)).toMatch(/raw bytes/);
    expect(String(thrown)).not.toContain(SECRET);
  });
});
