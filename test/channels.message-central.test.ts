import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChannelError, isHostedChannel, type HostedVerdict, type OutgoingMessage } from '../src/channels/channel.js';
import { messageCentralChannel, type MessageCentralChannelOptions } from '../src/channels/message-central.js';
import { TokenCache } from '../src/channels/message-central-token.js';
import { startFakeMessageCentral, type FakeMessageCentral, type FakeMessageCentralOptions } from '../src/testing/fake-message-central.js';

// Message Central Verify Now makes and checks the code itself (DESIGN §8.1): the channel
// must map every responseCode onto our verdicts and errors whatever the HTTP status, keep
// one token for many calls, and never let the password, its base64 or a token into an error.

const TO = '+34612345678';
let fake: FakeMessageCentral;
let errors: unknown[];

async function startFake(options?: FakeMessageCentralOptions): Promise<void> {
  await fake.close();
  fake = await startFakeMessageCentral(options);
}

beforeEach(async () => {
  fake = await startFakeMessageCentral();
  errors = [];
});

afterEach(async () => {
  // Every error any test provoked is checked for secrets.
  const secrets = [fake.password, Buffer.from(fake.password).toString('base64'), ...fake.requests.map((r) => r.authToken ?? '').filter(Boolean)];
  for (const error of errors) {
    const seen = [String(error), (error as Error).stack ?? '', JSON.stringify((error as ChannelError).details ?? {})].join('\n');
    for (const secret of secrets) expect(seen).not.toContain(secret);
  }
  await fake.close();
});

function message(to = TO): OutgoingMessage {
  return { to, code: '', text: 'Demo Bank: your code', purpose: 'login', locale: 'en', challengeId: 'AAAAAAAAAAAAAAAAAAAAAA', ttlSeconds: 300 };
}

function channel(overrides: Partial<MessageCentralChannelOptions> = {}) {
  return messageCentralChannel({ customerId: fake.customerId, password: fake.password, flowType: 'WHATSAPP', baseUrl: fake.baseUrl, ...overrides });
}

const live = () => new AbortController().signal;
const requestsTo = (path: string) => fake.requests.filter((request) => request.path === path);

async function failureOf(promise: Promise<unknown>): Promise<ChannelError> {
  try {
    await promise;
  } catch (error) {
    errors.push(error);
    expect(error).toBeInstanceOf(ChannelError);
    return error as ChannelError;
  }
  throw new Error('expected the call to fail');
}

async function sendAndCode(mc = channel(), to = TO): Promise<{ id: string; code: string }> {
  const { messageId } = await mc.send(message(to), live());
  return { id: messageId!, code: fake.lastCode(to)! };
}

