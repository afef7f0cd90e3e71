// Twilio's own SDK is the judge of which signed requests are genuine: for every URL form and
// parameter set below, `verifyTwilioSignature` says exactly what the SDK's `validateRequest`
// says about a signature made with the account's auth token, so where it accepts, we accept.
// A signature over another parameter, another URL or another body is refused by both.
import { createServer, type Server } from 'node:http';
import express from 'express';
import * as fc from 'fast-check';
import Koa from 'koa';
import request from 'supertest';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyTwilioSignature, type TwilioWebhookParams } from '../src/channels/twilio-signature.js';
import { stepUpRouter as expressRouter } from '../src/express/index.js';
import { stepUpRouter as koaRouter } from '../src/koa/index.js';
import { closeServer, createHarnessCore, listen, type HarnessCore } from './support/http-harness.js';

const TOKEN = 'c0ffee5e1f0a4b7d9e2c3a8b6d4f1e07';
type Params = Record<string, string | string[]>;

/** The SDK's signature and the SDK's verdict; ours beside it. */
const sign = (url: string, params: Params, token = TOKEN) => twilio.getExpectedTwilioSignature(token, url, params);
const sdkAccepts = (signature: string, url: string, params: Params) => twilio.validateRequest(TOKEN, signature, url, params);
const weAccept = (signature: string, url: string, params: TwilioWebhookParams) => verifyTwilioSignature({ authToken: TOKEN, url, params, signature });

const SID = `SM${'c'.repeat(32)}`;
const PARAM_SETS: Record<string, Params> = {
  empty: {},
  'a status callback': { AccountSid: `AC${'a'.repeat(32)}`, From: '+15005550006', MessageSid: SID, MessageStatus: 'delivered', SmsSid: SID, SmsStatus: 'delivered', To: '+34612345678' },
  'duplicate values under one name': { A: ['1', '1', '2'], B: 'x' },
  'array values out of order': { Tags: ['zeta', 'alpha', 'Mid'] },
  unicode: { Body: 'código 🔐 ñandú', Ñame: 'Zoë', 日本: '語' },
  'empty values': { A: '', B: [''], C: 'c' },
  'keys that sort differently than they read': { b: '1', B: '2', _x: '3', a1: '4', A: '5', 'a-b': '6', '10': '7', '9': '8' },
};

/**
 * URLs, each used both as the one Twilio signed and as the one the app configured: every
 * pair is put to both checks. Grouped by what they exercise; the cases the issue names are
 * also listed below with the verdict the SDK gives.
 */
const URLS = [
  // ports, default and not, on https and http
  'https://app.example/stepup/webhooks/twilio',
  'https://app.example:443/stepup/webhooks/twilio',
  'https://app.example:8443/stepup/webhooks/twilio',
  'https://app.example:9443/stepup/webhooks/twilio',
  'http://app.example/stepup/webhooks/twilio',
  'http://app.example:80/stepup/webhooks/twilio',
  'http://app.example:8080/stepup/webhooks/twilio',
  'https://[::1]:8443/hook',
  'https://[::1]/hook',
  // host case
  'https://APP.Example/stepup/webhooks/twilio',
  'https://APP.Example:8443/stepup/webhooks/twilio',
  // query strings and escaped characters
  'https://app.example/hook?tenant=7',
  'https://app.example/hook?tenant=8',
  "https://app.example/hook?name=o'brien",
  'https://app.example/hook?name=o%27brien',
  'https://app.example:8443/hook?name=o%27brien',
  'https://app.example/hook?a=1&a=3&b=2',
  'https://app.example/hook?a=1&b=2&a=3',
  'https://app.example/hook?q=a+b',
  'https://app.example/hook?q=a%20b',
  'https://app.example/hook?',
  'https://app.example/hook',
  // paths with special characters
  'https://app.example/hooks/café',
  'https://app.example/hooks/caf%C3%A9',
  'https://app.example/x/../hook',
  'https://app.example/hooks/a b',
  'https://app.example/hooks/a%20b',
  'https://app.example/hook/',
  'https://other.example/hook',
];

