/**
 * The WhatsApp channel keeps the core's contract end to end: the code the core generated
 * is the one Meta is asked to deliver, a synchronous "not on WhatsApp" moves the challenge
 * to the next channel at once, and a `failed` status webhook, parsed by our parser, makes
 * the core send by the next channel with a new code.
 */
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { OutboxChannel } from '../src/index.js';
import { whatsappCloudChannel } from '../src/channels/whatsapp-cloud.js';
import { parseWhatsAppStatusWebhook, verifyMetaSignature } from '../src/channels/whatsapp-webhook.js';
import { signMetaWebhook, startFakeWhatsApp, type FakeWhatsApp } from '../src/testing/index.js';
import { makeStepUp, PHONE, SUBJECT } from './core.fixtures.js';
import { metaValidators } from './support/meta-spec.js';

let fake: FakeWhatsApp;

beforeAll(async () => {
  fake = await startFakeWhatsApp({ validate: metaValidators().fake });
});

afterEach(() => {
  expect(fake.problems()).toEqual([]);
  fake.reset();
});

afterAll(async () => {
  await fake.close();
});

function harness() {
  const whatsapp = whatsappCloudChannel({
    phoneNumberId: fake.phoneNumberId,
    accessToken: fake.accessToken,
    template: { name: 'login_code', language: { en: 'en_US', es: 'es', '*': 'en_US' } },
    baseUrl: fake.baseUrl,
  });
  const sms = new OutboxChannel({ name: 'sms', transport: 'sms' });
  return { ...makeStepUp({ channels: [whatsapp, sms] }), sms };
}

test('the code that Meta was asked to deliver verifies', async () => {
  const { stepup } = harness();
  const view = await stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'login', locale: 'es' });
  expect(view.channel).toBe('whatsapp');
  expect((fake.requests.at(-1)!.body as { template: { language: { code: string } } }).template.language.code).toBe('es');
  const code = fake.lastCode(PHONE)!;
  expect(code).toMatch(/^[0-9]{6}$/);
  await expect(stepup.verify(view.challengeId, code, { subject: SUBJECT })).resolves.toMatchObject({ token: expect.any(String) });
});

test('131026 moves the challenge to the next channel at once', async () => {
  const { stepup, sms, events } = harness();
  fake.failNext(PHONE, { code: 131026 });
  const view = await stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'login' });
  expect(view.channel).toBe('sms');
  expect(events.map((event) => event.type)).toEqual(expect.arrayContaining(['delivery.failed', 'delivery.fallback', 'delivery.sent']));
  await expect(stepup.verify(view.challengeId, sms.latest(PHONE)!.code, { subject: SUBJECT })).resolves.toBeDefined();
});

test('a signed failed-status webhook, parsed by our parser, makes the core fall back with a new code', async () => {
  const { stepup, sms } = harness();
  const view = await stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'login' });
  const whatsappCode = fake.lastCode(PHONE)!;
  const raw = JSON.stringify(fake.statusPayload({ messageId: fake.lastMessageId(PHONE)!, status: 'failed', errorCode: 131049 }));
  const header = signMetaWebhook(raw, 'app-secret');

  expect(verifyMetaSignature(Buffer.from(raw), header, 'app-secret')).toBe(true);
  const [update] = parseWhatsAppStatusWebhook(JSON.parse(raw));
  await expect(stepup.handleDeliveryStatus(update!)).resolves.toBe('fell_back');
  const smsCode = sms.latest(PHONE)!.code;
  expect(smsCode).not.toBe(whatsappCode);

  // Meta may repeat the webhook: the second copy changes nothing.
  await expect(stepup.handleDeliveryStatus(update!)).resolves.toBe('ignored');
  expect(sms.messages()).toHaveLength(1);
  await expect(stepup.verify(view.challengeId, smsCode, { subject: SUBJECT })).resolves.toBeDefined();
});
