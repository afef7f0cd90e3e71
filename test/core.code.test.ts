// Codes are 6 to 10 uniformly random decimal digits that live at most 10 minutes, and any
// submission that is not the live code (malformed, huge, wrong type) is a counted failure,
// never a crash. Digest comparisons are constant-time and never throw on unequal lengths.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCode, safeEqual } from '../src/core/codes.js';
import { createStepUp, MemoryStore, OutboxChannel } from '../src/index.js';
import { AUDIENCE, ISSUER, makeStepUp, PEPPER, redisFixture, rejection, SECRET, startChallenge, SUBJECT, type RedisFixture } from './core.fixtures.js';

/** Chi-square statistic of digit counts per position (10 buckets each). */
function chiSquarePerPosition(codes: Iterable<string>, length: number): number[] {
  const counts = Array.from({ length }, () => new Array<number>(10).fill(0));
  let total = 0;
  for (const code of codes) {
    total++;
    for (let position = 0; position < length; position++) counts[position]![code.charCodeAt(position) - 48]!++;
  }
  const expected = total / 10;
  return counts.map((row) => row.reduce((sum, observed) => sum + (observed - expected) ** 2 / expected, 0));
}

function* draw(count: number, make: () => string): Generator<string> {
  for (let i = 0; i < count; i++) yield make();
}

// df = 9. The textbook critical value at p = 0.001 is 27.88; six positions tested at that
// level would fail a perfect generator about once in 170 runs, so each position is held to
// p = 1e-6 (44.81). A real bias (a never-zero first digit, byte % 10) scores in the hundreds.
const CRITICAL_P_1E6 = 44.81;

describe('R-C1 code generation', () => {
  it('R-C1 codes are ^\\d{n}$ for every length n from 6 to 10, leading zeros kept', () => {
    for (let length = 6; length <= 10; length++) {
      const pattern = new RegExp(`^\\d{${length}}$`);
      let leadingZero = false;
      for (let i = 0; i < 2_000; i++) {
        const code = generateCode(length);
        expect(code).toMatch(pattern);
        leadingZero ||= code.startsWith('0');
      }
      expect(leadingZero, `length ${length} produced a leading zero in 2000 draws`).toBe(true);
    }
  });

  it('R-C1 each digit position of 10^6 six-digit codes is uniform (chi-square, df = 9)', () => {
    const statistics = chiSquarePerPosition(draw(1_000_000, () => generateCode(6)), 6);
    for (const [position, statistic] of statistics.entries()) {
      expect(statistic, `position ${position}: chi2 ${statistic.toFixed(2)}`).toBeLessThan(CRITICAL_P_1E6);
    }
    // The sum over the six positions (df = 54) at p = 0.001.
    expect(statistics.reduce((a, b) => a + b, 0)).toBeLessThan(91.87);
  });

  it('R-C1 the same chi-square test does catch a modulo-biased generator (the test has teeth)', () => {
    // byte % 10: digits 0-5 come up 26 times in 256, digits 6-9 only 25.
    const bytes = randomBytes(6_000_000);
    let offset = 0;
    const biased = () => {
      const code = Array.from(bytes.subarray(offset, offset + 6), (byte) => byte % 10).join('');
      offset += 6;
      return code;
    };
    const statistics = chiSquarePerPosition(draw(1_000_000, biased), 6);
    for (const statistic of statistics) expect(statistic).toBeGreaterThan(CRITICAL_P_1E6);
  });

  it('R-C1 the service sends codes of the configured length (6 and 10)', async () => {
    for (const length of [6, 10]) {
      const harness = makeStepUp({ code: { length } });
      const { code } = await startChallenge(harness);
      expect(code).toMatch(new RegExp(`^\\d{${length}}$`));
    }
  });

  it('R-C1 code.length 5 and 11 are rejected with a message that names the option and the range', () => {
    for (const length of [5, 11, 6.5, 0]) {
      expect(() => makeStepUp({ code: { length } })).toThrow(/`code\.length` must be an integer from 6 to 10 \(received [\d.]+\)\. Omit it to use 6\./);
    }
  });
});

describe('R-C2 code lifetime', () => {
  it('R-C2 code.ttl above 10 minutes (601 s) is rejected, naming the option; 600 s is accepted', () => {
    expect(() => makeStepUp({ code: { ttl: 601 } })).toThrow(/`code\.ttl` must be from 30 seconds to 10 minutes \(received 601 s\)/);
    expect(() => makeStepUp({ code: { ttl: '11m' } })).toThrow(/`code\.ttl`/);
    expect(() => makeStepUp({ code: { ttl: '1h' } })).toThrow(/`code\.ttl`/);
    expect(() => makeStepUp({ code: { ttl: '10m' } })).not.toThrow();
  });

  const stores: { name: string; fixture?: RedisFixture }[] = [{ name: 'MemoryStore' }, { name: 'RedisStore' }];
  beforeAll(async () => {
    stores[1]!.fixture = await redisFixture('code-ttl');
  });
  afterAll(async () => {
    await stores[1]!.fixture?.close();
  });

  for (const entry of stores) {
    it(`R-C2 on ${entry.name}: verify at expiry + 1 s is challenge_expired; 1 s before expiry the code works`, async () => {
      const harness = makeStepUp({ code: { ttl: '2m' }, ...(entry.fixture ? { store: entry.fixture.store } : {}) });
      const t0 = harness.clock();
      const expired = await startChallenge(harness);
      harness.clock.set(t0 + 121_000);
      const error = await rejection(harness.stepup.verify(expired.challengeId, expired.code, { subject: SUBJECT }));
      expect(error.code).toBe('challenge_expired');
      expect(error.status).toBe(410);

      harness.clock.set(t0);
      const live = await startChallenge(harness);
      harness.clock.set(t0 + 119_000);
      await expect(harness.stepup.verify(live.challengeId, live.code, { subject: SUBJECT })).resolves.toMatchObject({ claims: { sub: SUBJECT } });
    });
  }

  it('R-C2 the view states the expiry: expiresAt = start + ttl', async () => {
    const harness = makeStepUp({ code: { ttl: 90 } });
    const view = await harness.stepup.start({ subject: SUBJECT, phone: '+34612345678', purpose: 'login' });
    expect(Date.parse(view.expiresAt)).toBe(harness.clock() + 90_000);
  });
});

