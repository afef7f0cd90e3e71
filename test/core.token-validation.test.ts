// checkToken accepts only tokens signed by a locally configured key with that key's one
// algorithm, explicitly typed, with every required claim present and untouched. Forged,
// re-typed, stripped or tampered tokens are refused as 'invalid' (invalid_token), and no key
// is ever fetched from a URL the token names.
import { generateKeyPairSync } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AUDIENCE, b64url, claimsAt, decodePart, es256, expectRefused, forge, hs256, ISSUER, issueToken, makeStepUp, OTHER_SECRET, PAYMENT, rs256, SECRET, SUBJECT, unsigned,
  type Harness,
} from './core.fixtures.js';

const HEADER = { alg: 'HS256', typ: 'stepup+jwt', kid: 'stepup-1' };

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ecPublicPem = ec.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

function ecHarness(): Harness {
  return makeStepUp({ tokens: { issuer: ISSUER, audience: AUDIENCE, algorithm: 'ES256', privateKey: ec.privateKey, publicKey: ecPublicPem, keyId: 'ec-1' } });
}

const check = (harness: Harness, token: string) => harness.stepup.checkToken(token, { purpose: 'login', subject: SUBJECT });

describe('baseline: hand-made tokens are accepted when correct', () => {
  it('a forged-by-us HS256 token with the configured secret and full claims passes (so refusals below are for the one change)', async () => {
    const harness = makeStepUp();
    await expect(check(harness, forge(HEADER, claimsAt(harness.clock()), hs256(SECRET)))).resolves.toMatchObject({ sub: SUBJECT });
  });

  it('a hand-made ES256 token with the configured private key passes', async () => {
    const harness = ecHarness();
    const token = forge({ alg: 'ES256', typ: 'stepup+jwt', kid: 'ec-1' }, claimsAt(harness.clock()), es256(ec.privateKey));
    await expect(check(harness, token)).resolves.toMatchObject({ sub: SUBJECT });
  });
});

