// An issued step-up token is a standard, explicitly typed JWS that any JOSE library verifies
// with the secret or public key alone, with every claim of DESIGN §6 and lifetimes per purpose.
// It carries random ids, RFC 8176 `amr` values that tell WhatsApp from SMS, and no personal data.
import { createHmac, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { MemoryStore, OutboxChannel, type Channel, type ChallengeStore } from '../src/index.js';
import { admitInSteps } from '../src/store/index.js';
import { isChallengeId } from '../src/core/codes.js';
import { newTokenId } from '../src/core/tokens.js';
import {
  AUDIENCE, decodePart, expectRefused, ISSUER, issueToken, makeStepUp, PAYMENT, PEPPER, PHONE, PHONE_NATIONAL, rejection, SECRET, startChallenge, SUBJECT,
} from './core.fixtures.js';

const BASE64URL_128 = /^[A-Za-z0-9_-]{22}$/;

describe('token header and claims', () => {
  it("R-B1 header has alg, typ 'stepup+jwt' and kid", async () => {
    const harness = makeStepUp({ tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET, keyId: 'key-7' } });
    const { token } = await issueToken(harness);
    expect(decodePart(token, 0)).toEqual({ alg: 'HS256', typ: 'stepup+jwt', kid: 'key-7' });
  });

  it('DESIGN §6 carries every claim: iss, aud, sub, iat, exp, auth_time, jti, acr, amr, purpose, cid, chn, txn and sbh when bound', async () => {
    const harness = makeStepUp();
    const { token, challengeId } = await issueToken(harness, { purpose: 'payment', binding: 'session-1' });
    const claims = decodePart(token, 1);
    const now = Math.floor(harness.clock() / 1000);
    expect(claims).toEqual({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: SUBJECT,
      iat: now,
      exp: now + 300,
      auth_time: now,
      jti: expect.stringMatching(BASE64URL_128),
      acr: 'urn:whatsapp-stepup:acr:oob-whatsapp',
      amr: ['otp', 'mca'],
      purpose: 'payment',
      cid: challengeId,
      chn: 'outbox',
      txn: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      sbh: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
  });

  it('R-B7 issued exp - iat equals the purpose lifetime: login 900 s, payment 300 s, password-reset 600 s, custom as configured', async () => {
    const harness = makeStepUp({ purposes: { 'change-email': { tokenTtl: '2m', oneTime: true } } });
    const expected: Record<string, number> = { login: 900, payment: 300, 'password-reset': 600, 'change-email': 120 };
    for (const [purpose, lifetime] of Object.entries(expected)) {
      const result = await (async () => {
        const { challengeId, code } = await startChallenge(harness, { purpose });
        return harness.stepup.verify(challengeId, code, { subject: SUBJECT });
      })();
      const claims = decodePart(result.token, 1) as { exp: number; iat: number };
      expect(claims.exp - claims.iat, purpose).toBe(lifetime);
      expect(result.expiresIn, purpose).toBe(lifetime);
    }
  });
});

describe('R-B8 token ids', () => {
  it('R-B8 jti is 22 base64url characters (128 bits) and differs between tokens', async () => {
    const harness = makeStepUp();
    const first = decodePart((await issueToken(harness)).token, 1);
    const second = decodePart((await issueToken(harness)).token, 1);
    expect(first.jti).toMatch(BASE64URL_128);
    expect(Buffer.from(first.jti as string, 'base64url')).toHaveLength(16);
    expect(second.jti).not.toBe(first.jti);
  });

  it('R-B8 100 000 ids from the generator have no duplicate', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 100_000; i++) ids.add(newTokenId());
    expect(ids.size).toBe(100_000);
    for (const id of [...ids].slice(0, 1000)) expect(id).toMatch(BASE64URL_128);
  });
});