describe('R-C7 constant-time comparison', () => {
  it('R-C7 safeEqual with different lengths returns false and never throws', () => {
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(safeEqual('', 'a')).toBe(false);
    expect(safeEqual('a'.repeat(10_000), 'a')).toBe(false);
    // Same character count, different byte length in UTF-8.
    expect(safeEqual('é', 'e')).toBe(false);
    expect(safeEqual('ée', 'eé')).toBe(false);
  });

  it('R-C7 safeEqual is true only for identical strings', () => {
    expect(safeEqual('', '')).toBe(true);
    expect(safeEqual('p1:abc', 'p1:abc')).toBe(true);
    expect(safeEqual('p1:abc', 'p1:abd')).toBe(false);
  });
});

describe('R-C8 input hygiene', () => {
  it("R-C8 code '12a456' is invalid_code and costs an attempt", async () => {
    const harness = makeStepUp();
    const { challengeId } = await startChallenge(harness);
    const first = await rejection(harness.stepup.verify(challengeId, '12a456', { subject: SUBJECT }));
    expect(first.code).toBe('invalid_code');
    expect(first.status).toBe(400);
    expect(first.details.attemptsLeft).toBe(4);
    const second = await rejection(harness.stepup.verify(challengeId, '12a456', { subject: SUBJECT }));
    expect(second.details.attemptsLeft).toBe(3);
  });

  it('R-C8 a 10 000-character code is invalid_code without a throw of another kind, and costs an attempt', async () => {
    const harness = makeStepUp();
    const { challengeId, code } = await startChallenge(harness);
    for (const huge of ['9'.repeat(10_000), code + '0'.repeat(9_994), code.repeat(2_000)]) {
      const error = await rejection(harness.stepup.verify(challengeId, huge, { subject: SUBJECT }));
      expect(error.code).toBe('invalid_code');
    }
    const last = await rejection(harness.stepup.verify(challengeId, 'x', { subject: SUBJECT }));
    expect(last.details.attemptsLeft).toBe(1);
  });

  it('R-C8 non-string codes (undefined, null, object, array, boolean) are invalid_code and cost an attempt', async () => {
    const harness = makeStepUp({ code: { maxAttempts: 10 } });
    const { challengeId } = await startChallenge(harness);
    let left = 10;
    for (const code of [undefined, null, {}, [], true, { toString: () => '123456' }]) {
      const error = await rejection(harness.stepup.verify(challengeId, code, { subject: SUBJECT }));
      expect(error.code).toBe('invalid_code');
      expect(error.details.attemptsLeft).toBe(--left);
    }
  });

  it('R-C8 surrounding white space is trimmed: the right code with spaces passes', async () => {
    const harness = makeStepUp();
    const { challengeId, code } = await startChallenge(harness);
    await expect(harness.stepup.verify(challengeId, ` ${code}\n`, { subject: SUBJECT })).resolves.toMatchObject({ claims: { cid: challengeId } });
  });

  it('R-C8 a code that only extends the right one (code + digit, or its prefix) is invalid', async () => {
    const harness = makeStepUp();
    const { challengeId, code } = await startChallenge(harness);
    for (const near of [`${code}0`, code.slice(0, 5), `0${code}`]) {
      expect((await rejection(harness.stepup.verify(challengeId, near, { subject: SUBJECT }))).code).toBe('invalid_code');
    }
    await expect(harness.stepup.verify(challengeId, code, { subject: SUBJECT })).resolves.toBeDefined();
  });

  it('a malformed challenge id is challenge_not_found before the store is asked', async () => {
    const store = new MemoryStore();
    let asked = 0;
    const counting = Object.assign(Object.create(store) as MemoryStore, {
      verify: (...args: Parameters<MemoryStore['verify']>) => {
        asked++;
        return store.verify(...args);
      },
    });
    const stepup = createStepUp({ store: counting, channels: [new OutboxChannel()], tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET }, pepper: PEPPER });
    for (const id of ['short', 'x'.repeat(23), '../../etc', '', 'a b'.repeat(8)]) {
      expect((await rejection(stepup.verify(id, '123456', { subject: SUBJECT }))).code).toBe('challenge_not_found');
    }
    expect(asked).toBe(0);
  });
});