describe('R-B2 algorithm pinning', () => {
  it('R-B2 pins algorithms: alg none is refused (HS256 and ES256 services)', async () => {
    for (const harness of [makeStepUp(), ecHarness()]) {
      for (const alg of ['none', 'None', 'NONE']) {
        const token = forge({ alg, typ: 'stepup+jwt', kid: HEADER.kid }, claimsAt(harness.clock()), unsigned);
        await expectRefused(check(harness, token), 'invalid');
        await expectRefused(check(harness, token.replace(/\.$/, '.c2lnbmF0dXJl')), 'invalid');
      }
    }
  });

  it('R-B2 pins algorithms: an HS256 token signed with the EC public key PEM as HMAC secret is refused', async () => {
    const harness = ecHarness();
    const der = ec.publicKey.export({ type: 'spki', format: 'der' });
    for (const secret of [ecPublicPem, ecPublicPem.trim(), der]) {
      for (const kid of ['ec-1', 'stepup-1', undefined]) {
        const token = forge({ alg: 'HS256', typ: 'stepup+jwt', ...(kid ? { kid } : {}) }, claimsAt(harness.clock()), hs256(secret));
        await expectRefused(check(harness, token), 'invalid');
      }
    }
  });

  it('R-B2 pins algorithms: an HS256 token signed with the RSA public key PEM is refused by an RS256 service', async () => {
    const rsaPublicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const harness = makeStepUp({ tokens: { issuer: ISSUER, audience: AUDIENCE, algorithm: 'RS256', privateKey: rsa.privateKey, publicKey: rsaPublicPem, keyId: 'rsa-1' } });
    const token = forge({ alg: 'HS256', typ: 'stepup+jwt', kid: 'rsa-1' }, claimsAt(harness.clock()), hs256(rsaPublicPem));
    await expectRefused(check(harness, token), 'invalid');
    // The genuine RS256 token passes, so the refusal is about the algorithm.
    await expect(check(harness, (await issueToken(harness)).token)).resolves.toMatchObject({ sub: SUBJECT });
  });

  it('R-B2 pins algorithms: an RS256 token for an ES256 key is refused', async () => {
    const harness = ecHarness();
    const token = forge({ alg: 'RS256', typ: 'stepup+jwt', kid: 'ec-1' }, claimsAt(harness.clock()), rs256(rsa.privateKey));
    await expectRefused(check(harness, token), 'invalid');
  });

  it('R-B2 one algorithm per kid when a rotation mixes HS256 and ES256: HS256 under the EC kid (signed with its public PEM) is refused', async () => {
    const harness = makeStepUp({
      tokens: {
        issuer: ISSUER, audience: AUDIENCE, algorithm: 'ES256', privateKey: ec.privateKey, publicKey: ec.publicKey, keyId: 'ec-1',
        previousKeys: [{ keyId: 'old-hs', algorithm: 'HS256', secret: SECRET }],
      },
    });
    const confused = forge({ alg: 'HS256', typ: 'stepup+jwt', kid: 'ec-1' }, claimsAt(harness.clock()), hs256(ecPublicPem));
    await expectRefused(check(harness, confused), 'invalid');
    const wrongAlgForHsKid = forge({ alg: 'ES256', typ: 'stepup+jwt', kid: 'old-hs' }, claimsAt(harness.clock()), es256(ec.privateKey));
    await expectRefused(check(harness, wrongAlgForHsKid), 'invalid');
    // The old HS256 key still works under its own kid and algorithm.
    const old = forge({ alg: 'HS256', typ: 'stepup+jwt', kid: 'old-hs' }, claimsAt(harness.clock()), hs256(SECRET));
    await expect(check(harness, old)).resolves.toMatchObject({ sub: SUBJECT });
  });

  it('R-K4 each key is bound to one algorithm: a PS256 key does not verify an RS256 token signed by the same private key', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const harness = makeStepUp({
      tokens: {
        issuer: ISSUER, audience: AUDIENCE, algorithm: 'PS256', privateKey: rsa.privateKey, publicKey: rsa.publicKey, keyId: 'ps',
        // An RS256 key elsewhere in the set puts RS256 among the accepted algorithms.
        previousKeys: [{ keyId: 'rs-old', algorithm: 'RS256', publicKey: other.publicKey }],
      },
    });
    const sameKeyOtherAlg = forge({ alg: 'RS256', typ: 'stepup+jwt', kid: 'ps' }, claimsAt(harness.clock()), rs256(rsa.privateKey));
    await expectRefused(check(harness, sameKeyOtherAlg), 'invalid');
    const underItsOwnKid = forge({ alg: 'RS256', typ: 'stepup+jwt', kid: 'rs-old' }, claimsAt(harness.clock()), rs256(other.privateKey));
    await expect(check(harness, underItsOwnKid)).resolves.toMatchObject({ sub: SUBJECT });
  });

  it('R-B2 a token signed with another HS256 secret is refused', async () => {
    const harness = makeStepUp();
    await expectRefused(check(harness, forge(HEADER, claimsAt(harness.clock()), hs256(`${SECRET}-other`))), 'invalid');
  });
});

describe('R-B3 explicit typing', () => {
  it("R-B3 same claims and key with typ 'JWT', 'at+jwt', 'jwt', another type or no typ are refused", async () => {
    const harness = makeStepUp();
    for (const typ of ['JWT', 'at+jwt', 'jwt', 'stepup', 'application/jwt', '', 42, undefined]) {
      const header: Record<string, unknown> = { alg: 'HS256', kid: 'stepup-1' };
      if (typ !== undefined) header.typ = typ;
      await expectRefused(check(harness, forge(header, claimsAt(harness.clock()), hs256(SECRET))), 'invalid');
    }
  });

  it("R-B3 typ is compared case-insensitively with an optional 'application/' prefix", async () => {
    const harness = makeStepUp();
    for (const typ of ['stepup+jwt', 'STEPUP+JWT', 'application/stepup+jwt', 'Application/StepUp+JWT']) {
      await expect(check(harness, forge({ ...HEADER, typ }, claimsAt(harness.clock()), hs256(SECRET))), typ).resolves.toMatchObject({ sub: SUBJECT });
    }
  });
});

