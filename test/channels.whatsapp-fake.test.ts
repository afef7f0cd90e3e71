/**
 * The fake WhatsApp Cloud API is only worth testing against if it behaves like Meta's:
 * the schema validators must reject what Meta's spec rejects, and the fake must answer
 * wrong tokens, wrong ids and malformed sends the way the Graph API does, with bodies that
 * match Meta's schemas. Our users' integration tests rely on it through whatsapp-stepup/testing.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { signMetaWebhook, startFakeWhatsApp, type FakeWhatsApp } from '../src/testing/index.js';
import { metaValidators } from './support/meta-spec.js';

const validators = metaValidators();

const send = {
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
};

function changed(edit: (body: typeof send & Record<string, unknown>) => void): unknown {
  const body = structuredClone(send) as typeof send & Record<string, unknown>;
  edit(body);
  return body;
}

describe('the Meta schema validators have teeth', () => {
  test('our send is a valid TemplateMessage', () => {
    expect(validators.templateMessage(send)).toEqual([]);
  });

  test.each<[string, unknown]>([
    ['a send without template.name', changed((body) => delete (body.template as Partial<typeof send.template>).name)],
    ['a send of type text', changed((body) => (body.type = 'text'))],
    ['a send without template', changed((body) => delete (body as Partial<typeof send>).template)],
    ['a send without `to`', changed((body) => delete (body as Partial<typeof send>).to)],
    ['a language without policy', changed((body) => delete (body.template.language as Partial<typeof send.template.language>).policy)],
    ['a language policy other than deterministic', changed((body) => (body.template.language.policy = 'fallback'))],
    ['a body parameter without text', changed((body) => delete (body.template.components[0]!.parameters[0] as { text?: string }).text)],
    ['a button without sub_type', changed((body) => delete (body.template.components[1] as { sub_type?: string }).sub_type)],
    ['a button without index', changed((body) => delete (body.template.components[1] as { index?: string }).index)],
    ['a button with a numeric index', changed((body) => ((body.template.components[1] as { index: unknown }).index = 0))],
    ['a button without parameters', changed((body) => ((body.template.components[1] as { parameters: unknown[] }).parameters = []))],
    ['a button parameter of an unknown type', changed((body) => ((body.template.components[1]!.parameters[0] as { type: string }).type = 'coupon_code'))],
    ['a component of an unknown type', changed((body) => ((body.template.components[0] as { type: string }).type = 'footer'))],
  ])('%s is rejected', (_, body) => {
    expect(validators.templateMessage(body).length).toBeGreaterThan(0);
  });

  test("the index pattern dropped from the spec really rejects Meta's own documented value '0'", () => {
    const spec = parse(readFileSync(new URL('./specs/meta-whatsapp-business-messaging-api_v23.0.yaml', import.meta.url), 'utf8')) as {
      components: { schemas: { ButtonComponent: { allOf: { properties?: { index?: { pattern?: string } } }[] } } };
    };
    const pattern = spec.components.schemas.ButtonComponent.allOf[1]!.properties!.index!.pattern!;
    expect(new RegExp(pattern).test('0')).toBe(false);
  });

  test('responses, errors and webhooks are checked too', () => {
    expect(validators.messageResponse({ messaging_product: 'whatsapp', messages: [{ id: 'wamid.x', message_status: 'delivered' }] }).length).toBeGreaterThan(0);
    expect(validators.graphError({ error: { message: 'x', code: 190 } }).length).toBeGreaterThan(0);
    expect(validators.graphError({ error: { message: 'x', type: 'OAuthException', code: '190' } }).length).toBeGreaterThan(0);
    expect(validators.webhookPayload({ object: 'whatsapp_business_account' }).length).toBeGreaterThan(0);
    expect(validators.statuses({ id: 'wamid.x', status: 'delivered', timestamp: '1' }).length).toBeGreaterThan(0);
    expect(validators.statuses({ id: 'wamid.x', status: 'bounced', timestamp: '1', recipient_id: '1' }).length).toBeGreaterThan(0);
  });
});

describe('the fake WhatsApp Cloud API', () => {
  let fake: FakeWhatsApp;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${fake.baseUrl}${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${fake.accessToken}`, 'Content-Type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const messages = () => `/v23.0/${fake.phoneNumberId}/messages`;

  beforeAll(async () => {
    fake = await startFakeWhatsApp({ validate: validators.fake });
  });

  afterAll(async () => {
    await fake.close();
  });

  test('an accepted send answers a valid MessageResponsePayload and exposes the code by number, with or without +', async () => {
    const response = await post(messages(), { ...send, to: '+34600111222' });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { contacts: unknown[]; messages: { id: string }[] };
    expect(validators.messageResponse(body)).toEqual([]);
    expect(body.contacts).toEqual([{ input: '+34600111222', wa_id: '34600111222' }]);
    expect(fake.lastCode('+34600111222')).toBe('123456');
    expect(fake.lastCode('34600111222')).toBe('123456');
    expect(fake.lastMessageId('34600111222')).toBe(body.messages[0]!.id);
    expect(fake.lastCode('+34600111333')).toBeUndefined();
  });

  test.each<[string, () => Promise<Response>, number, number]>([
    ['a wrong token', () => post(messages(), send, { Authorization: 'Bearer EAAwrong' }), 401, 190],
    ['no token', () => fetch(`${fake.baseUrl}${messages()}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(send) }), 401, 190],
    ['another phone number id', () => post('/v23.0/123/messages', send), 400, 100],
    ['an unknown path', () => post('/v23.0/messages', send), 400, 2500],
    ['a GET', () => fetch(`${fake.baseUrl}${messages()}`, { headers: { Authorization: `Bearer ${fake.accessToken}` } }), 400, 100],
    ['a form-encoded body', () => post(messages(), 'to=1', { 'Content-Type': 'application/x-www-form-urlencoded' }), 400, 100],
  ])('%s gets the Graph API error Meta would give', async (_, request, status, code) => {
    const response = await request();
    expect(response.status).toBe(status);
    const body = (await response.json()) as { error: { code: number } };
    expect(validators.graphError(body)).toEqual([]);
    expect(body.error.code).toBe(code);
    if (status === 401) expect(response.headers.get('www-authenticate')).toMatch(/invalid_token/);
  });

  test('scripted failures default to the HTTP status Meta uses for the code', async () => {
    for (const [code, status] of [[190, 401], [10, 403], [131000, 500], [131026, 400]] as const) {
      fake.failNext('*', { code });
      const response = await post(messages(), send);
      expect(response.status).toBe(status);
      expect(validators.graphError(await response.json())).toEqual([]);
    }
  });

  test('every request and answer so far matched the schemas', () => {
    expect(fake.requests.length).toBeGreaterThan(5);
    expect(fake.problems()).toEqual([]);
  });

  test('a send that breaks the schema is refused with code 100 and recorded as a problem', async () => {
    const strict = await startFakeWhatsApp({ validate: validators.fake });
    try {
      const response = await fetch(`${strict.baseUrl}/v23.0/${strict.phoneNumberId}/messages`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${strict.accessToken}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ ...send, type: 'text' }),
      });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { code: number } }).error.code).toBe(100);
      expect(strict.problems().join('\n')).toMatch(/#0 request: \/type/);
      expect(strict.lastCode('34600111222')).toBeUndefined();
    } finally {
      await strict.close();
    }
  });

  test('without a validator the fake still answers and reads codes (for users without ajv)', async () => {
    const plain = await startFakeWhatsApp({ accessToken: 'EAAmine', phoneNumberId: '42' });
    try {
      const response = await fetch(`${plain.baseUrl}/v23.0/42/messages`, {
        method: 'POST',
        headers: { Authorization: 'Bearer EAAmine', 'Content-Type': 'application/json' },
        body: JSON.stringify(send),
      });
      expect(response.status).toBe(200);
      expect(plain.lastCode('+34600111222')).toBe('123456');
      expect(plain.problems()).toEqual([]);
    } finally {
      await plain.close();
    }
  });

  test('delay holds answers, and close() does not wait for them', async () => {
    const slow = await startFakeWhatsApp();
    slow.delay(60);
    const started = performance.now();
    const response = await fetch(`${slow.baseUrl}/v23.0/${slow.phoneNumberId}/messages`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${slow.accessToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(send),
    });
    expect(response.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(50);

    slow.delay(10_000);
    const pending = fetch(`${slow.baseUrl}/v23.0/${slow.phoneNumberId}/messages`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${slow.accessToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(send),
    }).catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const closing = performance.now();
    await slow.close();
    expect(performance.now() - closing).toBeLessThan(1_000);
    expect(await pending).toBeInstanceOf(Error);
  });

  test('the port option is honoured', async () => {
    const probe = await startFakeWhatsApp();
    const port = Number(new URL(probe.baseUrl).port);
    await probe.close();
    const fixed = await startFakeWhatsApp({ port });
    try {
      expect(fixed.baseUrl).toBe(`http://127.0.0.1:${port}`);
    } finally {
      await fixed.close();
    }
  });

  test('status payloads are valid WebhookPayload bodies for messages the fake accepted', async () => {
    await post(messages(), send);
    const messageId = fake.lastMessageId('34600111222')!;
    for (const status of ['sent', 'delivered', 'read', 'failed'] as const) {
      const payload = fake.statusPayload({ messageId, status }) as { entry: { changes: { value: { statuses: unknown[] } }[] }[] };
      expect(validators.webhookPayload(payload)).toEqual([]);
      expect(validators.statuses(payload.entry[0]!.changes[0]!.value.statuses[0])).toEqual([]);
    }
    expect(() => fake.statusPayload({ messageId: 'wamid.unknown', status: 'sent' })).toThrow(/accepted no message with that id/);
  });

  test("signMetaWebhook is Meta's header: sha256= and the hex HMAC-SHA256 of the raw body", () => {
    const body = '{"object":"whatsapp_business_account","entry":[]}';
    expect(signMetaWebhook(body, 'secret')).toBe(`sha256=${createHmac('sha256', 'secret').update(body).digest('hex')}`);
    expect(signMetaWebhook(Buffer.from(body), 'secret')).toBe(signMetaWebhook(body, 'secret'));
  });
});