describe('R-B9 amr and acr', () => {
  it('R-B9 WhatsApp transport: amr contains otp and mca, not sms; acr names WhatsApp', async () => {
    const harness = makeStepUp();
    const claims = decodePart((await issueToken(harness)).token, 1) as { amr: string[]; acr: string };
    expect(claims.amr).toEqual(expect.arrayContaining(['otp', 'mca']));
    expect(claims.amr).not.toContain('sms');
    expect(claims.amr).not.toContain('mfa');
    expect(claims.acr).toBe('urn:whatsapp-stepup:acr:oob-whatsapp');
  });

  it('R-B9 SMS transport: amr contains sms and mca, not otp; acr names SMS', async () => {
    const harness = makeStepUp({ outbox: new OutboxChannel({ name: 'sms', transport: 'sms' }) });
    const claims = decodePart((await issueToken(harness)).token, 1) as { amr: string[]; acr: string; chn: string };
    expect(claims.amr).toEqual(expect.arrayContaining(['sms', 'mca']));
    expect(claims.amr).not.toContain('otp');
    expect(claims.acr).toBe('urn:whatsapp-stepup:acr:oob-sms');
    expect(claims.chn).toBe('sms');
  });

  it('R-B9 when WhatsApp fails and the code falls back to SMS, the token says sms (not otp) and names the SMS channel', async () => {
    const broken: Channel = { name: 'whatsapp', transport: 'whatsapp', send: async () => Promise.reject(new Error('131026')) };
    const sms = new OutboxChannel({ name: 'sms', transport: 'sms' });
    const harness = makeStepUp({ channels: [broken, sms], outbox: sms });
    const view = await harness.stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'login' });
    expect(view.channel).toBe('sms');
    const { claims } = await harness.stepup.verify(view.challengeId, sms.latest()!.code, { subject: SUBJECT });
    expect(claims.amr).toEqual(expect.arrayContaining(['sms', 'mca']));
    expect(claims.amr).not.toContain('otp');
    expect(claims.acr).toBe('urn:whatsapp-stepup:acr:oob-sms');
    expect(claims.chn).toBe('sms');
  });

  it('R-B9 a resend the user asks to get by SMS yields a token that says sms; the WhatsApp code is dead', async () => {
    const whatsapp = new OutboxChannel({ name: 'whatsapp' });
    const sms = new OutboxChannel({ name: 'sms', transport: 'sms' });
    const harness = makeStepUp({ channels: [whatsapp, sms], outbox: whatsapp });
    const { challengeId, code: whatsappCode } = await startChallenge(harness);
    harness.clock.advance(30_000);
    const view = await harness.stepup.resend(challengeId, { subject: SUBJECT, channel: 'sms' });
    expect(view.channel).toBe('sms');
    const smsCode = sms.latest()!.code;
    if (smsCode !== whatsappCode) {
      expect((await rejection(harness.stepup.verify(challengeId, whatsappCode, { subject: SUBJECT }))).code).toBe('invalid_code');
    }
    const { claims } = await harness.stepup.verify(challengeId, smsCode, { subject: SUBJECT });
    expect(claims.amr).toContain('sms');
    expect(claims.amr).not.toContain('otp');
    expect(claims.chn).toBe('sms');
  });

  it("R-B9 otherFactors ['pwd'] adds pwd and mfa (login 2FA)", async () => {
    const harness = makeStepUp();
    const claims = decodePart((await issueToken(harness, { otherFactors: ['pwd'] })).token, 1) as { amr: string[] };
    expect(claims.amr).toEqual(expect.arrayContaining(['otp', 'mca', 'pwd', 'mfa']));
  });

  it("R-B9 checkToken with denyAmr ['sms'] refuses the SMS token (wrong_method) and accepts the WhatsApp one", async () => {
    const sms = new OutboxChannel({ name: 'sms', transport: 'sms' });
    const whatsapp = new OutboxChannel({ name: 'whatsapp' });
    const harness = makeStepUp({ outbox: whatsapp, channels: [whatsapp, sms] });
    const smsToken = (await issueToken(harness, { channel: 'sms' })).token;
    const whatsappToken = (await issueToken(harness)).token;
    await expectRefused(harness.stepup.checkToken(smsToken, { purpose: 'login', subject: SUBJECT, denyAmr: ['sms'] }), 'wrong_method');
    await expect(harness.stepup.checkToken(whatsappToken, { purpose: 'login', subject: SUBJECT, denyAmr: ['sms'] })).resolves.toMatchObject({ amr: ['otp', 'mca'] });
  });

  it('acrValues accepts only the listed acr (WhatsApp-only guard refuses the SMS token)', async () => {
    const sms = new OutboxChannel({ name: 'sms', transport: 'sms' });
    const harness = makeStepUp({ outbox: sms });
    const { token } = await issueToken(harness);
    await expectRefused(harness.stepup.checkToken(token, { purpose: 'login', acrValues: ['urn:whatsapp-stepup:acr:oob-whatsapp'] }), 'wrong_method');
  });
});

describe('R-B15 no personal or transaction data in clear', () => {
  it('R-B15 tokens of every flow carry no E.164 number, national number, amount, currency-amount or payee', async () => {
    const harness = makeStepUp();
    const tokens = [
      (await issueToken(harness, { purpose: 'payment', binding: 'sid-1' })).token,
      (await issueToken(harness, { purpose: 'login', otherFactors: ['pwd'] })).token,
      (await issueToken(harness, { purpose: 'password-reset' })).token,
    ];
    for (const token of tokens) {
      const text = JSON.stringify([decodePart(token, 0), decodePart(token, 1)]);
      expect(text).not.toContain(PHONE);
      expect(text).not.toContain(PHONE_NATIONAL);
      expect(text).not.toMatch(/\+\d{8,15}/);
      expect(text).not.toContain(PAYMENT.amount as string);
      expect(text).not.toContain(PAYMENT.payee as string);
      expect(text).not.toMatch(/ES\d{22}/);
      expect(text).not.toContain('sid-1');
    }
  });
});

