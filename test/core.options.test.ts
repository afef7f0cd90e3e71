// createStepUp refuses unsafe or mistyped configuration at construction, with a TypeError
// whose message names the option, what it received and how to fix it. Bounds that the
// security requirements set (token lifetimes, clock tolerance, key strength) cannot be exceeded.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createStepUp, MemoryStore, OutboxChannel, type StepUpOptions } from '../src/index.js';
import { AUDIENCE, ISSUER, PEPPER, SECRET } from './core.fixtures.js';

function options(overrides: Record<string, unknown> = {}): StepUpOptions {
  return {
    store: new MemoryStore(),
    channels: [new OutboxChannel()],
    tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET },
    pepper: PEPPER,
    ...overrides,
  } as StepUpOptions;
}

const build = (overrides: Record<string, unknown> = {}) => () => createStepUp(options(overrides));

describe('baseline', () => {
  it('the minimal options build a service with the three preset purposes', () => {
    const stepup = createStepUp(options());
    expect(stepup.purpose('login')).toMatchObject({ tokenTtlSec: 900, oneTime: false, requireTransaction: false });
    expect(stepup.purpose('payment')).toMatchObject({ tokenTtlSec: 300, oneTime: true, requireTransaction: true, maxAttempts: 5 });
    expect(stepup.purpose('password-reset')).toMatchObject({ tokenTtlSec: 600, oneTime: true });
    expect(Object.isFrozen(stepup)).toBe(true);
  });
});