describe('verifyTwilioSignature gives the SDK’s verdict', () => {
  it.each([
    ['a non-default port configured, the URL signed without it', 'https://app.example/stepup/webhooks/twilio', 'https://app.example:8443/stepup/webhooks/twilio', true],
    ['a non-default port signed, the URL configured without it', 'https://app.example:8443/stepup/webhooks/twilio', 'https://app.example/stepup/webhooks/twilio', false],
    ['another non-default port', 'https://app.example:8443/stepup/webhooks/twilio', 'https://app.example:9443/stepup/webhooks/twilio', false],
    ['the default port signed, configured without', 'https://app.example:443/stepup/webhooks/twilio', 'https://app.example/stepup/webhooks/twilio', true],
    ['the default port configured, signed without', 'http://app.example/stepup/webhooks/twilio', 'http://app.example:80/stepup/webhooks/twilio', true],
    ['an upper-case host configured', 'https://app.example/stepup/webhooks/twilio', 'https://APP.Example/stepup/webhooks/twilio', true],
    ['an upper-case host configured with a non-default port, signed lower-case without it', 'https://app.example/stepup/webhooks/twilio', 'https://APP.Example:8443/stepup/webhooks/twilio', true],
    ['an upper-case host signed, configured lower-case', 'https://APP.Example/stepup/webhooks/twilio', 'https://app.example/stepup/webhooks/twilio', false],
    ['an apostrophe configured, signed escaped', 'https://app.example/hook?name=o%27brien', "https://app.example/hook?name=o'brien", true],
    ['an escaped apostrophe configured, signed plain', "https://app.example/hook?name=o'brien", 'https://app.example/hook?name=o%27brien', true],
    ['a query configured with + for a space, signed as %20', 'https://app.example/hook?q=a%20b', 'https://app.example/hook?q=a+b', true],
    ['a repeated query name configured apart, signed together', 'https://app.example/hook?a=1&a=3&b=2', 'https://app.example/hook?a=1&b=2&a=3', true],
    ['a path with é configured, signed escaped', 'https://app.example/hooks/caf%C3%A9', 'https://app.example/hooks/café', true],
    ['a path with dot segments configured', 'https://app.example/hook', 'https://app.example/x/../hook', true],
    ['an IPv6 host with a non-default port configured, signed without it', 'https://[::1]/hook', 'https://[::1]:8443/hook', true],
    ['another query value', 'https://app.example/hook?tenant=7', 'https://app.example/hook?tenant=8', false],
    ['another scheme', 'http://app.example/stepup/webhooks/twilio', 'https://app.example/stepup/webhooks/twilio', false],
    ['another host', 'https://other.example/hook', 'https://app.example/hook', false],
    ['a trailing slash', 'https://app.example/hook/', 'https://app.example/hook', false],
  ])('%s', (_case, signedUrl, configuredUrl, verdict) => {
    for (const params of Object.values(PARAM_SETS)) {
      const signature = sign(signedUrl, params);
      expect(sdkAccepts(signature, configuredUrl, params)).toBe(verdict);
      expect(weAccept(signature, configuredUrl, params)).toBe(verdict);
    }
  });

  it.each(Object.entries(PARAM_SETS))('every signed × configured URL pair of the table, with parameters: %s', (_name, params) => {
    let accepted = 0;
    for (const signedUrl of URLS) {
      const signature = sign(signedUrl, params);
      for (const configuredUrl of URLS) {
        const sdk = sdkAccepts(signature, configuredUrl, params);
        expect({ signedUrl, configuredUrl, ours: weAccept(signature, configuredUrl, params) }).toEqual({ signedUrl, configuredUrl, ours: sdk });
        if (sdk && signedUrl !== configuredUrl) accepted += 1;
      }
    }
    // The table is not vacuous: many pairs of different URLs are accepted, and most are not.
    expect(accepted).toBeGreaterThanOrEqual(20);
    expect(accepted).toBeLessThan(URLS.length * URLS.length / 4);
  });

  it('signs a repeated name’s distinct values once each, in sorted order', () => {
    const url = 'https://app.example/hook';
    const signature = sign(url, { A: ['2', '1'] });
    for (const params of [{ A: ['1', '2'] }, { A: ['2', '1', '2'] }, { A: ['1', '1', '2', '2'] }]) {
      expect(sdkAccepts(signature, url, params)).toBe(true);
      expect(weAccept(signature, url, params)).toBe(true);
    }
    for (const params of [{ A: ['1'] }, { A: ['1', '2', '3'] }, { A: '12' }, { A: ['12'] }]) {
      expect(sdkAccepts(signature, url, params)).toBe(false);
      expect(weAccept(signature, url, params)).toBe(false);
    }
  });
});