describe('R-B4 required claims', () => {
  const REQUIRED = ['iss', 'aud', 'sub', 'iat', 'exp', 'jti', 'auth_time', 'acr', 'amr', 'purpose', 'cid', 'chn'];

  for (const claim of REQUIRED) {
    it(`R-B4 a validly signed token without ${claim} is refused (invalid_token)`, async () => {
      const harness = makeStepUp();
      const claims = claimsAt(harness.clock());
      delete claims[claim];
      await expectRefused(harness.stepup.checkToken(forge(HEADER, claims, hs256(SECRET)), { purpose: 'login' }), 'invalid');
    });
  }

  it('R-B4 claims of the wrong type or empty are refused (sub number, amr empty or string, exp string, aud array)', async () => {
    const harness = makeStepUp();
    const bad = [{ sub: 42 }, { sub: '' }, { amr: [] }, { amr: 'otp' }, { amr: ['otp', 7] }, { exp: String(Math.floor(harness.clock() / 1000) + 60) }, { aud: [AUDIENCE] }, { txn: '' }, { sbh: 5 }, { iss: `${ISSUER}/` }, { aud: 'https://other.example' }];
    for (const override of bad) {
      const token = forge(HEADER, claimsAt(harness.clock(), override), hs256(SECRET));
      await expectRefused(harness.stepup.checkToken(token, { purpose: 'login' }), 'invalid');
    }
  });

  it('R-B4 a payment token without txn is refused as invalid_token', async () => {
    const harness = makeStepUp();
    const token = forge(HEADER, claimsAt(harness.clock(), { purpose: 'payment' }), hs256(SECRET));
    await expectRefused(harness.stepup.checkToken(token, { purpose: 'payment', transaction: { id: 'pay_1', amount: '1', currency: 'EUR', payee: 'x' } }), 'invalid');
  });

  it('an expired token is refused as expired (invalid_token), within the clock tolerance it still passes', async () => {
    const harness = makeStepUp();
    const { token } = await issueToken(harness);
    const { exp } = decodePart(token, 1) as { exp: number };
    harness.clock.set(exp * 1000 + 29_000);
    await expect(check(harness, token)).resolves.toMatchObject({ sub: SUBJECT });
    harness.clock.set(exp * 1000 + 31_000);
    await expectRefused(check(harness, token), 'expired');
  });

  it('a token whose auth_time lies in the future beyond the tolerance is refused', async () => {
    const harness = makeStepUp();
    const now = Math.floor(harness.clock() / 1000);
    await expectRefused(check(harness, forge(HEADER, claimsAt(harness.clock(), { auth_time: now + 120 }), hs256(SECRET))), 'invalid');
  });

  it('garbage, over-long and non-string tokens are refused without a throw of another kind', async () => {
    const harness = makeStepUp();
    for (const token of ['abc', 'a.b', 'a.b.c.d', '....', `${'a'.repeat(3000)}.${'b'.repeat(3000)}.c`, 'eyJ.eyJ.', '\u0000.\u0000.\u0000']) {
      await expectRefused(check(harness, token), 'invalid');
    }
    for (const token of [undefined, null, 42, '', {}]) {
      await expectRefused(harness.stepup.checkToken(token, { purpose: 'login' }), 'missing');
    }
  });
});

