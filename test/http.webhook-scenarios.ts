/**
 * Delivery-status webhooks over HTTP (DESIGN §4, §8, §8.1; docs/channels/README.md "Webhooks"), run by
 * http.express.test.ts and http.koa.test.ts against apps built the same way on each
 * adapter. The channels are the real `whatsappCloudChannel` and `twilioChannel` clients
 * pointed at the local provider fakes, the store is the suite's private Redis, and every
 * webhook is an HTTP request signed as Meta or Twilio would sign it.
 *
 * Invariants: a status is believed only with a valid signature over the raw bytes (Meta)
 * or over the configured URL and the form parameters (Twilio); anything else is 401 and
 * changes nothing (no send, no event, the code still verifies); a `failed` status sends
 * by the next channel exactly once, however often or late it arrives; statuses for
 * messages we do not know are acknowledged (200), since providers retry anything else.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Response, Test } from 'supertest';
import type { StepUpEvent } from '../src/index.js';
import { signMetaWebhook } from '../src/testing/index.js';
import { signature as twilioSignature } from '../src/testing/fake-twilio-parts.js';
import { USERS, WEBHOOK_SECRETS, type HarnessFactory, type HarnessOptions, type HarnessProviders, type HttpHarness } from './support/http-harness.js';
import { createClient, expectError, type Client } from './support/http-client.js';
import { startRedis } from './support/redis.js';

const ALICE = USERS.alice!.phone;
const META_PATH = '/stepup/webhooks/whatsapp';
const TWILIO_PATH = '/stepup/webhooks/twilio';
const BODY_LIMIT = 1024 * 1024;

interface Setup {
  h: HttpHarness;
  api: Client;
  providers: HarnessProviders;
}

/** What a refused webhook must leave as it was. */
interface Snapshot {
  metaSends: number;
  twilioMessages: number;
  outbox: number;
  sms: number;
  events: number;
}

export function defineWebhookScenarios(adapter: string, factory: HarnessFactory): void {
  describe(`${adapter} delivery webhooks on the redis store`, () => {
    const open: Setup[] = [];

    /** An app on the suite's Redis with provider channels and, unless told otherwise, the webhooks mounted. */
    const setup = async (options: Partial<HarnessOptions> = {}): Promise<Setup> => {
      const h = await factory({ store: 'redis', channels: 'providers', webhooks: true, ...options });
      const made = { h, api: createClient(h), providers: h.providers! };
      open.push(made);
      expect(made.providers).toBeDefined();
      return made;
    };

    afterEach(async () => {
      const made = open.splice(0);
      try {
        for (const { h, api, providers } of made) {
          api.assertNothingLeaked();
          expect(h.errors).toEqual([]);
          // The fakes held our clients, and their own webhook bodies, to the providers' specs.
          expect(providers.meta.problems()).toEqual([]);
          expect(providers.twilio.violations).toEqual([]);
        }
      } finally {
        for (const { h } of made) await h.close();
      }
    });

    defineHandshakeScenarios(setup);
    defineMetaStatusScenarios(setup);
    defineTwilioStatusScenarios(setup);
    defineEdgeScenarios(setup);
    defineUnmountedScenarios(setup);
    defineOutageScenario(adapter, factory);
  });
}

type SetupFn = (options?: Partial<HarnessOptions>) => Promise<Setup>;

// ---------------------------------------------------------------------------------------
// Helpers: every request goes through the client, so that its answer is leak-checked.

function handshake(api: Client, query: Record<string, string>): Promise<Response> {
  return api.send(api.http().get(`${META_PATH}?${new URLSearchParams(query).toString()}`));
}

/** POSTs raw bytes to the Meta route; `signature: null` leaves the header out. */
function postMeta(api: Client, raw: string | Buffer, signature: string | null, contentType = 'application/json'): Promise<Response> {
  const test = api.http().post(META_PATH).set('Content-Type', contentType);
  if (signature !== null) test.set('X-Hub-Signature-256', signature);
  return api.send(test.send(raw));
}

/** Meta's body for a status of a message the fake accepted, as the exact bytes Meta would sign. */
function metaBody(providers: HarnessProviders, messageId: string, status: 'sent' | 'delivered' | 'read' | 'failed', errorCode?: number): string {
  return JSON.stringify(providers.meta.statusPayload({ messageId, status, ...(errorCode === undefined ? {} : { errorCode }) }));
}

