// Nothing at rest or in the audit trail lets a reader recover a code, a phone number, a
// token or a secret: Redis holds only keyed digests and sealed numbers, events only masks.
// Peppers carry ids and rotate without breaking live challenges.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { derivePepperKeys, openSealed, sealText } from '../src/core/codes.js';
import { randomId } from '../src/lib/random.js';
import { isStepUpError, OutboxChannel, type Channel, type StepUpError } from '../src/index.js';
import {
  hasDigitRun, issueToken, latestCode, makeStepUp, NO_LIMITS, PAYMENT, PEPPER, PHONE, PHONE_NATIONAL, redisFixture, rejection, SECRET, startChallenge, SUBJECT,
  type RedisFixture,
} from './core.fixtures.js';

let redis: RedisFixture;
beforeAll(async () => {
  redis = await redisFixture('at-rest');
});
afterAll(async () => {
  await redis.close();
});

/** Every key under the prefix with its value(s), as one text; `hashes` are the challenges. */
async function dump(fixture: RedisFixture): Promise<{ keys: string[]; text: string; hashes: Record<string, string>[] }> {
  const keys = await fixture.keys();
  const parts: string[] = [];
  const hashes: Record<string, string>[] = [];
  for (const key of keys) {
    parts.push(key);
    const type = await fixture.client.type(key);
    if (type === 'hash') {
      const hash = await fixture.client.hgetall(key);
      if (key.includes('}ch:')) hashes.push(hash);
      parts.push(...Object.entries(hash).flat());
    } else if (type === 'string') {
      parts.push((await fixture.client.get(key)) ?? '');
    } else {
      parts.push(`<${type}>`);
    }
  }
  return { keys, text: parts.join('\n'), hashes };
}