describe('options validation', () => {
  it('the payment and password-reset presets cannot be weakened under their own names', () => {
    expect(build({ purposes: { payment: { oneTime: false } } })).toThrow(/`purposes\['payment'\]\.oneTime` cannot be false/);
    expect(build({ purposes: { payment: { requireTransaction: false } } })).toThrow(/`purposes\['payment'\]\.requireTransaction` cannot be false/);
    expect(build({ purposes: { 'password-reset': { oneTime: false } } })).toThrow(/`purposes\['password-reset'\]\.oneTime` cannot be false/);
    // Tightening stays possible, and a weaker policy can live under another name.
    expect(build({ purposes: { payment: { tokenTtl: '2m', maxAttempts: 3 } } })).not.toThrow();
    expect(build({ purposes: { 'quick-transfer': { oneTime: false, tokenTtl: '5m' } } })).not.toThrow();
  });

  it('tokens.clockTolerance accepts 0 for synchronized clocks', () => {
    expect(build({ tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET, clockTolerance: 0 } })).not.toThrow();
  });

  it('missing pepper is rejected, naming `pepper` and how to generate one', () => {
    expect(build({ pepper: undefined })).toThrow(TypeError);
    expect(build({ pepper: undefined })).toThrow(/`pepper` is required.*randomBytes\(32\)/);
    expect(build({ pepper: [] })).toThrow(/`pepper` is required/);
  });

  it('a short pepper (31 bytes) is rejected, naming `pepper` and the byte count; 32 bytes pass', () => {
    expect(build({ pepper: 'x'.repeat(31) })).toThrow(/`pepper` must be at least 32 random bytes \(received 31 bytes\)/);
    expect(build({ pepper: [{ id: 'p1', secret: Buffer.alloc(16, 1) }] })).toThrow(/`pepper\[0\]\.secret` must be at least 32 random bytes \(received 16 bytes\)/);
    expect(build({ pepper: randomBytes(32) })).not.toThrow();
  });

  it('pepper ids must be well-formed and unique', () => {
    expect(build({ pepper: [{ id: 'p1', secret: PEPPER }, { id: 'p1', secret: `${PEPPER}2` }] })).toThrow(/`pepper\[1\]\.id` repeats 'p1'/);
    expect(build({ pepper: [{ id: 'bad id!', secret: PEPPER }] })).toThrow(/`pepper\[0\]\.id`/);
  });

  it('an unknown option key (ttlSecs) is rejected at every level, naming it and listing the known ones', () => {
    expect(build({ ttlSecs: 300 })).toThrow(/createStepUp options.*no option `ttlSecs`\. Known: store, channels/);
    expect(build({ code: { ttlSecs: 300 } })).toThrow(/`code` has no option `ttlSecs`\. Known: length, ttl, maxAttempts/);
    expect(build({ sends: { cooldownSecs: 3 } })).toThrow(/`sends` has no option `cooldownSecs`/);
    expect(build({ purposes: { login: { ttl: '1m' } } })).toThrow(/`purposes\['login'\]` has no option `ttl`/);
    expect(build({ tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET, expiresIn: 60 } })).toThrow(/`tokens\.expiresIn` is not an option/);
  });

  it('code length out of range is rejected, naming `code.length`', () => {
    expect(build({ code: { length: 5 } })).toThrow(/`code\.length` must be an integer from 6 to 10 \(received 5\)/);
    expect(build({ code: { length: 11 } })).toThrow(/`code\.length` must be an integer from 6 to 10 \(received 11\)/);
    expect(build({ code: { length: '6' } })).toThrow(/`code\.length`/);
  });

  it('code ttl above 10 minutes is rejected, naming `code.ttl`; below 30 s too; nonsense durations too', () => {
    expect(build({ code: { ttl: 601 } })).toThrow(/`code\.ttl` must be from 30 seconds to 10 minutes \(received 601 s\)/);
    expect(build({ code: { ttl: '10.5m' } })).toThrow(/`code\.ttl`/);
    expect(build({ code: { ttl: 29 } })).toThrow(/`code\.ttl`/);
    expect(build({ code: { ttl: 'five minutes' } })).toThrow(/`code\.ttl` must be a positive number of seconds or a string such as '30s'/);
    expect(build({ code: { ttl: -5 } })).toThrow(/`code\.ttl`/);
  });

  it('maxAttempts above the bound is rejected (at most 5 for a transaction purpose, 10 otherwise)', () => {
    expect(build({ code: { maxAttempts: 11 } })).toThrow(/`code\.maxAttempts` must be an integer from 1 to 10/);
    expect(build({ purposes: { payment: { maxAttempts: 6 } } })).toThrow(/`purposes\['payment'\]\.maxAttempts` must be an integer from 1 to 5/);
  });

  it('an unknown channel shape or transport is rejected, naming `channels[i]`', () => {
    expect(build({ channels: [] })).toThrow(/`channels` must be a non-empty array/);
    expect(build({ channels: [{ name: 'x', transport: 'whatsapp' }] })).toThrow(/`channels\[0\]` is not a channel: it needs a name, a transport and a send/);
    expect(build({ channels: [new OutboxChannel(), null] })).toThrow(/`channels\[1\]` is not a channel/);
    expect(build({ channels: [{ name: 'tg', transport: 'telegram', send: async () => ({}) }] })).toThrow(/`channels\[0\]` has the unknown transport "telegram"; it must be one of whatsapp, sms, rcs/);
    expect(build({ channels: [{ name: 'Bad Name', transport: 'sms', send: async () => ({}) }] })).toThrow(/`channels\[0\]\.name`/);
    expect(() => new OutboxChannel({ transport: 'fax' as never })).toThrow(/`transport` must be one of whatsapp, sms, rcs/);
  });

  it('duplicate channel names are rejected', () => {
    expect(build({ channels: [new OutboxChannel({ name: 'wa' }), new OutboxChannel({ name: 'wa', transport: 'sms' })] })).toThrow(/Two channels are named 'wa'; channel names must be unique/);
  });

  it('a missing or malformed store is rejected, naming `store`', () => {
    expect(build({ store: undefined })).toThrow(/`store` is required/);
    expect(build({ store: { create: () => undefined } })).toThrow(/`store` is required/);
  });

  it('onEvent and clock must be functions', () => {
    expect(build({ onEvent: 'log' })).toThrow(/`onEvent` must be a function/);
    expect(build({ clock: 0 })).toThrow(/`clock` must be a function/);
  });

  describe('MemoryStore under NODE_ENV=production', () => {
    let saved: string | undefined;
    beforeEach(() => {
      saved = process.env.NODE_ENV;
      process.env.NODE_ENV = 'production';
    });
    afterEach(() => {
      if (saved === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = saved;
    });

    it('throws unless allowMemoryStoreInProduction: true, naming the option and the alternative', () => {
      expect(build()).toThrow(/MemoryStore was given with NODE_ENV=production.*RedisStore.*allowMemoryStoreInProduction: true/);
      expect(build({ allowMemoryStoreInProduction: 'yes' })).toThrow(/allowMemoryStoreInProduction/);
      // The service's OutboxChannel is refused too, unless allowed (test/core.outbox-in-production.test.ts).
      expect(build({ allowMemoryStoreInProduction: true, allowOutboxInProduction: true })).not.toThrow();
    });
  });
});