describe('a tampered request is refused by both', () => {
  const url = 'https://app.example:8443/hook?tenant=7';
  const signedUrl = 'https://app.example/hook?tenant=7';

  it.each(Object.entries(PARAM_SETS))('parameters: %s', (_name, params) => {
    const signature = sign(signedUrl, params);
    const tampered: [string, string, Params][] = [
      ['a parameter added', url, { ...params, ErrorCode: '30003' }],
      ['another auth token', url, params],
      ['the path changed', 'https://app.example:8443/hook2?tenant=7', params],
      ['the query changed', 'https://app.example:8443/hook?tenant=8', params],
      ['the host changed', 'https://evil.example:8443/hook?tenant=7', params],
    ];
    const keys = Object.keys(params);
    for (const key of keys) {
      const value = params[key]!;
      const { [key]: _removed, ...rest } = params;
      tampered.push(['a parameter removed', url, rest]);
      tampered.push(['a value changed', url, { ...params, [key]: typeof value === 'string' ? `${value}x` : [...value, 'new'] }]);
    }
    for (const [what, tamperedUrl, tamperedParams] of tampered) {
      const sig = what === 'another auth token' ? sign(signedUrl, params, 'f'.repeat(32)) : signature;
      expect({ what, sdk: sdkAccepts(sig, tamperedUrl, tamperedParams) }).toEqual({ what, sdk: false });
      expect({ what, ours: weAccept(sig, tamperedUrl, tamperedParams) }).toEqual({ what, ours: false });
    }
    // The untampered request passes both, so the refusals above are the tampering's doing.
    expect(sdkAccepts(signature, url, params) && weAccept(signature, url, params)).toBe(true);
  });

  const key = fc.string({ minLength: 1, maxLength: 6, unit: fc.constantFrom('a', 'B', 'c', '_', '1', 'é', '😀') });
  const value = fc.string({ maxLength: 8, unit: 'grapheme' });
  const paramsArb = fc.dictionary(key, fc.oneof(value, fc.array(fc.constantFrom<string>('x', 'y', '', 'ü'), { maxLength: 4 })), { maxKeys: 6 });
  const urlArb = fc.constantFrom(...URLS);

  it('property: random parameters signed by the SDK pass both; one value changed, added or removed passes neither', () => {
    fc.assert(
      fc.property(urlArb, urlArb, paramsArb, key, value, (signedUrl, configuredUrl, params, extraKey, extraValue) => {
        const signature = sign(signedUrl, params);
        expect(weAccept(signature, configuredUrl, params)).toBe(sdkAccepts(signature, configuredUrl, params));
        expect(weAccept(signature, signedUrl, params)).toBe(true);
        const variants: Params[] = [];
        if (!Object.hasOwn(params, extraKey)) variants.push({ ...params, [extraKey]: extraValue });
        for (const [name, current] of Object.entries(params)) {
          const { [name]: _removed, ...rest } = params;
          // A name with no values at all signs as nothing, so removing it changes nothing signed.
          if (typeof current === 'string' || current.length > 0) variants.push(rest);
          if (typeof current === 'string') variants.push({ ...params, [name]: current === extraValue ? `${current}!` : extraValue });
          else if (!current.includes('z')) variants.push({ ...params, [name]: [...current, 'z'] });
        }
        for (const changed of variants) {
          expect(sdkAccepts(signature, signedUrl, changed)).toBe(false);
          expect(weAccept(signature, signedUrl, changed)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });
});

/** Through the router's `POST /webhooks/twilio`, on a real local server, on both adapters. */
describe.each([
  ['express', (core: HarnessCore, url: string) => {
    const app = express();
    app.use('/stepup', expressRouter(core.stepup, { resolveSubject: () => undefined, onError: core.report, webhooks: { twilio: { authToken: TOKEN, url } } }));
    return createServer(app);
  }],
  ['koa', (core: HarnessCore, url: string) => {
    const app = new Koa();
    app.use(koaRouter(core.stepup, { prefix: '/stepup', resolveSubject: () => undefined, onError: core.report, webhooks: { twilio: { authToken: TOKEN, url } } }));
    return createServer(app.callback());
  }],
])('the %s Twilio webhook route', (_adapter, build) => {
  const CONFIGURED = 'https://APP.Example:8443/stepup/webhooks/twilio';
  const callback = { AccountSid: `AC${'a'.repeat(32)}`, MessageSid: SID, MessageStatus: 'delivered', SmsSid: SID, SmsStatus: 'delivered', To: '+34612345678' };
  let core: HarnessCore;
  let server: Server;

  beforeAll(async () => {
    core = await createHarnessCore({ store: 'memory' });
    server = build(core, CONFIGURED);
    await listen(server);
  });
  afterAll(async () => {
    await closeServer(server);
    await core.dispose();
  });

  const post = (body: string, signature: string) =>
    request(server).post('/stepup/webhooks/twilio').set('Content-Type', 'application/x-www-form-urlencoded').set('X-Twilio-Signature', signature).send(body);

  it.each([
    ['over the configured URL as given', CONFIGURED, 200],
    ['over it without the non-default port', 'https://APP.Example/stepup/webhooks/twilio', 200],
    ['over it lower-cased without the port', 'https://app.example/stepup/webhooks/twilio', 200],
    ['over it lower-cased with the port', 'https://app.example:8443/stepup/webhooks/twilio', 200],
    ['over it with another port', 'https://app.example:9443/stepup/webhooks/twilio', 401],
    ['over another path', 'https://app.example/stepup/webhooks/twilio2', 401],
  ])('a callback signed %s (%s) → %i, as the SDK decides', async (_case, signedUrl, status) => {
    const signature = sign(signedUrl, callback);
    expect(sdkAccepts(signature, CONFIGURED, callback)).toBe(status === 200);
    const res = await post(new URLSearchParams(callback).toString(), signature);
    expect(res.status, res.text).toBe(status);
    if (status === 401) expect(res.body).toMatchObject({ error: { code: 'invalid_signature' } });
  });

  it('a repeated form field is signed as the SDK signs it; a changed body is 401', async () => {
    const signedUrl = 'https://app.example/stepup/webhooks/twilio';
    const repeated = `${new URLSearchParams(callback).toString()}&Tag=b&Tag=a&Tag=b`;
    const signature = sign(signedUrl, { ...callback, Tag: ['b', 'a', 'b'] });
    expect((await post(repeated, signature)).status).toBe(200);
    expect((await post(repeated.replace('Tag=a', 'Tag=c'), signature)).status).toBe(401);
    expect((await post(repeated.replace('delivered', 'failed'), signature)).status).toBe(401);
    expect((await post(`${repeated}&ErrorCode=30003`, signature)).status).toBe(401);
    expect(core.errors).toEqual([]);
  });
});