function postMetaSigned(api: Client, raw: string): Promise<Response> {
  return postMeta(api, raw, signMetaWebhook(raw, WEBHOOK_SECRETS.appSecret));
}

/** POSTs form parameters to the Twilio route; `signature: null` leaves the header out. */
function postTwilio(api: Client, params: Record<string, string>, signature: string | null, body = new URLSearchParams(params).toString(), contentType = 'application/x-www-form-urlencoded'): Promise<Response> {
  const test = api.http().post(TWILIO_PATH).set('Content-Type', contentType);
  if (signature !== null) test.set('X-Twilio-Signature', signature);
  return api.send(test.send(body));
}

/** A status callback for a message the fake accepted, signed for the configured public URL, as Twilio sends it. */
function twilioCallback(providers: HarnessProviders, messageSid: string, status: string, errorCode?: number): { params: Record<string, string>; signature: string } {
  const params = providers.twilio.statusCallbackParams({ messageSid, status, ...(errorCode === undefined ? {} : { errorCode }) });
  return { params, signature: providers.twilio.sign(WEBHOOK_SECRETS.twilioUrl, params) };
}

function snapshot({ h, providers }: Setup): Snapshot {
  return {
    metaSends: providers.meta.requests.length,
    twilioMessages: providers.twilio.messages.length,
    outbox: h.outbox.messages().length,
    sms: h.sms.messages().length,
    events: h.events.length,
  };
}

function eventsOf(h: HttpHarness, type: StepUpEvent['type'], challengeId: string): StepUpEvent[] {
  return h.events.filter((event) => event.type === type && event.challengeId === challengeId);
}

/** Starts a login challenge for alice over HTTP; its first message went out through the first channel. */
async function startChallenge(api: Client, body: Record<string, unknown> = { purpose: 'login' }): Promise<string> {
  const res = await api.start(body);
  expect(res.status, res.text).toBe(201);
  return res.body.challengeId as string;
}

async function expectVerifies(api: Client, challengeId: string): Promise<void> {
  const res = await api.verify(challengeId, api.codeOf(challengeId));
  expect(res.status, res.text).toBe(200);
  expect(res.body.tokenType).toBe('step-up');
}

/** A wamid the fake never issued, in Meta's format. */
function unknownWamid(): string {
  return `wamid.${randomBytes(30).toString('base64url')}`;
}

/** A message sid Twilio never issued, in Twilio's format. */
function unknownSid(): string {
  return `SM${randomBytes(16).toString('hex')}`;
}

/** Changes one byte of `text` inside `marker` (the body still parses, and still says the same status). */
function flipOneByte(text: string, marker: string): string {
  const at = text.indexOf(marker);
  expect(at).toBeGreaterThanOrEqual(0);
  const bytes = Buffer.from(text, 'utf8');
  const index = Buffer.byteLength(text.slice(0, at), 'utf8');
  bytes[index] = bytes[index]! ^ 0x01;
  return bytes.toString('utf8');
}

/** A chunked body of `size` bytes (no Content-Length): the router cannot refuse it up front. */
function chunked(test: Test, size: number): Test {
  const chunk = 'x'.repeat(16 * 1024);
  for (let sent = 0; sent < size; sent += chunk.length) test.write(chunk);
  return test;
}

// ---------------------------------------------------------------------------------------