describe('tampering with an issued token', () => {
  const changes: Record<string, (value: unknown) => unknown> = {
    sub: () => 'user-2',
    purpose: () => 'login',
    exp: (value) => (value as number) + 3600,
    auth_time: (value) => (value as number) + 60,
    txn: () => 'A'.repeat(43),
    sbh: () => 'B'.repeat(43),
    jti: () => 'C'.repeat(22),
    acr: () => 'urn:whatsapp-stepup:acr:oob-sms',
    amr: () => ['otp', 'mca', 'pwd', 'mfa'],
    aud: () => `${AUDIENCE}/admin`,
    iss: () => 'https://evil.example',
  };

  for (const [claim, change] of Object.entries(changes)) {
    it(`R-B13 changing ${claim} in the payload while keeping the signature is refused (invalid)`, async () => {
      const harness = makeStepUp();
      const { token } = await issueToken(harness, { purpose: 'payment', binding: 'sid-1' });
      const [header, , signature] = token.split('.');
      const payload = decodePart(token, 1);
      expect(payload[claim], `issued token has ${claim}`).toBeDefined();
      payload[claim] = change(payload[claim]);
      const tampered = `${header}.${b64url(payload)}.${signature}`;
      const input = { purpose: 'payment', subject: SUBJECT, binding: 'sid-1', transaction: PAYMENT };
      await expectRefused(harness.stepup.checkToken(tampered, input), 'invalid');
      // The untouched token still passes: the refusal is the tampering's, and it did not burn the token.
      await expect(harness.stepup.checkToken(token, input)).resolves.toMatchObject({ jti: decodePart(token, 1).jti });
    });
  }

  it('changing the header (kid, typ) while keeping the signature is refused', async () => {
    const harness = makeStepUp({ tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET, previousKeys: [{ keyId: 'other', algorithm: 'HS256', secret: OTHER_SECRET }] } });
    const { token } = await issueToken(harness);
    const [, payload, signature] = token.split('.');
    for (const header of [{ ...HEADER, kid: 'other' }, { ...HEADER, typ: 'application/stepup+jwt' }]) {
      await expectRefused(check(harness, `${b64url(header)}.${payload}.${signature}`), 'invalid');
    }
  });
});