describe('Message Central tokens', () => {
  it('fetches one token for many sends and checks, with the documented query', async () => {
    const mc = channel();
    const first = await sendAndCode(mc, '+34612345678');
    await sendAndCode(mc, '+34612345679');
    await mc.check(first.id, first.code, live());

    expect(requestsTo('token')).toHaveLength(1);
    expect(requestsTo('token')[0]!.query).toEqual({
      customerId: fake.customerId,
      key: Buffer.from(fake.password).toString('base64'),
      scope: 'NEW',
    });
    const [token] = new Set(fake.requests.filter((r) => r.path !== 'token').map((r) => r.authToken));
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  });

  it('passes `country` to the token request when given', async () => {
    await channel({ country: '91' }).send(message(), live());
    expect(requestsTo('token')[0]!.query.country).toBe('91');
  });

  it('lets concurrent sends share one token fetch', async () => {
    const mc = channel();
    fake.delay(30);
    const numbers = ['+34612345670', '+34612345671', '+34612345672', '+34612345673', '+34612345674'];
    const receipts = await Promise.all(numbers.map((to) => mc.send(message(to), live())));
    expect(new Set(receipts.map((r) => r.messageId)).size).toBe(5);
    expect(requestsTo('token')).toHaveLength(1);
  });

  it("refreshes a JWT a minute before its `exp`, judged by the injected clock", async () => {
    await startFake({ tokenTtlSeconds: 600 });
    const base = Date.now();
    let offset = 0;
    const mc = channel({ clock: () => base + offset });
    await mc.send(message('+34612345670'), live());
    offset = 500_000;
    await mc.send(message('+34612345671'), live());
    expect(requestsTo('token')).toHaveLength(1);
    offset = 541_000;
    await mc.send(message('+34612345672'), live());
    expect(requestsTo('token')).toHaveLength(2);
  });

  it('uses `tokenTtl` for a token that is not a JWT', async () => {
    await startFake({ tokenFormat: 'opaque' });
    const base = Date.now();
    let offset = 0;
    const mc = channel({ tokenTtl: '10m', clock: () => base + offset });
    await mc.send(message('+34612345670'), live());
    offset = 599_000;
    await mc.send(message('+34612345671'), live());
    expect(requestsTo('token')).toHaveLength(1);
    offset = 600_000;
    await mc.send(message('+34612345672'), live());
    expect(requestsTo('token')).toHaveLength(2);
  });

  it('falls back to `tokenTtl` when a JWT says it is (nearly) expired, instead of fetching on every call', async () => {
    await startFake({ tokenTtlSeconds: 30 });
    const base = Date.now();
    let offset = 0;
    const mc = channel({ clock: () => base + offset });
    await mc.send(message('+34612345670'), live());
    offset = 20_000;
    await mc.send(message('+34612345671'), live());
    expect(requestsTo('token')).toHaveLength(1);
  });

  it('on a 401 fetches a new token once and retries the call once', async () => {
    const mc = channel();
    await mc.send(message('+34612345670'), live());
    fake.expireToken();
    const { messageId } = await mc.send(message('+34612345671'), live());
    expect(messageId).toMatch(/^\d+$/);
    expect(requestsTo('token')).toHaveLength(2);
    const sends = requestsTo('send');
    expect(sends).toHaveLength(3);
    expect(sends[2]!.authToken).not.toBe(sends[1]!.authToken);
  });

  it('treats a 401 in the body of an HTTP 200 the same way', async () => {
    const mc = channel();
    fake.respondNext('send', { responseCode: 401, httpStatus: 200 });
    await mc.send(message(), live());
    expect(requestsTo('token')).toHaveLength(2);
    expect(requestsTo('send')).toHaveLength(2);
  });

  it('makes a second 401 in a row a configuration error, without a third try', async () => {
    const mc = channel();
    fake.respondNext('send', { responseCode: 401, httpStatus: 401 });
    fake.respondNext('send', { responseCode: 401, httpStatus: 401 });
    const error = await failureOf(mc.send(message(), live()));
    expect(error.details).toMatchObject({ kind: 'configuration', providerCode: 401 });
    expect(requestsTo('send')).toHaveLength(2);
    expect(requestsTo('token')).toHaveLength(2);
  });

  it('shares one refresh between concurrent calls that met the same 401', async () => {
    const mc = channel();
    await mc.send(message('+34612345670'), live());
    fake.expireToken();
    fake.delay(20);
    await Promise.all([mc.send(message('+34612345671'), live()), mc.send(message('+34612345672'), live())]);
    expect(requestsTo('token')).toHaveLength(2);
  });

  it('ignores a stale 401 for a token that was already replaced', async () => {
    const url = `${fake.baseUrl}/auth/v1/authentication/token?customerId=${fake.customerId}&key=${Buffer.from(fake.password).toString('base64')}&scope=NEW`;
    const cache = new TokenCache({ url, timeoutMs: 1_000 }, Date.now, 60_000);
    const first = await cache.get(live());
    cache.invalidate(first);
    const second = await cache.get(live());
    cache.invalidate(first);
    expect(await cache.get(live())).toBe(second);
    expect(second).not.toBe(first);
    expect(requestsTo('token')).toHaveLength(2);
  });

  it('uses a static `authToken` as is, and a 401 on it is a configuration error', async () => {
    const response = await fetch(`${fake.baseUrl}/auth/v1/authentication/token?customerId=${fake.customerId}&key=${Buffer.from(fake.password).toString('base64')}&scope=NEW`);
    const { token } = (await response.json()) as { token: string };
    const mc = channel({ password: undefined, authToken: token });
    await mc.send(message(), live());
    expect(requestsTo('token')).toHaveLength(1);
    expect(requestsTo('send')[0]!.authToken).toBe(token);

    fake.expireToken();
    const error = await failureOf(mc.send(message('+34612345671'), live()));
    expect(error.details).toMatchObject({ kind: 'configuration', providerCode: 401 });
    expect(error.message).toMatch(/authToken/);
    expect(requestsTo('token')).toHaveLength(1);
  });

  it('makes an HTTP 200 token answer without a token ({ status: 400, error }) a configuration error', async () => {
    const wrong = await failureOf(channel({ password: 'not-the-password' }).send(message(), live()));
    expect(wrong.details).toMatchObject({ kind: 'configuration', providerCode: 'token_refused' });
    expect(wrong.message).toMatch(/customerId.*password/);

    fake.respondNext('token', { responseCode: 400, httpStatus: 200 });
    const forced = await failureOf(channel().send(message(), live()));
    expect(forced.details.kind).toBe('configuration');
    expect(requestsTo('send')).toHaveLength(0);
  });

  it('makes a token service failure a fallback, and tries again on the next call', async () => {
    const mc = channel();
    fake.respondNext('token', { responseCode: 500, httpStatus: 500 });
    const error = await failureOf(mc.send(message(), live()));
    expect(error.details).toMatchObject({ kind: 'fallback', providerCode: 'token_unavailable' });
    await mc.send(message(), live());
    expect(requestsTo('token')).toHaveLength(2);
  });

  it('lets one caller give up on a shared token fetch without failing the others', async () => {
    const mc = channel();
    fake.delay(80);
    const impatient = new AbortController();
    setTimeout(() => impatient.abort(), 10);
    const [gaveUp, patient] = await Promise.allSettled([mc.send(message('+34612345670'), impatient.signal), mc.send(message('+34612345671'), live())]);
    expect(gaveUp.status).toBe('rejected');
    errors.push((gaveUp as PromiseRejectedResult).reason);
    expect((gaveUp as PromiseRejectedResult).reason).toBeInstanceOf(ChannelError);
    expect(patient.status).toBe('fulfilled');
    expect(requestsTo('token')).toHaveLength(1);
  });
});