function defineHandshakeScenarios(setup: SetupFn): void {
  describe('GET /webhooks/whatsapp: the verification handshake (DESIGN §8.1)', () => {
    const right = { 'hub.mode': 'subscribe', 'hub.verify_token': WEBHOOK_SECRETS.verifyToken, 'hub.challenge': '1158201444' };

    it('the right mode and verify token → 200 text/plain whose body is exactly hub.challenge, no-store', async () => {
      const { api } = await setup();
      const res = await handshake(api, right);
      expect(res.status, res.text).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.text).toBe('1158201444');
    });

    it('a wrong verify token or mode → 403 JSON error, and the challenge is not echoed', async () => {
      const { api } = await setup();
      const wrong: Record<string, string>[] = [
        { ...right, 'hub.verify_token': 'verify-token-0123456788' },
        { ...right, 'hub.verify_token': WEBHOOK_SECRETS.verifyToken.toUpperCase() },
        { ...right, 'hub.verify_token': WEBHOOK_SECRETS.verifyToken.slice(0, -1) },
        { ...right, 'hub.verify_token': `${WEBHOOK_SECRETS.verifyToken}0` },
        { ...right, 'hub.verify_token': WEBHOOK_SECRETS.appSecret },
        { ...right, 'hub.mode': 'unsubscribe' },
        { ...right, 'hub.mode': 'Subscribe' },
      ];
      for (const query of wrong) {
        const res = await handshake(api, query);
        expectError(res, 403, 'forbidden');
        expect(res.text, JSON.stringify(query)).not.toContain('1158201444');
      }
    });

    it('missing parameters → 403 JSON error, never a 200', async () => {
      const { api } = await setup();
      const missing: Record<string, string>[] = [
        {},
        { 'hub.mode': 'subscribe', 'hub.verify_token': WEBHOOK_SECRETS.verifyToken },
        { 'hub.mode': 'subscribe', 'hub.challenge': '1158201444' },
        { 'hub.verify_token': WEBHOOK_SECRETS.verifyToken, 'hub.challenge': '1158201444' },
        { ...right, 'hub.verify_token': '' },
        { ...right, 'hub.challenge': '' },
      ];
      for (const query of missing) expectError(await handshake(api, query), 403, 'forbidden');
    });

    it('a hub.challenge that is not plain token characters is never reflected, even with the right token', async () => {
      const { api } = await setup();
      for (const challenge of ['<script>alert(1)</script>', 'a b', 'x'.repeat(257), 'abc\r\nSet-Cookie: a=b']) {
        const res = await handshake(api, { ...right, 'hub.challenge': challenge });
        expectError(res, 403, 'forbidden');
        expect(res.text).not.toContain('script');
        expect(res.headers['set-cookie']).toBeUndefined();
      }
    });
  });
}