describe('R-B12 keys come only from the local configuration', () => {
  let server: Server;
  let requests = 0;
  let attackerUrl = '';
  const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  beforeAll(async () => {
    server = createServer((_req, res) => {
      requests++;
      const jwk = attacker.publicKey.export({ format: 'jwk' });
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ keys: [{ ...jwk, kid: 'attacker', alg: 'ES256', use: 'sig' }] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    attackerUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/jwks.json`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('R-B12 a token with a jku/x5u/jwk header pointing at an attacker, signed with the attacker key, is refused and nothing is fetched', async () => {
    const jwk = { ...attacker.publicKey.export({ format: 'jwk' }), kid: 'attacker' };
    for (const harness of [ecHarness(), makeStepUp()]) {
      const headers = [
        { alg: 'ES256', typ: 'stepup+jwt', kid: 'attacker', jku: attackerUrl },
        { alg: 'ES256', typ: 'stepup+jwt', kid: 'ec-1', jku: attackerUrl },
        { alg: 'ES256', typ: 'stepup+jwt', kid: 'stepup-1', jku: attackerUrl },
        { alg: 'ES256', typ: 'stepup+jwt', kid: 'ec-1', x5u: attackerUrl },
        { alg: 'ES256', typ: 'stepup+jwt', kid: 'ec-1', jwk },
        { alg: 'ES256', typ: 'stepup+jwt', jwk },
      ];
      for (const header of headers) {
        await expectRefused(check(harness, forge(header, claimsAt(harness.clock()), es256(attacker.privateKey))), 'invalid');
      }
    }
    // Give any stray fetch a moment to arrive before asserting there was none.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(requests).toBe(0);
  });

  it('R-B12 an unknown kid is refused even when signed with a configured secret', async () => {
    const harness = makeStepUp();
    for (const kid of ['k9', '', '__proto__', 'constructor', undefined]) {
      const header: Record<string, unknown> = { alg: 'HS256', typ: 'stepup+jwt' };
      if (kid !== undefined) header.kid = kid;
      await expectRefused(check(harness, forge(header, claimsAt(harness.clock()), hs256(SECRET))), 'invalid');
    }
  });

  it("key rotation: a token signed under keyId 'k1' passes after a rebuild with keyId 'k2' and previousKeys [k1]; k1's token fails once k1 is dropped", async () => {
    const first = makeStepUp({ tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET, keyId: 'k1' } });
    const { token } = await issueToken(first);
    expect(decodePart(token, 0).kid).toBe('k1');
    const newSecret = `${SECRET}-rotated`;
    const rotated = makeStepUp({
      clock: first.clock,
      store: first.store,
      tokens: { issuer: ISSUER, audience: AUDIENCE, secret: newSecret, keyId: 'k2', previousKeys: [{ keyId: 'k1', algorithm: 'HS256', secret: SECRET }] },
    });
    await expect(check(rotated, token)).resolves.toMatchObject({ sub: SUBJECT });
    const fresh = (await issueToken(rotated)).token;
    expect(decodePart(fresh, 0).kid).toBe('k2');
    const dropped = makeStepUp({ clock: first.clock, store: first.store, tokens: { issuer: ISSUER, audience: AUDIENCE, secret: newSecret, keyId: 'k2' } });
    await expectRefused(check(dropped, token), 'invalid');
    await expect(check(dropped, fresh)).resolves.toMatchObject({ sub: SUBJECT });
  });

  it('key rotation across algorithms: an ES256 service keeps accepting tokens of its previous ES256 key by kid', async () => {
    const old = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const before = makeStepUp({ tokens: { issuer: ISSUER, audience: AUDIENCE, algorithm: 'ES256', privateKey: old.privateKey, publicKey: old.publicKey, keyId: 'ec-old' } });
    const { token } = await issueToken(before);
    const after = makeStepUp({
      clock: before.clock,
      tokens: { issuer: ISSUER, audience: AUDIENCE, algorithm: 'ES256', privateKey: ec.privateKey, publicKey: ec.publicKey, keyId: 'ec-1', previousKeys: [{ keyId: 'ec-old', algorithm: 'ES256', publicKey: old.publicKey }] },
    });
    await expect(check(after, token)).resolves.toMatchObject({ sub: SUBJECT });
    // The same token relabelled with the new kid does not verify under the new key.
    const [, payload, signature] = token.split('.');
    await expectRefused(check(after, `${b64url({ alg: 'ES256', typ: 'stepup+jwt', kid: 'ec-1' })}.${payload}.${signature}`), 'invalid');
  });
});

describe('R-B13 nothing is read from a token before verification', () => {
  function sourceFiles(dir: string): string[] {
    return readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
    });
  }

  it('R-B13 no source file under src/ uses jwt.decode or jsonwebtoken decode', () => {
    const files = sourceFiles(join(import.meta.dirname, '..', 'src'));
    expect(files.length).toBeGreaterThan(10);
    const offenders: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      if (/\b(jwt|jsonwebtoken)\s*\.\s*decode\b/.test(text)) offenders.push(`${file}: jwt.decode`);
      // Any other `.decode(` but a TextDecoder's (UTF-8 bytes, not tokens) is suspect; body.ts keeps one as `const UTF8 = new TextDecoder(...)`.
      const decoderName = /\bconst UTF8 = new TextDecoder\(/.test(text) ? '|\\bUTF8' : '';
      if (/\.decode\s*\(/.test(text.replace(new RegExp(`(new TextDecoder\\([^)]*\\)${decoderName})\\.decode\\s*\\(`, 'g'), ''))) offenders.push(`${file}: .decode(`);
      if (/import\s*\{[^}]*\bdecode\b[^}]*\}\s*from\s*['"]jsonwebtoken['"]/.test(text)) offenders.push(`${file}: import { decode }`);
      if (/\bjwt\[\s*['"]decode['"]\s*\]/.test(text)) offenders.push(`${file}: jwt['decode']`);
    }
    expect(offenders).toEqual([]);
  });
});