describe('independent verification with jose', () => {
  it('an issued HS256 token verifies with jose.jwtVerify using only the secret, typ stepup+jwt', async () => {
    // The fake clock starts at the real time, so the token is current for jose's clock too.
    const { token } = await issueToken(makeStepUp());
    const { payload, protectedHeader } = await jwtVerify(token, new TextEncoder().encode(SECRET), {
      algorithms: ['HS256'], typ: 'stepup+jwt', issuer: ISSUER, audience: AUDIENCE,
    });
    expect(protectedHeader).toMatchObject({ alg: 'HS256', typ: 'stepup+jwt' });
    expect(payload).toMatchObject({ sub: SUBJECT, purpose: 'login' });
  });

  it('an issued ES256 token verifies with jose.jwtVerify using only the public key, and the service checks it too', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const harness = makeStepUp({
      tokens: { issuer: ISSUER, audience: AUDIENCE, algorithm: 'ES256', privateKey, publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(), keyId: 'ec-1' },
    });
    const { token } = await issueToken(harness);
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const { payload, protectedHeader } = await jwtVerify(token, createPublicKey(pem), {
      algorithms: ['ES256'], typ: 'stepup+jwt', issuer: ISSUER, audience: AUDIENCE,
    });
    expect(protectedHeader).toEqual({ alg: 'ES256', typ: 'stepup+jwt', kid: 'ec-1' });
    expect(payload).toMatchObject({ sub: SUBJECT, amr: ['otp', 'mca'] });
    await expect(harness.stepup.checkToken(token, { purpose: 'login', subject: SUBJECT })).resolves.toMatchObject({ sub: SUBJECT });
  });
});

describe('R-K randomness and key separation', () => {
  it('R-K1 challenge ids are a 4-character slot tag of the subject, then 22 base64url characters (128 random bits), unique', async () => {
    const harness = makeStepUp();
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) ids.add((await startChallenge(harness)).challengeId);
    expect(ids.size).toBe(20);
    for (const id of ids) {
      expect(id.slice(4)).toMatch(BASE64URL_128);
      expect(isChallengeId(id)).toBe(true);
    }
    // The random part differs in every id; the tag is the subject's, never the subject itself.
    expect(new Set([...ids].map((id) => id.slice(4))).size).toBe(20);
    expect(new Set([...ids].map((id) => id.slice(0, 4))).size).toBe(1);
    const other = (await startChallenge(harness, { subject: 'someone-else' })).challengeId;
    expect(other.slice(0, 4)).not.toBe([...ids][0]!.slice(0, 4));
    expect(SUBJECT).not.toContain([...ids][0]!.slice(0, 4));
    for (const malformed of [[...ids][0]!.slice(1), `${[...ids][0]!}x`, [...ids][0]!.replace(/.$/, '.')]) expect(isChallengeId(malformed)).toBe(false);
  });

  it('R-K4 sbh is not an HMAC of the binding under the raw pepper nor under the token secret (keys are derived separately)', async () => {
    const harness = makeStepUp();
    const { token } = await issueToken(harness, { binding: 'session-xyz' });
    const { sbh } = decodePart(token, 1) as { sbh: string };
    for (const key of [PEPPER, SECRET]) {
      for (const encoding of ['base64url', 'hex', 'base64'] as const) {
        expect(sbh).not.toBe(createHmac('sha256', key).update('session-xyz').digest(encoding));
      }
    }
    // Still deterministic under the configured pepper: the same binding passes checkToken.
    await expect(harness.stepup.checkToken(token, { purpose: 'login', binding: 'session-xyz' })).resolves.toMatchObject({ sbh });
  });

  it('R-K4 the stored code digest is not an HMAC under the raw pepper (the code key is derived)', async () => {
    const inner = new MemoryStore();
    const digests: string[] = [];
    const spy: ChallengeStore = {
      create: (record, ttl) => {
        digests.push(...record.digests);
        return inner.create(record, ttl);
      },
      admit: (record, ttl, admission) => admitInSteps(spy, record, ttl, admission),
      verify: (...args) => inner.verify(...args),
      beginHostedCheck: (...args) => inner.beginHostedCheck(...args),
      finishHostedCheck: (...args) => inner.finishHostedCheck(...args),
      reserveResend: (...args) => inner.reserveResend(...args),
      recordDelivery: (...args) => inner.recordDelivery(...args),
      discardCode: (...args) => inner.discardCode(...args),
      countHits: (...args) => inner.countHits(...args),
      readHits: (...args) => inner.readHits(...args),
      readFailures: (...args) => inner.readFailures(...args),
      applyStatus: (...args) => inner.applyStatus(...args),
      delete: (id) => inner.delete(id),
      consumeOnce: (...args) => inner.consumeOnce(...args),
      setFact: (...args) => inner.setFact(...args),
      getFact: (...args) => inner.getFact(...args),
      scheduleFallback: (...args) => inner.scheduleFallback(...args),
      cancelFallback: (...args) => inner.cancelFallback(...args),
      claimDueFallbacks: (...args) => inner.claimDueFallbacks(...args),
    };
    const { challengeId, code } = await startChallenge(makeStepUp({ store: spy }));
    const raw = createHmac('sha256', PEPPER).update(challengeId).update(':').update(code).digest();
    expect(digests).toHaveLength(1);
    expect(digests[0]).toMatch(/^p1:[A-Za-z0-9_-]{43}$/);
    for (const encoding of ['base64url', 'hex', 'base64'] as const) expect(digests[0]).not.toBe(`p1:${raw.toString(encoding)}`);
  });
});