function defineMetaStatusScenarios(setup: SetupFn): void {
  describe('POST /webhooks/whatsapp: signed status callbacks (X-Hub-Signature-256)', () => {
    it('a signed `failed` for the live challenge → 200, one SMS by the next channel, a delivery.status event with its latency', async () => {
      const s = await setup();
      const { h, api, providers } = s;
      const challengeId = await startChallenge(api);
      const wamid = providers.meta.lastMessageId(ALICE)!;
      expect(wamid).toMatch(/^wamid\./);
      expect(providers.twilio.messages).toHaveLength(0);
      h.clock.advance(1_500);

      const res = await postMetaSigned(api, metaBody(providers, wamid, 'failed', 131049));
      expect(res.status, res.text).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.headers['cache-control']).toBe('no-store');

      expect(providers.twilio.messages).toHaveLength(1);
      const sms = providers.twilio.messages[0]!;
      expect(sms.to).toBe(ALICE);
      expect(sms.statusCallback).toBe(WEBHOOK_SECRETS.twilioUrl);
      expect(providers.twilio.lastCode(ALICE)).toBe(h.sms.latest(ALICE)?.code);
      const [status, ...more] = eventsOf(h, 'delivery.status', challengeId);
      expect(more).toHaveLength(0);
      expect(status).toMatchObject({ status: 'failed', channel: 'whatsapp', subject: 'alice', purpose: 'login' });
      expect(status!.latencyMs).toBeGreaterThanOrEqual(0);
      expect(status!.latencyMs).toBe(1_500);
      expect(eventsOf(h, 'delivery.fallback', challengeId)).toEqual([expect.objectContaining({ channel: 'sms', reason: 'delivery_failed' })]);
      // The code that reached the phone by SMS is the one that verifies.
      await expectVerifies(api, challengeId);
    });

    it('the same signed body twice, then a late `delivered` → still exactly one SMS, and no new event', async () => {
      const s = await setup();
      const { h, api, providers } = s;
      const challengeId = await startChallenge(api);
      const wamid = providers.meta.lastMessageId(ALICE)!;
      const failed = metaBody(providers, wamid, 'failed');
      expect((await postMetaSigned(api, failed)).status).toBe(200);
      expect(providers.twilio.messages).toHaveLength(1);
      const after = snapshot(s);

      const again = await postMetaSigned(api, failed);
      expect(again.status, again.text).toBe(200);
      const late = await postMetaSigned(api, metaBody(providers, wamid, 'delivered'));
      expect(late.status, late.text).toBe(200);
      expect(snapshot(s)).toEqual(after);
      expect(eventsOf(h, 'delivery.status', challengeId)).toHaveLength(1);
      await expectVerifies(api, challengeId);
    });

    it('ten concurrent deliveries of one signed `failed` (provider retries overlapping) → exactly one SMS', async () => {
      const { h, api, providers } = await setup();
      const challengeId = await startChallenge(api);
      const failed = metaBody(providers, providers.meta.lastMessageId(ALICE)!, 'failed');
      const answers = await Promise.all(Array.from({ length: 10 }, () => postMetaSigned(api, failed)));
      expect(answers.map((res) => res.status)).toEqual(Array(10).fill(200));
      expect(providers.twilio.messages).toHaveLength(1);
      expect(eventsOf(h, 'delivery.fallback', challengeId)).toHaveLength(1);
    });

    it('`sent`, `delivered` and `read` → 200 and a delivery.status event each, never a fallback', async () => {
      const { h, api, providers } = await setup();
      const challengeId = await startChallenge(api);
      const wamid = providers.meta.lastMessageId(ALICE)!;
      for (const status of ['sent', 'delivered', 'read'] as const) {
        const res = await postMetaSigned(api, metaBody(providers, wamid, status));
        expect(res.status, `${status}: ${res.text}`).toBe(200);
      }
      expect(eventsOf(h, 'delivery.status', challengeId).map((event) => event.status)).toEqual(['sent', 'delivered', 'read']);
      // `failed` after `delivered` must not send twice, nor even once (DESIGN §8.1).
      expect((await postMetaSigned(api, metaBody(providers, wamid, 'failed'))).status).toBe(200);
      expect(providers.twilio.messages).toHaveLength(0);
      expect(eventsOf(h, 'delivery.fallback', challengeId)).toHaveLength(0);
      await expectVerifies(api, challengeId);
    });

    it('forged, missing, tampered or mismatched signatures → 401 invalid_signature, and nothing changes', async () => {
      const s = await setup();
      const { api, providers } = s;
      const challengeId = await startChallenge(api);
      const wamid = providers.meta.lastMessageId(ALICE)!;
      const failed = metaBody(providers, wamid, 'failed');
      const right = signMetaWebhook(failed, WEBHOOK_SECRETS.appSecret);
      const before = snapshot(s);
      const refused: [string, string | Buffer, string | null][] = [
        ['signed with another secret', failed, signMetaWebhook(failed, 'another-app-secret-0123456789')],
        ['no X-Hub-Signature-256', failed, null],
        ['an empty header', failed, ''],
        ['the bare hex, without sha256=', failed, right.slice('sha256='.length)],
        ['a sha1= signature', failed, `sha1=${right.slice('sha256='.length, 'sha256='.length + 40)}`],
        ['a truncated signature', failed, right.slice(0, -2)],
        ['the body changed by one byte', flipOneByte(failed, 'Message undeliverable'), right],
        ['the body with one byte more', `${failed} `, right],
        ['a signature for a different body', failed, signMetaWebhook(metaBody(providers, wamid, 'delivered'), WEBHOOK_SECRETS.appSecret)],
        ['the signature of the parsed-and-reserialized body', Buffer.from(JSON.stringify(JSON.parse(failed), null, 1)), right],
      ];
      for (const [name, body, signature] of refused) {
        const res = await postMeta(api, body, signature);
        expect(res.status, `${name}: ${res.text}`).toBe(401);
        expectError(res, 401, 'invalid_signature');
      }
      expect(snapshot(s)).toEqual(before);
      // The code WhatsApp delivered still verifies: nothing was sent in its place.
      expect(api.codeOf(challengeId)).toBe(providers.meta.lastCode(ALICE));
      await expectVerifies(api, challengeId);
    });

    it('signatures are checked on the raw bytes: a signed body with non-ASCII text and odd spacing is believed', async () => {
      const { api, providers } = await setup();
      await startChallenge(api);
      const payload = providers.meta.statusPayload({ messageId: providers.meta.lastMessageId(ALICE)!, status: 'failed' }) as {
        entry: { changes: { value: { statuses: { errors: { message: string }[] }[] } }[] }[];
      };
      payload.entry[0]!.changes[0]!.value.statuses[0]!.errors[0]!.message = 'Mensaje no entregable — número sin WhatsApp ✓';
      const raw = JSON.stringify(payload, null, '\t');
      const res = await postMetaSigned(api, raw);
      expect(res.status, res.text).toBe(200);
      expect(providers.twilio.messages).toHaveLength(1);
    });
  });
}

