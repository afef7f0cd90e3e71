// Twilio status callbacks: X-Twilio-Signature is checked before anything is read, and
// statuses are read into the core's vocabulary. Invariants: only a request signed with
// the account's auth token over this exact URL and these exact parameters passes; a
// failed or undelivered message reads as `failed`, with the error's class.
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { twilioChannel } from '../src/channels/twilio.js';
import { parseTwilioStatusCallback, verifyTwilioSignature, type TwilioStatusUpdate } from '../src/channels/twilio-signature.js';
import { startFakeTwilio, type FakeTwilio } from '../src/testing/index.js';
import { createTwilioSpecValidators } from './support/twilio-spec.js';

const SID = `SM${'c'.repeat(32)}`;
const URL_WITH_QUERY = 'https://app.example/stepup/webhooks/twilio?tenant=7';
let fake: FakeTwilio;

beforeAll(async () => {
  fake = await startFakeTwilio({ validate: createTwilioSpecValidators().validate });
});
afterAll(async () => {
  await fake.close();
});

/** Signed by the fake's own HMAC code, not by the function under test. */
function signed(url = URL_WITH_QUERY, status = 'delivered') {
  const params = fake.statusCallbackParams({ messageSid: SID, status });
  return { authToken: fake.authToken, url, params, signature: fake.sign(url, params) };
}

describe('verifyTwilioSignature', () => {
  it('matches the example published by Twilio', () => {
    const params = { CallSid: 'CA1234567890ABCDE', Caller: '+14158675310', Digits: '1234', From: '+14158675310', To: '+18005551212' };
    const input = { authToken: '12345', url: 'https://mycompany.com/myapp.php?foo=1&bar=2', params };
    expect(verifyTwilioSignature({ ...input, signature: 'GvWf1cFY/Q7PnoempGyD5oXAezc=' })).toBe(true);
    expect(verifyTwilioSignature({ ...input, signature: 'RSOYDt4T1cUTdK1PDd93/VVr8B8=' })).toBe(false);
  });

  it('accepts a callback signed with the auth token over the URL and every parameter', () => {
    expect(verifyTwilioSignature(signed())).toBe(true);
  });

  it('refuses another auth token', () => {
    expect(verifyTwilioSignature({ ...signed(), authToken: 'f'.repeat(32) })).toBe(false);
  });

  it('refuses a changed, added or removed parameter', () => {
    const input = signed();
    expect(verifyTwilioSignature({ ...input, params: { ...input.params, MessageStatus: 'failed' } })).toBe(false);
    expect(verifyTwilioSignature({ ...input, params: { ...input.params, ErrorCode: '30003' } })).toBe(false);
    const { SmsStatus: _dropped, ...fewer } = input.params;
    expect(verifyTwilioSignature({ ...input, params: fewer })).toBe(false);
  });

  it('refuses a missing, empty, repeated or malformed header', () => {
    const input = signed();
    for (const signature of [undefined, null, '', [input.signature, input.signature], 'not base64 at all!', input.signature.slice(0, -2), `${input.signature}A`]) {
      expect(verifyTwilioSignature({ ...input, signature })).toBe(false);
    }
  });

  it('does not depend on the order in which the parameters arrive', () => {
    const input = signed();
    const reversed = Object.fromEntries(Object.entries(input.params).reverse());
    expect(Object.keys(reversed)).not.toEqual(Object.keys(input.params));
    expect(verifyTwilioSignature({ ...input, params: reversed })).toBe(true);
  });

  it('signs the query string with the URL: another query, or none, fails', () => {
    const input = signed();
    expect(verifyTwilioSignature({ ...input, url: 'https://app.example/stepup/webhooks/twilio?tenant=8' })).toBe(false);
    expect(verifyTwilioSignature({ ...input, url: 'https://app.example/stepup/webhooks/twilio' })).toBe(false);
    expect(verifyTwilioSignature({ ...input, url: 'https://app.example/stepup/webhooks/twilio/?tenant=7' })).toBe(false);
  });

  it('accepts the URL with or without the default port, and without a configured port, as Twilio’s SDK does; never another port', () => {
    const withPort = signed('https://app.example:443/hook');
    expect(verifyTwilioSignature({ ...withPort, url: 'https://app.example/hook' })).toBe(true);
    const withoutPort = signed('https://app.example/hook');
    expect(verifyTwilioSignature({ ...withoutPort, url: 'https://app.example:443/hook' })).toBe(true);
    // Twilio may sign a URL configured with a port without it (test/channels.twilio-signature-sdk.test.ts holds the SDK's whole table).
    expect(verifyTwilioSignature({ ...withoutPort, url: 'https://app.example:8443/hook' })).toBe(true);
    const otherPort = signed('https://app.example:8443/hook');
    expect(verifyTwilioSignature({ ...otherPort, url: 'https://app.example/hook' })).toBe(false);
    expect(verifyTwilioSignature({ ...otherPort, url: 'https://app.example:9443/hook' })).toBe(false);
    const http = signed('http://app.example/hook');
    expect(verifyTwilioSignature({ ...http, url: 'http://app.example:80/hook' })).toBe(true);
  });

  it('signs repeated parameters value by value, in order; refuses nested objects', () => {
    const params = { B: 'x', A: ['2', '1'] };
    const data = 'https://app.example/hook' + 'A1' + 'A2' + 'Bx';
    const signature = createHmac('sha1', 'token').update(data).digest('base64');
    expect(verifyTwilioSignature({ authToken: 'token', url: 'https://app.example/hook', params, signature })).toBe(true);
    const nested = { B: 'x', A: { 0: '1' } } as never;
    expect(verifyTwilioSignature({ authToken: 'token', url: 'https://app.example/hook', params: nested, signature })).toBe(false);
  });

  it('refuses to check without an auth token (an empty key would sign for anyone)', () => {
    const input = signed();
    const forged = createHmac('sha1', '').update(input.url + Object.keys(input.params).sort().map((key) => key + input.params[key]).join('')).digest('base64');
    expect(() => verifyTwilioSignature({ ...input, authToken: '', signature: forged })).toThrow(/`authToken` is required/);
  });
});