function secretForms(secret: string): string[] {
  const bytes = Buffer.from(secret);
  return [secret, bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url')];
}

describe('R-C6 at rest', () => {
  it('R-C6 a dump of Redis during live challenges holds no code, no pepper, no phone number and no transaction detail', async () => {
    const fixture = await redisFixture('dump');
    try {
      // With the limit of wrong codes on, so that the wrong guess below writes the subject's failure record.
      const harness = makeStepUp({ store: fixture.store, limits: { ...NO_LIMITS, failures: { max: 20, window: '24h' } } });
      const payment = await startChallenge(harness, { purpose: 'payment', binding: 'session-raw-id' });
      const login = await startChallenge(harness, { purpose: 'login' });
      harness.clock.advance(30_000);
      await harness.stepup.resend(login.challengeId, { subject: SUBJECT });
      const codes = [payment.code, login.code, latestCode(harness, login.challengeId)];
      // A wrong guess updates a challenge; a consumed token leaves a jti mark.
      await rejection(harness.stepup.verify(payment.challengeId, 'wrong0', { subject: SUBJECT, binding: 'session-raw-id' }));
      const reset = await issueToken(harness, { purpose: 'password-reset' });
      await harness.stepup.checkToken(reset.token, { purpose: 'password-reset' });
      codes.push(reset.code);

      const { keys, text, hashes } = await dump(fixture);
      // Two live challenges, the consumed one (kept for a retry of its code until it expires) and one jti mark,
      // plus one message-id index per message sent (for webhooks) and the subject's failure record (a count and
      // a window end, beside its challenges, since the wrong guess).
      expect(keys.filter((key) => key.includes('}ch:') || key.includes(':jti:{')).length).toBe(4);
      expect(keys.filter((key) => key.includes(':fact:{msg:')).length).toBe(4);
      expect(keys.filter((key) => key.includes('}lim:failures:')).length).toBe(1);
      expect(keys.length).toBe(9);
      for (const code of codes) expect(hasDigitRun(text, code), `code ${code} found at rest`).toBe(false);
      for (const form of [...secretForms(PEPPER), ...secretForms(SECRET)]) expect(text).not.toContain(form);
      for (const phone of [PHONE, PHONE_NATIONAL, PHONE.slice(1)]) expect(text).not.toContain(phone);
      expect(text).not.toContain(PAYMENT.payee as string);
      expect(text).not.toContain(PAYMENT.amount as string);
      expect(text).not.toContain('session-raw-id');
      expect(text).not.toContain(reset.token.split('.')[2]!);
      for (const hash of hashes) {
        expect(hash.dig).toMatch(/^p1:[A-Za-z0-9_-]{43}$/);
        // A consumed challenge keeps no sealed number: nothing will be sent for it again.
        if (hash.vat === undefined) expect(hash.phn).toMatch(/^p1\.[\w-]+\.[\w-]+\.[\w-]+$/);
        else expect(hash.phn).toBeUndefined();
      }
      expect(hashes.filter((hash) => hash.vat !== undefined)).toHaveLength(1);
    } finally {
      await fixture.close();
    }
  });

  it('R-C6 pepper rotation: a challenge made under p1 still verifies after a rebuild with [p2, p1], and new digests start with p2:', async () => {
    const fixture = await redisFixture('rotate');
    try {
      const p1 = { id: 'p1', secret: PEPPER };
      const p2 = { id: 'p2', secret: `${PEPPER}-second-generation` };
      const before = makeStepUp({ store: fixture.store, pepper: [p1] });
      const live = await startChallenge(before, { binding: 'sid' });
      const resendable = await startChallenge(before, { binding: 'sid' });
      expect((await dump(fixture)).hashes.map((hash) => hash.dig!.slice(0, 3))).toEqual(['p1:', 'p1:']);

      const after = makeStepUp({ store: fixture.store, pepper: [p2, p1], clock: before.clock });
      const result = await after.stepup.verify(live.challengeId, live.code, { subject: SUBJECT, binding: 'sid' });
      // The token's session hash is under the new pepper and still checks.
      await expect(after.stepup.checkToken(result.token, { purpose: 'login', binding: 'sid' })).resolves.toBeDefined();

      const fresh = await startChallenge(after, { binding: 'sid' });
      const freshHash = await fixture.client.hgetall(`${fixture.prefix}{${fresh.challengeId.slice(0, 4)}}ch:${fresh.challengeId}`);
      expect(freshHash.dig).toMatch(/^p2:[A-Za-z0-9_-]{43}$/);
      expect(freshHash.phn).toMatch(/^p2\./);

      // A resend of a p1 challenge opens its sealed number with p1 and digests the new code under p2.
      after.clock.advance(30_000);
      await after.stepup.resend(resendable.challengeId, { subject: SUBJECT, binding: 'sid' });
      const rotated = await fixture.client.hgetall(`${fixture.prefix}{${resendable.challengeId.slice(0, 4)}}ch:${resendable.challengeId}`);
      expect(rotated.dig).toMatch(/^p2:/);
      expect(after.outbox.latest()?.to).toBe(PHONE);
      await expect(after.stepup.verify(resendable.challengeId, latestCode(after, resendable.challengeId), { subject: SUBJECT, binding: 'sid' })).resolves.toBeDefined();

      // Once p1 is retired, a p1 challenge no longer opens (its tag is the subject's under p1: the store is still asked).
      const orphan = await startChallenge(before);
      const retired = makeStepUp({ store: fixture.store, pepper: [p2], clock: before.clock });
      expect((await rejection(retired.stepup.verify(orphan.challengeId, orphan.code, { subject: SUBJECT }))).code).toBe('invalid_code');
    } finally {
      await fixture.close();
    }
  });

  it('R-C6 a store shared by two peppers that do not overlap never accepts a code digested under the other', async () => {
    const a = makeStepUp({ store: redis.store, pepper: [{ id: 'same', secret: PEPPER }] });
    const b = makeStepUp({ store: redis.store, pepper: [{ id: 'same', secret: `${PEPPER}-different` }], clock: a.clock });
    const { challengeId, code } = await startChallenge(a);
    expect((await rejection(b.stepup.verify(challengeId, code, { subject: SUBJECT }))).code).toBe('invalid_code');
  });
});

describe('random ids and seal IVs from one pooled CSPRNG buffer', () => {
  it('R-C6 across many refills of the pool, no bytes are handed out twice (a reused IV would break AES-GCM), and every seal opens only for its challenge', () => {
    const keys = derivePepperKeys('p1', Buffer.alloc(32, 7));
    // Every 6-byte run of every id and IV drawn: an overlap of 6 bytes or more between any two
    // draws (or an id that is also an IV) shows as a repeat. Random runs of 6 bytes collide in
    // about 1 test run in 400,000.
    const runs = new Set<string>();
    let count = 0;
    const take = (bytes: Buffer) => {
      for (let at = 0; at + 6 <= bytes.length; at++) {
        runs.add(bytes.toString('hex', at, at + 6));
        count++;
      }
    };
    // 2,000 ids and IVs interleaved, 16 and 12 bytes: the 4 kB pool refills 13 times, at odd offsets.
    for (let i = 0; i < 2_000; i++) {
      const id = randomId();
      expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      take(Buffer.from(id, 'base64url'));
      const sealed = sealText(keys, id, '+34612345678');
      take(Buffer.from(sealed.split('.')[1]!, 'base64url'));
      if (i % 100 === 0) {
        expect(openSealed([keys], id, sealed)).toBe('+34612345678');
        expect(openSealed([keys], randomId(), sealed)).toBeUndefined();
      }
    }
    expect(count).toBe(2_000 * (11 + 7));
    expect(runs.size).toBe(count);
  });
});

describe('compact at rest', () => {
  it('a login challenge is one small hash: every value fits Redis\'s compact listpack encoding', async () => {
    const fixture = await redisFixture('compact');
    try {
      const harness = makeStepUp({ store: fixture.store });
      const view = await harness.stepup.start({ subject: 'user-12345', phone: PHONE, purpose: 'login', binding: 'session-0123456789abcdef', ip: '203.0.113.7' });
      const key = (await fixture.keys()).find((name) => name.includes(view.challengeId))!;
      expect(Object.values(await fixture.client.hgetall(key)).every((value) => value.length <= 64)).toBe(true);
      // Redis 7 says listpack, Redis 6 ziplist; a hashtable costs about three times the memory.
      expect(['listpack', 'ziplist']).toContain(await fixture.client.object('ENCODING', key));
    } finally {
      await fixture.close();
    }
  });
});

describe('R-C9 / R-K audit events and errors carry no secrets', () => {
  it('R-C9 the JSON of every event across success and failure flows holds no code, phone number, token or secret', async () => {
    const failing: Channel = {
      name: 'broken',
      transport: 'whatsapp',
      send: async (message) => {
        throw new Error(`provider refused ${message.to} with code ${message.code}: ${message.text}`);
      },
    };
    const outbox = new OutboxChannel({ name: 'sms', transport: 'sms' });
    const harness = makeStepUp({ channels: [failing, outbox], outbox, store: redis.store });
    const errors: StepUpError[] = [];
    const codes: string[] = [];
    const tokens: string[] = [];
    const fail = async (promise: Promise<unknown>) => {
      try {
        await promise;
      } catch (error) {
        if (!isStepUpError(error)) throw error;
        errors.push(error);
      }
    };

    // Success with a fallback, a wrong code first, then a token accepted and replayed.
    const payment = await startChallenge(harness, { purpose: 'payment', binding: 'sid' });
    codes.push(payment.code);
    await fail(harness.stepup.verify(payment.challengeId, 'wrong1', { subject: SUBJECT, binding: 'sid' }));
    const verified = await harness.stepup.verify(payment.challengeId, payment.code, { subject: SUBJECT, binding: 'sid' });
    tokens.push(verified.token);
    await harness.stepup.checkToken(verified.token, { purpose: 'payment', subject: SUBJECT, binding: 'sid', transaction: PAYMENT });
    await fail(harness.stepup.checkToken(verified.token, { purpose: 'payment', subject: SUBJECT, transaction: PAYMENT }));
    await fail(harness.stepup.checkToken(verified.token, { purpose: 'login' }));
    await fail(harness.stepup.checkToken(`${verified.token}x`, { purpose: 'payment', transaction: PAYMENT }));
    // A cooldown, a resend, a lock.
    const login = await startChallenge(harness);
    codes.push(login.code);
    await fail(harness.stepup.resend(login.challengeId, { subject: SUBJECT }));
    harness.clock.advance(30_000);
    await harness.stepup.resend(login.challengeId, { subject: SUBJECT });
    codes.push(latestCode(harness, login.challengeId));
    for (let i = 0; i < 6; i++) await fail(harness.stepup.verify(login.challengeId, `wrong${i}`, { subject: SUBJECT }));
    // An unknown challenge and a malformed id.
    await fail(harness.stepup.verify('A'.repeat(22), '123456', { subject: SUBJECT }));
    await fail(harness.stepup.verify('bad-id', '123456', { subject: SUBJECT }));

    const types = new Set(harness.events.map((event) => event.type));
    for (const type of ['challenge.started', 'delivery.failed', 'delivery.fallback', 'delivery.sent', 'verify.failed', 'verify.succeeded', 'challenge.locked', 'rate.limited', 'token.accepted', 'token.rejected']) {
      expect(types, type).toContain(type);
    }
    const text = JSON.stringify(harness.events) + JSON.stringify(errors.map((error) => ({ message: error.message, details: error.details, cause: String(error.cause ?? '') })));
    for (const code of codes) expect(hasDigitRun(text, code), `code ${code} in events`).toBe(false);
    for (const phone of [PHONE, PHONE_NATIONAL, PHONE.slice(1)]) expect(text).not.toContain(phone);
    for (const token of tokens) for (const part of token.split('.')) expect(text).not.toContain(part);
    expect(text).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+/);
    for (const form of [...secretForms(PEPPER), ...secretForms(SECRET)]) expect(text).not.toContain(form);
    expect(text).not.toContain('provider refused');
    // The masked number is what events carry.
    expect(harness.events.find((event) => event.type === 'challenge.started')?.to).toBe('+34 •••••••78');
  });

  it('R-K5 the challenge view shows only a masked number and the channel, never the code', async () => {
    const harness = makeStepUp();
    const view = await harness.stepup.start({ subject: SUBJECT, phone: PHONE, purpose: 'login' });
    const code = harness.outbox.latest()!.code;
    const text = JSON.stringify(view);
    expect(view.to).toBe('+34 •••••••78');
    expect(text).not.toContain(PHONE_NATIONAL);
    expect(hasDigitRun(text, code)).toBe(false);
    expect(Object.keys(view).sort()).toEqual(['attemptsLeft', 'challengeId', 'channel', 'channels', 'expiresAt', 'purpose', 'resendAfter', 'sendsLeft', 'to']);
  });
});