function defineTwilioStatusCallbacks(setup: SetupFn): void {
  for (const providerStatus of ['failed', 'undelivered']) {
    it(`a signed \`${providerStatus}\` for the first channel's Twilio WhatsApp message → 200, one SMS by the next channel`, async () => {
      const { h, api, providers } = await setup({ channels: 'twilio-providers' });
      const challengeId = await startChallenge(api);
      expect(providers.twilio.messages).toHaveLength(1);
      const whatsapp = providers.twilio.messages[0]!;
      expect(whatsapp.to).toBe(`whatsapp:${ALICE}`);
      expect(whatsapp.statusCallback).toBe(WEBHOOK_SECRETS.twilioUrl);
      h.clock.advance(2_000);

      const { params, signature } = twilioCallback(providers, whatsapp.sid, providerStatus, 63003);
      const res = await postTwilio(api, params, signature);
      expect(res.status, res.text).toBe(200);
      expect(providers.twilio.messages).toHaveLength(2);
      expect(providers.twilio.messages[1]!.to).toBe(ALICE);
      const [status, ...more] = eventsOf(h, 'delivery.status', challengeId);
      expect(more).toHaveLength(0);
      expect(status).toMatchObject({ status: 'failed', channel: 'whatsapp-twilio', latencyMs: 2_000 });
      expect(eventsOf(h, 'delivery.fallback', challengeId)).toEqual([expect.objectContaining({ channel: 'sms', reason: 'delivery_failed' })]);

      // Twilio retries, and a late `delivered` of the failed message: nothing more is sent.
      const later = snapshot({ h, api, providers });
      expect((await postTwilio(api, params, signature)).status).toBe(200);
      const delivered = twilioCallback(providers, whatsapp.sid, 'delivered');
      expect((await postTwilio(api, delivered.params, delivered.signature)).status).toBe(200);
      expect(snapshot({ h, api, providers })).toEqual(later);
      await expectVerifies(api, challengeId);
    });
  }

  it('a signed `undelivered` for an SMS, the last channel → 200, the status is applied and delivery.failed reported; nothing else is sent', async () => {
    const { h, api, providers } = await setup();
    const challengeId = await startChallenge(api, { purpose: 'login', channel: 'sms' });
    expect(providers.meta.requests).toHaveLength(0);
    const sms = providers.twilio.messages[0]!;
    expect(sms.to).toBe(ALICE);
    const { params, signature } = twilioCallback(providers, sms.sid, 'undelivered', 30003);
    const res = await postTwilio(api, params, signature);
    expect(res.status, res.text).toBe(200);
    expect(eventsOf(h, 'delivery.status', challengeId)).toEqual([expect.objectContaining({ status: 'failed', channel: 'sms' })]);
    expect(eventsOf(h, 'delivery.failed', challengeId)).toEqual([expect.objectContaining({ channel: 'sms', reason: 'delivery_failed' })]);
    expect(providers.twilio.messages).toHaveLength(1);
    expect(providers.meta.requests).toHaveLength(0);
  });

  // Carriers do report `undelivered` for messages that arrive: with no channel left, the code that
  // went out must stay the live one, and no send is counted.
  it('after a `failed` for the last channel the code that channel carried still verifies, and no send is used up', async () => {
    const { api, providers } = await setup();
    const challengeId = await startChallenge(api, { purpose: 'login', channel: 'sms' });
    const { params, signature } = twilioCallback(providers, providers.twilio.messages[0]!.sid, 'undelivered', 30003);
    expect((await postTwilio(api, params, signature)).status).toBe(200);
    await expectVerifies(api, challengeId);
  });

  it('the SMS a Meta `failed` fell back to can fail in turn: Twilio\'s callback for it is applied once, and nothing else is sent', async () => {
    const { h, api, providers } = await setup();
    const challengeId = await startChallenge(api);
    expect((await postMetaSigned(api, metaBody(providers, providers.meta.lastMessageId(ALICE)!, 'failed'))).status).toBe(200);
    const sms = providers.twilio.messages[0]!;
    const { params, signature } = twilioCallback(providers, sms.sid, 'failed', 30008);
    for (let i = 0; i < 2; i++) expect((await postTwilio(api, params, signature)).status).toBe(200);
    expect(eventsOf(h, 'delivery.status', challengeId).map((event) => [event.channel, event.status])).toEqual([['whatsapp', 'failed'], ['sms', 'failed']]);
    expect(providers.twilio.messages).toHaveLength(1);
    expect(providers.meta.requests.filter((request) => request.messageId !== undefined)).toHaveLength(1);
  });

  it('`queued`, `sent` and `delivered` callbacks → 200, never a fallback', async () => {
    const { h, api, providers } = await setup({ channels: 'twilio-providers' });
    const challengeId = await startChallenge(api);
    const sid = providers.twilio.messages[0]!.sid;
    for (const status of ['queued', 'sent', 'delivered', 'read']) {
      const { params, signature } = twilioCallback(providers, sid, status);
      const res = await postTwilio(api, params, signature);
      expect(res.status, `${status}: ${res.text}`).toBe(200);
    }
    expect(eventsOf(h, 'delivery.status', challengeId).map((event) => event.status)).toEqual(['sent', 'delivered', 'read']);
    expect(providers.twilio.messages).toHaveLength(1);
  });
}