describe('parseTwilioStatusCallback', () => {
  it.each<[string, TwilioStatusUpdate['status']]>([
    ['queued', 'pending'],
    ['sending', 'pending'],
    ['accepted', 'pending'],
    ['scheduled', 'pending'],
    ['sent', 'sent'],
    ['delivered', 'delivered'],
    ['read', 'read'],
    ['failed', 'failed'],
    ['undelivered', 'failed'],
    ['canceled', 'failed'],
  ])('reads %s as %s', (providerStatus, status) => {
    const update = parseTwilioStatusCallback(fake.statusCallbackParams({ messageSid: SID, status: providerStatus }));
    expect(update).toMatchObject({ messageId: SID, status, providerStatus });
  });

  it('gives a failure’s error code and class', () => {
    const read = (status: string, errorCode: number) => parseTwilioStatusCallback(fake.statusCallbackParams({ messageSid: SID, status, errorCode }));
    expect(read('undelivered', 30003)).toEqual({ messageId: SID, status: 'failed', providerStatus: 'undelivered', errorCode: 30003, errorKind: 'fallback' });
    expect(read('failed', 63003)).toMatchObject({ status: 'failed', errorCode: 63003, errorKind: 'fallback', notOnWhatsApp: true });
    expect(read('failed', 63016)).toMatchObject({ status: 'failed', errorCode: 63016, errorKind: 'configuration' });
    expect(parseTwilioStatusCallback({ MessageSid: SID, MessageStatus: 'failed' })).toEqual({ messageId: SID, status: 'failed', providerStatus: 'failed', errorKind: 'fallback' });
  });

  it('reads the older SmsSid and SmsStatus names', () => {
    expect(parseTwilioStatusCallback({ SmsSid: SID, SmsStatus: 'sent' })).toMatchObject({ messageId: SID, status: 'sent' });
  });

  it('reads a repeated field only when its values agree: the signature does not cover their order', () => {
    expect(parseTwilioStatusCallback({ MessageSid: [SID, SID], MessageStatus: ['failed', 'failed'] })).toMatchObject({ messageId: SID, status: 'failed' });
    expect(parseTwilioStatusCallback({ MessageSid: SID, MessageStatus: ['delivered', 'failed'] })).toBeUndefined();
    expect(parseTwilioStatusCallback({ MessageSid: SID, MessageStatus: 'failed', ErrorCode: ['30003', '63016'] })).toEqual({ messageId: SID, status: 'failed', providerStatus: 'failed', errorKind: 'fallback' });
  });

  it('returns undefined for anything that is not a status of an outgoing message', () => {
    for (const params of [
      {},
      { MessageStatus: 'delivered' },
      { MessageSid: 'SM123', MessageStatus: 'delivered' },
      { MessageSid: SID, MessageStatus: 'exploded' },
      { MessageSid: SID, MessageStatus: 'received' },
      { MessageSid: SID, MessageStatus: '__proto__' },
      { MessageSid: SID },
    ]) {
      expect(parseTwilioStatusCallback(params)).toBeUndefined();
    }
    expect(parseTwilioStatusCallback({ MessageSid: SID, MessageStatus: 'sent', ErrorCode: 'abc' })).toEqual({ messageId: SID, status: 'sent', providerStatus: 'sent' });
  });
});

describe('a status callback from the fake to a webhook', () => {
  let server: Server;
  let hookUrl: string;
  const received: { valid: boolean; update: TwilioStatusUpdate | undefined }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
      req.on('end', () => {
        const params = Object.fromEntries(new URLSearchParams(raw));
        // The URL Twilio called: the app's public origin (known to the app, never taken from Host) and the request's path and query.
        const url = new URL(req.url!, new URL(hookUrl).origin).toString();
        const valid = verifyTwilioSignature({ authToken: fake.authToken, url, params, signature: req.headers['x-twilio-signature'] });
        received.push({ valid, update: valid ? parseTwilioStatusCallback(params) : undefined });
        res.writeHead(valid ? 204 : 401).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/twilio?tenant=7`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('is signed, verifies, and names the message the channel sent', async () => {
    const channel = twilioChannel({ kind: 'sms', baseUrl: fake.baseUrl, accountSid: fake.accountSid, apiKey: fake.apiKey, from: '+15005550006', statusCallback: hookUrl });
    const { messageId } = await channel.send(
      { to: '+34612345678', code: '482913', text: 'Demo Bank: your sign-in code is 482913.', purpose: 'login', locale: 'en', challengeId: 'AAAAAAAAAAAAAAAAAAAAAA', ttlSeconds: 300 },
      new AbortController().signal,
    );
    const response = await fake.sendStatusCallback({ messageSid: messageId!, status: 'undelivered', errorCode: 30005 });
    expect(response.status).toBe(204);
    expect(received.at(-1)).toEqual({ valid: true, update: { messageId, status: 'failed', providerStatus: 'undelivered', errorCode: 30005, errorKind: 'fallback' } });
    expect(fake.violations).toEqual([]);
  });
});