describe('Message Central send', () => {
  it('sends every parameter in the query string and returns the verification id', async () => {
    const mc = channel();
    const { messageId } = await mc.send(message(), live());
    const [send] = requestsTo('send');
    expect(send!.method).toBe('POST');
    expect(send!.query).toEqual({ countryCode: '34', customerId: fake.customerId, flowType: 'WHATSAPP', mobileNumber: '612345678', otpLength: '6' });
    expect(send!.authToken).toBeTruthy();
    expect(messageId).toMatch(/^\d+$/);
    expect(fake.lastCode(TO)).toMatch(/^\d{6}$/);
  });

  it.each([
    ['+447911123456', '44', '7911123456'],
    ['+14155552671', '1', '4155552671'],
    ['+919876543210', '91', '9876543210'],
    ['+5511987654321', '55', '11987654321'],
  ])('splits %s into countryCode %s and national number %s', async (to, countryCode, mobileNumber) => {
    await channel().send(message(to), live());
    expect(requestsTo('send')[0]!.query).toMatchObject({ countryCode, mobileNumber });
  });

  it.each([
    ['SMS', 'mc-sms', 'sms'],
    ['RCS', 'mc-rcs', 'rcs'],
    ['WHATSAPP', 'mc-whatsapp', 'whatsapp'],
  ] as const)('flowType %s is channel %s over %s', async (flowType, name, transport) => {
    const mc = channel({ flowType, otpLength: 8 });
    expect(mc).toMatchObject({ name, transport, hosted: true });
    expect(isHostedChannel(mc)).toBe(true);
    await mc.send(message(), live());
    expect(requestsTo('send')[0]!.query).toMatchObject({ flowType, otpLength: '8' });
    expect(fake.lastCode(TO)).toMatch(/^\d{8}$/);
  });

  it('answers 506 while a code is active, with retryAfter from what the send said', async () => {
    await startFake({ codeTtlSeconds: 120 });
    const now = Date.now();
    let offset = 0;
    const mc = channel({ clock: () => now + offset });
    await mc.send(message(), live());
    offset = 45_000;
    const error = await failureOf(mc.send(message(), live()));
    expect(error.details).toEqual({ kind: 'fallback', providerCode: 506, retryAfter: 75 });
  });

  it('answers 506 with a default retryAfter of 60 s when nothing better is known', async () => {
    fake.respondNext('send', { responseCode: 506, httpStatus: 200 });
    const error = await failureOf(channel().send(message(), live()));
    expect(error.details).toEqual({ kind: 'fallback', providerCode: 506, retryAfter: 60 });
  });

  it.each([
    [800, 'fallback'],
    [500, 'fallback'],
    [409, 'fallback'],
    [501, 'configuration'],
    [511, 'configuration'],
    [400, 'configuration'],
    [999, 'fallback'],
  ] as const)('maps responseCode %s to a %s error, with HTTP 200 or 4xx alike', async (responseCode, kind) => {
    for (const httpStatus of [200, 400, 422]) {
      fake.respondNext('send', { responseCode, httpStatus });
      const error = await failureOf(channel().send(message(), live()));
      expect(error.details).toEqual({ kind, providerCode: responseCode });
      expect(error.message).toContain(`responseCode ${responseCode}`);
    }
  });

  it('makes a slow provider a fallback timeout', async () => {
    const mc = channel({ timeoutMs: 100 });
    await mc.send(message('+34612345670'), live());
    fake.delay(300);
    const error = await failureOf(mc.send(message('+34612345671'), live()));
    expect(error.details).toEqual({ kind: 'fallback', providerCode: 'timeout' });
  });

  it('makes a slow token fetch a fallback timeout too', async () => {
    fake.delay(300);
    const error = await failureOf(channel({ timeoutMs: 100 }).send(message(), live()));
    expect(error.details).toEqual({ kind: 'fallback', providerCode: 'timeout' });
  });

  it("honours the core's abort signal", async () => {
    const mc = channel();
    await mc.send(message('+34612345670'), live());
    fake.delay(300);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const started = Date.now();
    const error = await failureOf(mc.send(message('+34612345671'), controller.signal));
    expect(error.details.kind).toBe('fallback');
    expect(Date.now() - started).toBeLessThan(250);
  });

  it('refuses a destination it cannot parse without calling the provider', async () => {
    const error = await failureOf(channel().send(message('+999'), live()));
    expect(error.details).toEqual({ kind: 'fallback', providerCode: 'invalid_number' });
    expect(error.message).not.toContain('999');
    expect(fake.requests).toHaveLength(0);
  });
});