function defineTwilioStatusScenarios(setup: SetupFn): void {
  describe('POST /webhooks/twilio: signed status callbacks (X-Twilio-Signature)', () => {
    defineTwilioStatusCallbacks(setup);

    it('forged, missing or tampered signatures, or one signed for another URL → 401 invalid_signature, and nothing changes', async () => {
      const s = await setup({ channels: 'twilio-providers' });
      const { api, providers } = s;
      const challengeId = await startChallenge(api);
      const sid = providers.twilio.messages[0]!.sid;
      const { params, signature } = twilioCallback(providers, sid, 'undelivered', 63003);
      const local = `http://127.0.0.1:${(s.h.server.address() as { port: number }).port}${TWILIO_PATH}`;
      const before = snapshot(s);
      const refused: [string, Record<string, string>, string | null][] = [
        ['signed with another auth token', params, twilioSignature(randomBytes(16).toString('hex'), WEBHOOK_SECRETS.twilioUrl, params)],
        ['no X-Twilio-Signature', params, null],
        ['an empty header', params, ''],
        ['signed for a query the configured URL does not have', params, providers.twilio.sign(`${WEBHOOK_SECRETS.twilioUrl}?tenant=2`, params)],
        ['signed for another host', params, providers.twilio.sign('https://evil.test/stepup/webhooks/twilio', params)],
        ['signed for plain http', params, providers.twilio.sign(WEBHOOK_SECRETS.twilioUrl.replace('https:', 'http:'), params)],
        ['signed for the local address the request reached', params, providers.twilio.sign(local, params)],
        ['a status changed after signing', { ...params, MessageStatus: 'failed', SmsStatus: 'failed' }, providers.twilio.sign(WEBHOOK_SECRETS.twilioUrl, twilioCallback(providers, sid, 'delivered').params)],
        ['a parameter added after signing', { ...params, ErrorCode: '63003', Extra: '1' }, signature],
        ['a parameter removed after signing', Object.fromEntries(Object.entries(params).filter(([key]) => key !== 'AccountSid')), signature],
      ];
      for (const [name, body, header] of refused) {
        const res = await postTwilio(api, body, header);
        expect(res.status, `${name}: ${res.text}`).toBe(401);
        expectError(res, 401, 'invalid_signature');
      }
      expect(snapshot(s)).toEqual(before);
      await expectVerifies(api, challengeId);
    });
  });
}