describe('R-B7 token lifetime bounds', () => {
  it('R-B7 config rejects payment tokenTtl above 300 s, password-reset above 600 s, login above 900 s; the bounds themselves pass', () => {
    expect(build({ purposes: { payment: { tokenTtl: 301 } } })).toThrow(/`purposes\['payment'\]\.tokenTtl` may be at most 300 seconds.*received 301/);
    expect(build({ purposes: { 'password-reset': { tokenTtl: 601 } } })).toThrow(/`purposes\['password-reset'\]\.tokenTtl` may be at most 600 seconds/);
    expect(build({ purposes: { login: { tokenTtl: '16m' } } })).toThrow(/`purposes\['login'\]\.tokenTtl` may be at most 900 seconds.*received 960/);
    expect(build({ purposes: { payment: { tokenTtl: '5m' }, 'password-reset': { tokenTtl: '10m' }, login: { tokenTtl: '15m' } } })).not.toThrow();
  });

  it('R-B7 custom purposes get the bound of their kind (transaction 300 s, one-time 600 s, other 900 s)', () => {
    expect(build({ purposes: { transfer: { requireTransaction: true, tokenTtl: 301 } } })).toThrow(/at most 300 seconds/);
    expect(build({ purposes: { 'change-email': { oneTime: true, tokenTtl: 601 } } })).toThrow(/at most 600 seconds/);
    expect(build({ purposes: { admin: { tokenTtl: '1h' } } })).toThrow(/at most 900 seconds/);
  });

  it('R-B7 clockTolerance above 60 s is rejected, naming `tokens.clockTolerance`; 60 s passes', () => {
    expect(build({ tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET, clockTolerance: 61 } })).toThrow(/`tokens\.clockTolerance` may be at most 60 seconds \(received 61\)/);
    expect(build({ tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET, clockTolerance: '2m' } })).toThrow(/`tokens\.clockTolerance`/);
    expect(build({ tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET, clockTolerance: '60s' } })).not.toThrow();
  });

  it('R-B7 invalid purpose names are rejected', () => {
    expect(build({ purposes: { 'Bad Purpose': { tokenTtl: 60 } } })).toThrow(/Purpose names must be lower-case/);
  });
});