describe('Message Central check', () => {
  it('approves the right code with verificationId and code in the query string', async () => {
    const mc = channel();
    const { id, code } = await sendAndCode(mc);
    expect(await mc.check(id, code, live())).toBe('approved');
    const [validate] = requestsTo('validate');
    expect(validate!.method).toBe('GET');
    expect(validate!.query).toEqual({ verificationId: id, code });
    expect(validate!.authToken).toBe(requestsTo('send')[0]!.authToken);
  });

  it('follows the provider through wrong, right and repeated codes', async () => {
    const mc = channel();
    const { id, code } = await sendAndCode(mc);
    const wrong = code === '000000' ? '111111' : '000000';
    expect(await mc.check(id, wrong, live())).toBe('wrong_code');
    expect(await mc.check(id, code, live())).toBe('approved');
    expect(await mc.check(id, code, live())).toBe('already_verified');
  });

  it('reports an expired verification and an unknown id', async () => {
    const mc = channel();
    const { id, code } = await sendAndCode(mc);
    fake.expire(id);
    expect(await mc.check(id, code, live())).toBe('expired');
    expect(await mc.check('12345', '123456', live())).toBe('unknown');
  });

  it.each([
    [702, 'wrong_code'],
    [700, 'wrong_code'],
    [703, 'already_verified'],
    [705, 'expired'],
    [800, 'expired'],
    [505, 'unknown'],
  ] as [number, HostedVerdict][])('maps responseCode %s to %s, with HTTP 200 or 4xx alike', async (responseCode, verdict) => {
    const mc = channel();
    const { id, code } = await sendAndCode(mc);
    for (const httpStatus of [200, 400, 404]) {
      fake.respondNext('validate', { responseCode, httpStatus });
      expect(await mc.check(id, code, live())).toBe(verdict);
    }
  });

  it.each([
    [500, 500, 'fallback'],
    [500, 200, 'fallback'],
    [501, 400, 'configuration'],
    [511, 200, 'configuration'],
    [400, 400, 'configuration'],
    [999, 200, 'fallback'],
  ] as const)('throws on responseCode %s (HTTP %s) as a %s error, never a verdict', async (responseCode, httpStatus, kind) => {
    const mc = channel();
    const { id, code } = await sendAndCode(mc);
    fake.respondNext('validate', { responseCode, httpStatus });
    const error = await failureOf(mc.check(id, code, live()));
    expect(error.details).toEqual({ kind, providerCode: responseCode });
  });

  it('answers malformed input without calling the provider', async () => {
    const mc = channel();
    expect(await mc.check('12345', '12a456', live())).toBe('wrong_code');
    expect(await mc.check('12345', '123', live())).toBe('wrong_code');
    expect(await mc.check('12345', '123456789', live())).toBe('wrong_code');
    expect(await mc.check('12 345', '123456', live())).toBe('unknown');
    expect(await mc.check('', '123456', live())).toBe('unknown');
    expect(fake.requests).toHaveLength(0);
  });

  it('makes a slow check a fallback timeout', async () => {
    const mc = channel({ timeoutMs: 100 });
    const { id, code } = await sendAndCode(mc);
    fake.delay(300);
    const error = await failureOf(mc.check(id, code, live()));
    expect(error.details).toEqual({ kind: 'fallback', providerCode: 'timeout' });
  });
});