function defineEdgeScenarios(setup: SetupFn): void {
  describe('unknown messages, sizes, media types and paths', () => {
    it('a signed status for a message id we never sent → 200 (acknowledged and ignored: providers retry non-2xx)', async () => {
      const s = await setup();
      const { api, providers } = s;
      await startChallenge(api);
      const real = metaBody(providers, providers.meta.lastMessageId(ALICE)!, 'failed');
      const before = snapshot(s);
      const meta = real.replace(providers.meta.lastMessageId(ALICE)!, unknownWamid());
      expect((await postMetaSigned(api, meta)).status).toBe(200);
      const params = { ...providers.twilio.statusCallbackParams({ messageSid: unknownSid(), status: 'undelivered', errorCode: 30003 }) };
      const res = await postTwilio(api, params, providers.twilio.sign(WEBHOOK_SECRETS.twilioUrl, params));
      expect(res.status, res.text).toBe(200);
      expect(snapshot(s)).toEqual(before);
    });

    it('signed bodies that carry no status (incoming message, another object, malformed ids, not JSON) → 200, nothing applied', async () => {
      const s = await setup();
      const { api, providers } = s;
      await startChallenge(api);
      const wamid = providers.meta.lastMessageId(ALICE)!;
      const before = snapshot(s);
      const bodies = [
        JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', messages: [{ from: '34612345678', id: 'wamid.in', type: 'text', text: { body: 'hola' } }] } }] }] }),
        metaBody(providers, wamid, 'failed').replace('whatsapp_business_account', 'page'),
        metaBody(providers, wamid, 'failed').replace(wamid, `${wamid} OR 1=1`),
        metaBody(providers, wamid, 'failed').replace('"failed"', '"deleted"'),
        '{"object":',
        '',
      ];
      for (const body of bodies) {
        const res = await postMetaSigned(api, body);
        expect(res.status, `${body.slice(0, 60)}: ${res.text}`).toBe(200);
      }
      const form = { MessageSid: 'not-a-sid', MessageStatus: 'failed' };
      expect((await postTwilio(api, form, providers.twilio.sign(WEBHOOK_SECRETS.twilioUrl, form))).status).toBe(200);
      expect(snapshot(s)).toEqual(before);
    });

    it('a webhook body over 1 MB → 413 request_too_large, with or without Content-Length, and nothing is applied', async () => {
      const s = await setup();
      const { api, providers } = s;
      await startChallenge(api);
      const before = snapshot(s);
      // Signed and otherwise valid: the size alone refuses it.
      const padded = metaBody(providers, providers.meta.lastMessageId(ALICE)!, 'failed').replace(/}$/, `,"pad":"${'x'.repeat(BODY_LIMIT)}"}`);
      expectError(await postMetaSigned(api, padded), 413, 'request_too_large');
      const stream = chunked(api.http().post(META_PATH).set('Content-Type', 'application/json').set('X-Hub-Signature-256', signMetaWebhook('x', WEBHOOK_SECRETS.appSecret)), BODY_LIMIT + 1);
      const res = await api.send(stream);
      expect((res as unknown as { req: import('node:http').ClientRequest }).req.getHeader('content-length')).toBeUndefined();
      expectError(res, 413, 'request_too_large');
      const twilio = chunked(api.http().post(TWILIO_PATH).set('Content-Type', 'application/x-www-form-urlencoded').set('X-Twilio-Signature', 'A'.repeat(27) + '='), BODY_LIMIT + 1);
      expectError(await api.send(twilio), 413, 'request_too_large');
      expect(snapshot(s)).toEqual(before);
    });

    it('another media type than the provider sends → 4xx: Meta\'s JSON as a form, Twilio\'s form as JSON', async () => {
      const s = await setup({ channels: 'twilio-providers' });
      const { api, providers } = s;
      const challengeId = await startChallenge(api);
      const before = snapshot(s);
      // A Meta-style body re-encoded as a form field, with the signature of the JSON.
      const json = JSON.stringify({ object: 'whatsapp_business_account', entry: [] });
      const form = await postMeta(api, new URLSearchParams({ payload: json }).toString(), signMetaWebhook(json, WEBHOOK_SECRETS.appSecret), 'application/x-www-form-urlencoded');
      expect(form.status).toBeGreaterThanOrEqual(400);
      expect(form.status).toBeLessThan(500);
      // Twilio's parameters as JSON, with the signature Twilio computed over them as a form.
      const { params, signature } = twilioCallback(providers, providers.twilio.messages[0]!.sid, 'undelivered', 63003);
      const asJson = await postTwilio(api, params, signature, JSON.stringify(params), 'application/json');
      expect(asJson.status).toBeGreaterThanOrEqual(400);
      expect(asJson.status).toBeLessThan(500);
      expect(snapshot(s)).toEqual(before);
      await expectVerifies(api, challengeId);
    });

    it('other methods and paths under /webhooks are not routes: 404 from the app', async () => {
      const { api } = await setup();
      const tests = [
        api.http().get(TWILIO_PATH),
        api.http().put(META_PATH).send({}),
        api.http().delete(META_PATH),
        api.http().post('/stepup/webhooks/messagecentral').send({}),
        api.http().post('/stepup/webhooks').send({}),
        api.http().post('/stepup/webhooks/whatsapp/extra').send({}),
      ];
      for (const test of tests) {
        const res = await api.send(test);
        expect(res.status, res.text).toBe(404);
        expect(res.body?.error?.code).toBeUndefined();
      }
    });
  });
}