describe('R-B12 key strength and token options', () => {
  it('R-B12 a 16-byte HS256 secret is rejected at construction with a message that says how to fix it', () => {
    const run = build({ tokens: { issuer: ISSUER, audience: AUDIENCE, secret: 'a'.repeat(16) } });
    expect(run).toThrow(TypeError);
    expect(run).toThrow(/`tokens\.secret` must be at least 32 random bytes \(received 16 bytes\)\. Generate one with: openssl rand -base64 32 \(or node -e .*randomBytes\(32\)/);
    expect(build({ tokens: { issuer: ISSUER, audience: AUDIENCE, secret: Buffer.alloc(31) } })).toThrow(/received 31 bytes/);
  });

  it('R-B12 a short HS256 secret among previousKeys is rejected too', () => {
    expect(build({ tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET, previousKeys: [{ keyId: 'old', algorithm: 'HS256', secret: 'short' }] } })).toThrow(/`tokens\.previousKeys\[0\]\.secret` must be at least 32 random bytes/);
  });

  it('R-B12 a 1024-bit RSA key is rejected for RS256', () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(build({ tokens: { issuer: ISSUER, audience: AUDIENCE, algorithm: 'RS256', privateKey: weak.privateKey, publicKey: weak.publicKey } })).toThrow(/`tokens\.privateKey` must be an RSA key of at least 2048 bits for RS256/);
    expect(build({ tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET, previousKeys: [{ keyId: 'old', algorithm: 'RS256', publicKey: weak.publicKey }] } })).toThrow(/`tokens\.previousKeys\[0\]\.publicKey` must be an RSA key of at least 2048 bits/);
  });

  it('R-B12 ES256 needs a P-256 key; a P-384 key, a swapped pair and a mismatched pair are rejected', () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const a = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const b = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const tokens = (privateKey: unknown, publicKey: unknown) => ({ tokens: { issuer: ISSUER, audience: AUDIENCE, algorithm: 'ES256', privateKey, publicKey } });
    expect(build(tokens(p384.privateKey, p384.publicKey))).toThrow(/P-256/);
    expect(build(tokens(a.publicKey, a.privateKey))).toThrow(/`tokens\.privateKey` must be a private key/);
    expect(build(tokens(a.privateKey, b.publicKey))).toThrow(/`tokens\.publicKey` does not belong to `tokens\.privateKey`/);
    expect(build(tokens(a.privateKey, a.publicKey))).not.toThrow();
  });

  it("R-B12 the algorithm is pinned per key: 'none', HS512 or an algorithm that does not fit the key are rejected", () => {
    const a = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(build({ tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET, algorithm: 'none' } })).toThrow(/`tokens\.algorithm` must be 'HS256' with a secret/);
    expect(build({ tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET, algorithm: 'HS512' } })).toThrow(/`tokens\.algorithm`/);
    expect(build({ tokens: { issuer: ISSUER, audience: AUDIENCE, algorithm: 'RS256', privateKey: a.privateKey, publicKey: a.publicKey } })).toThrow(/RSA key of at least 2048 bits/);
    expect(build({ tokens: { issuer: ISSUER, audience: AUDIENCE, algorithm: 'none', privateKey: a.privateKey, publicKey: a.publicKey } })).toThrow(/`tokens\.algorithm` must be one of ES256, RS256, PS256/);
  });

  it("R-B3 tokens.type may not be a generic type ('JWT', 'at+jwt') or carry 'application/'", () => {
    for (const type of ['JWT', 'jwt', 'at+jwt', 'application/stepup+jwt', '']) {
      expect(build({ tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET, type } }), type).toThrow(/`tokens\.type`/);
    }
  });

  it('R-B6 issuer and audience are required, and key ids must be unique', () => {
    expect(build({ tokens: { audience: AUDIENCE, secret: SECRET } })).toThrow(/`tokens\.issuer` must be a non-empty string/);
    expect(build({ tokens: { issuer: ISSUER, secret: SECRET } })).toThrow(/`tokens\.audience` must be a non-empty string/);
    expect(build({ tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET, keyId: 'k1', previousKeys: [{ keyId: 'k1', algorithm: 'HS256', secret: SECRET }] } })).toThrow(/repeats the key id 'k1'/);
  });

  it('error messages never echo a secret value', () => {
    const secret = 'short-secret-value';
    try {
      createStepUp(options({ tokens: { issuer: ISSUER, audience: AUDIENCE, secret } }));
      expect.unreachable();
    } catch (error) {
      expect(String((error as Error).message)).not.toContain(secret);
    }
    try {
      createStepUp(options({ pepper: 'short-pepper-value' }));
      expect.unreachable();
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('short-pepper-value');
    }
  });
});