describe('Message Central answers the fake cannot give', () => {
  // A scripted server for bodies outside the fake's behaviour: success codes with odd data, non-JSON.
  async function scripted(validate: { http: number; body: string }) {
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      res.writeHead(path.endsWith('/token') ? 200 : validate.http, { 'content-type': 'application/json' });
      res.end(path.endsWith('/token') ? JSON.stringify({ status: 200, token: 'opaque-token' }) : validate.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { mc: channel({ baseUrl }), close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }

  it.each([
    ['a status other than VERIFICATION_COMPLETED', 200, { responseCode: 200, data: { verificationId: '42', verificationStatus: 'VERIFICATION_PENDING' } }],
    ['no data', 200, { responseCode: 200 }],
    ['another verification id', 200, { responseCode: 200, data: { verificationId: '43', verificationStatus: 'VERIFICATION_COMPLETED' } }],
    ['an HTTP error status', 400, { responseCode: 200, data: { verificationId: '42', verificationStatus: 'VERIFICATION_COMPLETED' } }],
  ])('does not approve responseCode 200 with %s', async (_, http, body) => {
    const server = await scripted({ http, body: JSON.stringify(body) });
    try {
      expect(await server.mc.check('42', '123456', live())).toBe('wrong_code');
    } finally {
      await server.close();
    }
  });

  it('approves with a numeric verificationId and a string responseCode', async () => {
    const body = { responseCode: '200', data: { verificationId: 42, verificationStatus: 'VERIFICATION_COMPLETED' } };
    const server = await scripted({ http: 200, body: JSON.stringify(body) });
    try {
      expect(await server.mc.check('42', '123456', live())).toBe('approved');
    } finally {
      await server.close();
    }
  });

  it('makes a body that is not JSON a fallback error', async () => {
    const server = await scripted({ http: 502, body: '<html>Bad Gateway</html>' });
    try {
      const error = await failureOf(server.mc.check('42', '123456', live()));
      expect(error.details).toEqual({ kind: 'fallback', providerCode: 'http_502' });
    } finally {
      await server.close();
    }
  });
});

describe('Message Central options', () => {
  const valid = (): MessageCentralChannelOptions => ({ customerId: 'C-0123456789ABCDE', password: 'hunter2-secret-pw', flowType: 'SMS' });

  it('builds with defaults', () => {
    const mc = messageCentralChannel(valid());
    expect(mc).toMatchObject({ name: 'mc-sms', transport: 'sms', hosted: true });
    expect(messageCentralChannel({ ...valid(), name: 'verify_sms' }).name).toBe('verify_sms');
  });

  it.each([
    ['customerId missing', { customerId: undefined }, /`customerId` is required/],
    ['customerId with spaces', { customerId: 'C 1' }, /`customerId` must be/],
    ['flowType missing', { flowType: undefined }, /`flowType` must be 'WHATSAPP', 'SMS' or 'RCS'/],
    ['flowType unknown', { flowType: 'EMAIL' }, /`flowType`.*received "EMAIL"/],
    ['flowType inherited', { flowType: 'toString' }, /`flowType`/],
    ['neither secret', { password: undefined }, /exactly one of `authToken`.*or `password`/],
    ['both secrets', { authToken: 'tok-secret-value' }, /exactly one of/],
    ['empty password', { password: '' }, /`password` is required/],
    ['token with a line break', { password: undefined, authToken: 'tok-secret\r\nX: 1' }, /`authToken` must be the token exactly as issued/],
    ['tokenTtl with a static token', { password: undefined, authToken: 'tok-secret-value', tokenTtl: '1h' }, /`tokenTtl` and `country` apply only/],
    ['otpLength too short', { otpLength: 3 }, /`otpLength` must be an integer from 4 to 8.*received 3.*Omit it to use 6/],
    ['otpLength too long', { otpLength: 9 }, /`otpLength`.*received 9/],
    ['otpLength fractional', { otpLength: 5.5 }, /`otpLength`/],
    ['otpLength a string', { otpLength: '6' }, /`otpLength`.*received "6"/],
    ['baseUrl not http', { baseUrl: 'ftp://example.com' }, /`baseUrl` must be an http\(s\) URL/],
    ['baseUrl with a query', { baseUrl: 'https://example.com/?a=1' }, /`baseUrl`/],
    ['bad name', { name: 'Bad Name' }, /`name` must be/],
    ['country not digits', { country: 'IN' }, /`country` must be a calling code in digits.*received "IN"/],
    ['tokenTtl unreadable', { tokenTtl: 'soon' }, /`tokenTtl` must be a positive number/],
    ['timeoutMs too small', { timeoutMs: 5 }, /`timeoutMs` must be an integer from 100 to 60000.*received 5/],
    ['timeoutMs in seconds', { timeoutMs: '10s' }, /`timeoutMs`.*received "10s"/],
    ['clock not a function', { clock: 5 }, /`clock` must be a function/],
    ['unknown option', { otp_length: 6 }, /no option `otp_length`. Known: customerId/],
  ])('rejects %s with a message that says how to fix it', (_, change, pattern) => {
    const options = { ...valid(), ...change } as unknown as MessageCentralChannelOptions;
    let thrown: unknown;
    try {
      messageCentralChannel(options);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as Error).message).toMatch(pattern);
    for (const secret of ['hunter2-secret-pw', Buffer.from('hunter2-secret-pw').toString('base64'), 'tok-secret']) {
      expect((thrown as Error).message).not.toContain(secret);
    }
  });

  it('rejects a non-object', () => {
    expect(() => messageCentralChannel(undefined as unknown as MessageCentralChannelOptions)).toThrow(/needs an options object/);
  });
});

describe('Message Central secrets', () => {
  it('keeps the password, its base64 and tokens out of every failure', async () => {
    const mc = channel({ timeoutMs: 100 });
    const { id, code } = await sendAndCode(mc);
    const cases: (() => Promise<unknown>)[] = [
      () => channel({ password: `${fake.password}x` }).send(message(), live()),
      () => {
        fake.respondNext('send', { responseCode: 401, httpStatus: 401 });
        fake.respondNext('send', { responseCode: 401, httpStatus: 401 });
        return mc.send(message('+34612345671'), live());
      },
      () => {
        fake.respondNext('validate', { responseCode: 500 });
        return mc.check(id, code, live());
      },
      () => {
        fake.respondNext('token', { responseCode: 503, httpStatus: 503 });
        return channel().send(message('+34612345672'), live());
      },
      () => {
        fake.delay(300);
        return mc.check(id, code, live());
      },
    ];
    for (const run of cases) await failureOf(run());
    expect(errors).toHaveLength(cases.length);
    // afterEach compares every error with the password, its base64 and every token the fake saw.
  });
});