function defineUnmountedScenarios(setup: SetupFn): void {
  describe('a router mounted without `webhooks`', () => {
    it('never exposes /webhooks/*: a right handshake and a correctly signed `failed` are both the app\'s 404, and nothing is sent', async () => {
      const s = await setup({ webhooks: false });
      const { api, providers } = s;
      const challengeId = await startChallenge(api);
      const before = snapshot(s);
      const hand = await handshake(api, { 'hub.mode': 'subscribe', 'hub.verify_token': WEBHOOK_SECRETS.verifyToken, 'hub.challenge': '1158201444' });
      expect(hand.status).toBe(404);
      expect(hand.text).not.toBe('1158201444');
      const meta = await postMetaSigned(api, metaBody(providers, providers.meta.lastMessageId(ALICE)!, 'failed'));
      expect(meta.status).toBe(404);
      const sms = await startChallenge(api, { purpose: 'payment', channel: 'sms', transaction: { id: 'pay_1', amount: 1, currency: 'EUR', payee: 'x' } });
      const { params, signature } = twilioCallback(providers, providers.twilio.messages[0]!.sid, 'undelivered', 30003);
      const twilio = await postTwilio(api, params, signature);
      expect(twilio.status).toBe(404);
      for (const res of [hand, meta, twilio]) expect(res.body?.error?.code).toBeUndefined();
      expect(providers.twilio.messages).toHaveLength(before.twilioMessages + 1);
      expect(s.h.events.filter((event) => event.type === 'delivery.status')).toHaveLength(0);
      await expectVerifies(api, challengeId);
      await expectVerifies(api, sms);
    });
  });
}

function defineOutageScenario(adapter: string, factory: HarnessFactory): void {
  describe(`${adapter} webhooks when the store fails`, () => {
    it('Redis stopped → a signed `failed` answers 503 store_unavailable (the provider retries), and nothing is sent', async () => {
      const redis = await startRedis();
      const h = await factory({ store: 'redis', redisUrl: redis.url, channels: 'providers', webhooks: true });
      try {
        const api = createClient(h);
        const providers = h.providers!;
        await startChallenge(api);
        const failed = metaBody(providers, providers.meta.lastMessageId(ALICE)!, 'failed');
        await redis.stop();
        expectError(await postMetaSigned(api, failed), 503, 'store_unavailable');
        const sid = unknownSid();
        const params = providers.twilio.statusCallbackParams({ messageSid: sid, status: 'failed', errorCode: 30003 });
        expectError(await postTwilio(api, params, providers.twilio.sign(WEBHOOK_SECRETS.twilioUrl, params)), 503, 'store_unavailable');
        expect(providers.twilio.messages).toHaveLength(0);
        // A refused signature is still refused, store or not.
        expectError(await postMeta(api, failed, null), 401, 'invalid_signature');
        api.assertNothingLeaked();
        expect(h.errors).toEqual([]);
      } finally {
        await h.close();
        await redis.stop();
      }
    });
  });
}
