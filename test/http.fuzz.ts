/**
 * Property-based fuzzing of every HTTP route (issue #6), run by http.express.test.ts and
 * http.koa.test.ts against apps built the same way on each adapter: random JSON and raw
 * bodies, content types, ids, identities, step-up tokens, cookies and webhook signatures.
 *
 * Invariants, for every answer: a 4xx (401 for guard refusals, 404 for unknown ids, 413
 * past the body limit), never a 5xx; the JSON error shape of DESIGN §4 (or the guard's
 * problem+json with its one RFC 9470 challenge); no stack, path or internal message.
 * After each property: Object.prototype and friends are unpolluted, nothing reported to
 * `onError`, nothing sent but by the starts that were valid (and answered 201), a live
 * challenge started before the run still has all its attempts and its code verifies,
 * and (guard) a payment token issued before the run still pays once.
 *
 * Runs are few and seeds fixed (SEED): the file stays within ~20 s per adapter on two cores.
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import type { Response, Test } from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { signMetaWebhook } from '../src/testing/index.js';
import { INTERNAL_MESSAGE, WEBHOOK_SECRETS, type HarnessFactory, type HarnessOptions, type HttpHarness } from './support/http-harness.js';
import { createClient, expectError, type Client } from './support/http-client.js';
import { parseWwwAuthenticate } from './support/www-authenticate.js';

const SEED = 0x5eed06;
/** The router's default body limit (8kb). */
const BODY_LIMIT = 8 * 1024;
const WEBHOOK_LIMIT = 1024 * 1024;
const KNOWN_FIELDS = { start: ['purpose', 'channel', 'transaction', 'locale'], verify: ['code'], resend: ['channel'] } as const;
const PAYMENT = { id: 'pay_1', amount: 125.5, currency: 'EUR', payee: 'ES9121000418450200051332' };
const VICTIM = { user: 'carol', session: 'sess-carol' } as const;
const PROTOTYPES = { Object: Object.prototype, Array: Array.prototype, Function: Function.prototype, String: String.prototype };
const LEAK = /\n\s+at |node_modules|\.ts:\d+|Cannot read prop|is not a function|Unexpected token|in JSON at position/;

type Who = { user: string | null; session: string | null };
type Route = 'start' | 'resend' | 'verify';

/** A request body as bytes on the wire, with the headers that say what it is. */
interface RawBody {
  payload: string | Buffer;
  contentType: string | undefined;
  contentEncoding?: string;
  /** Written as chunks without Content-Length. */
  chunked: boolean;
}

// ---------------------------------------------------------------------------------------
// Arbitraries

/** Characters Node accepts in a header value (no controls): Latin-1 text. */
const headerChar = fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c));
const headerValue = (maxLength: number) => fc.string({ unit: headerChar, maxLength });

const UNICODE_DIGITS = ['١٢٣٤٥٦', '۱۲۳۴۵۶', '１２３４５６', '१२३४५६', '𝟏𝟐𝟑𝟒𝟓𝟔', '①②③④⑤⑥', '123456\u0000', '\u200b123456', '１2３4５6', '12345６', '٠٠٠٠٠٠', '+123456', '-123456', '1e5', '0x1E240', '123 456', '１２３４５６７８９０'];
const DANGEROUS_KEYS = ['__proto__', 'constructor', 'prototype', 'polluted', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

const anyString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(...UNICODE_DIGITS),
  fc.integer({ min: 7_000, max: 9_000 }).map((n) => 'x'.repeat(n)),
);
/** A value for a field: any JSON, a suspicious string, or something that tries to pollute. */
const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 3, arbitrary: anyString },
  { weight: 1, arbitrary: fc.constantFrom<unknown>({ polluted: 'yes' }, { prototype: { polluted: 'yes' } }, { __proto__: null, polluted: 'yes' }, [], {}, null, true, 123456, 1e308, -0) },
);
const fieldName = (known: readonly string[]) => fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...known) }, { weight: 2, arbitrary: fc.constantFrom(...DANGEROUS_KEYS) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) });

/** Raw JSON object text from entries, so that keys may repeat and `__proto__` is a plain member. */
function objectText(entries: [string, unknown][]): string {
  return `{${entries.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value) ?? 'null'}`).join(',')}}`;
}

/** A JSON text for a route: its own fields with random values (keys repeated, dangerous keys mixed in), any JSON, or junk. */
function jsonText(route: Route): fc.Arbitrary<string> {
  const known = KNOWN_FIELDS[route];
  const wellTyped = route === 'start'
    ? fc.record({
        purpose: fc.oneof({ weight: 4, arbitrary: fc.constant('login') }, { weight: 3, arbitrary: fc.constantFrom('payment', 'password-reset', 'wire-everything', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'LOGIN', 'login\u0000', ' login') }),
        locale: fc.option(fc.constantFrom('en', 'es', 'pt-BR', 'xx', '', 'e\u0301n'), { nil: undefined, freq: 2 }),
        channel: fc.option(fc.constantFrom('whatsapp', 'sms', 'SMS', '__proto__', 'constructor'), { nil: undefined, freq: 2 }),
        transaction: fc.option(fc.oneof(fc.constant<unknown>(PAYMENT), fc.dictionary(fc.oneof(fc.constantFrom('amount', 'currency', 'payee', ...DANGEROUS_KEYS), fc.string({ maxLength: 8 })), fieldValue, { maxKeys: 4 })), { nil: undefined, freq: 2 }),
      }).map((body) => objectText(Object.entries(body).filter(([, v]) => v !== undefined)))
    : route === 'verify'
      ? fc.constantFrom(...UNICODE_DIGITS, '', ' ', '000000', 'x'.repeat(BODY_LIMIT)).map((code) => objectText([['code', code]]))
      : fc.constantFrom('{}', '{"channel":"sms"}', '{"channel":"carrier-pigeon"}');
  return fc.oneof(
    { weight: 4, arbitrary: fc.array(fc.tuple(fieldName(known), fieldValue), { maxLength: 5 }).map(objectText) },
    { weight: 6, arbitrary: wellTyped },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)) },
    { weight: 1, arbitrary: fc.constantFrom(
      '{"__proto__":{"polluted":"yes"}}',
      '{"constructor":{"prototype":{"polluted":"yes"}}}',
      '{"purpose":"login","purpose":{"__proto__":{"polluted":"yes"}}}',
      '{"code":"123456","code":["123456"]}',
      '{"purpose":"payment","transaction":{"__proto__":{"polluted":"yes"},"amount":"1.00","currency":"EUR","payee":"x"}}',
      '{"purpose":"payment","transaction":{"constructor":{"prototype":{"polluted":"yes"}},"amount":"1.00","currency":"EUR","payee":"x"}}',
      '{"purpose":"payment","transaction":{"amount":"1.00","amount":"1000000.00","currency":"EUR","payee":"x"}}',
    ) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 6_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 2_000 }).map((n) => `{"purpose":"payment","transaction":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
    { weight: 1, arbitrary: fc.constantFrom('', '   ', 'null', '"login"', '123456', '{', '{"purpose":', '[}', '{"a":1}}', '\ufeff{"code":"1"}', '{"code":"1"}\u0000') },
  );
}

const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/json') },
  { weight: 3, arbitrary: fc.constantFrom<string | undefined>(
    'application/json; charset=utf-8', 'APPLICATION/JSON; charset="UTF-8"', 'application/json; charset=latin1', 'application/json;charset=utf-16le',
    'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json-patch+json', 'application/problem+json',
    ' application/json ', 'application/json; foo=bar', 'application/javascript', '*/*', undefined,
  ) },
  { weight: 1, arbitrary: headerValue(40) },
);

/** A request body: JSON text (or junk, or invalid UTF-8 bytes) under some content type, sometimes compressed or chunked. */
function rawBody(route: Route): fc.Arbitrary<RawBody> {
  const invalidUtf8 = fc.uint8Array({ minLength: 1, maxLength: 24 }).map((bytes) => Buffer.concat([Buffer.from(route === 'start' ? '{"purpose":"' : '{"code":"'), Buffer.from([0xc3, 0x28, 0xff, ...bytes]), Buffer.from('"}')]));
  return fc.record({
    payload: fc.oneof({ weight: 8, arbitrary: jsonText(route) as fc.Arbitrary<string | Buffer> }, { weight: 1, arbitrary: invalidUtf8 }),
    contentType,
    contentEncoding: fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom('gzip', 'br', 'identity', 'IDENTITY', 'x-unknown') }),
    chunked: fc.boolean(),
  }, { requiredKeys: ['payload', 'contentType', 'chunked'] });
}

const USERS_ANY = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<string | null>('alice', 'bob', 'carol', 'bad-phone', null) },
  { weight: 1, arbitrary: headerValue(20).filter((user) => user.trim() !== 'explode') },
);
const who: fc.Arbitrary<Who> = fc.record({ user: USERS_ANY, session: fc.oneof(fc.constant<'same'>('same'), fc.constant(null), headerValue(30)) }).map(({ user, session }) => ({
  user,
  session: session === 'same' ? (user === null ? null : `sess-${user}`) : session,
}));

const PATH_PIECES = ['..', '.', '%2e%2e', '%2E', '%2f', '%2F', '%5c', '%00', '%', '%zz', '%E0%A4%A', '%C0%AE', ';', ':', '*', '~', 'é', '١٢٣', '１', '\u202e', "'", '"', '<', '>', '{', '}', '|', '^', '`', '[', ']', '@', '!', '$', '&', '(', ')', '+', ',', '=', 'VERIFY', 'challenges', 'x'.repeat(300)];

/**
 * A raw `:id` path segment and whether the router owns the path it makes: any string
 * percent-encoded, path-traversal and encoding tricks, unicode, very long ids. A segment
 * with a raw `/` is not the router's (the app's own 404 answers it).
 */
const rawId: fc.Arbitrary<{ segment: string; owned: boolean }> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }).filter((s) => s !== '').map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '\ufffd'))) },
  { weight: 3, arbitrary: fc.array(fc.constantFrom(...PATH_PIECES), { minLength: 1, maxLength: 6 }).map((pieces) => pieces.join('')) },
  { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{25,27}$/) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 6_000 }).map((n) => 'A'.repeat(n)) },
  { weight: 1, arbitrary: fc.constantFrom('%ZZ', '..%2f..%2fadmin', '%252e%252e', '%u002e', '%ff%fe', '%F0%9F%98', '%ED%A0%80', '%C0%AF') },
).map((segment) => ({ segment, owned: true as boolean })).chain((id) =>
  fc.oneof({ weight: 9, arbitrary: fc.constant(id) }, { weight: 1, arbitrary: fc.constantFrom('../x/', 'a/b', '/').map((extra) => ({ segment: `${id.segment}${extra}`, owned: false })) }),
);

// ---------------------------------------------------------------------------------------
// What the server may answer, judged from the bytes sent (mirrors DESIGN §4, not the code)

interface BodyFacts {
  /** The router reads it as JSON at all (media type, charset, encoding). */
  readable: boolean;
  /** Refused as 415 by its Content-Type before it is read: not application/json, or a body without a type. */
  unsupportedType: boolean;
  tooLarge: boolean;
  /** The parsed body, when readable, not too large and well-formed. */
  parsed?: unknown;
}

function factsOf(body: RawBody, limit = BODY_LIMIT): BodyFacts {
  const [mediaType = '', ...params] = (body.contentType ?? '').split(';');
  const charset = params.map((param) => param.trim().toLowerCase()).find((param) => param.startsWith('charset='))?.replace(/^charset="?|"$/g, '');
  const readable = mediaType.trim().toLowerCase() === 'application/json' && (charset === undefined || charset === 'utf-8') && (body.contentEncoding ?? 'identity').toLowerCase() === 'identity';
  const bytes = Buffer.from(body.payload);
  const unsupportedType = body.contentType === undefined ? bytes.length > 0 : mediaType.trim().toLowerCase() !== 'application/json';
  const tooLarge = readable && bytes.length > limit;
  if (!readable || tooLarge) return { readable, unsupportedType, tooLarge };
  const text = new TextDecoder('utf-8').decode(bytes);
  if (text === '') return { readable, unsupportedType, tooLarge, parsed: {} };
  try {
    return /^[\x20\x09\x0a\x0d]*[{[]/.test(text) ? { readable, unsupportedType, tooLarge, parsed: JSON.parse(text) } : { readable, unsupportedType, tooLarge };
  } catch {
    return { readable, unsupportedType, tooLarge };
  }
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const onlyKnown = (value: Record<string, unknown>, known: readonly string[]) => Object.keys(value).every((key) => known.includes(key));

function decodes(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** Status 4xx, the JSON error shape, no-store, nothing internal in it. */
function expectJsonError(res: Response, where: string): void {
  const context = `${where} → ${res.status} ${(res.text ?? '').slice(0, 300)}`;
  expect(res.status, context).toBeGreaterThanOrEqual(400);
  expect(res.status, context).toBeLessThan(500);
  expect(res.headers['content-type'], context).toMatch(/^application\/json/);
  expect(res.headers['cache-control'], context).toBe('no-store');
  expect(Object.keys(res.body ?? {}), context).toEqual(['error']);
  expect(typeof res.body.error.code, context).toBe('string');
  expect(typeof res.body.error.message, context).toBe('string');
  expect(res.body.error.message.length, context).toBeGreaterThan(0);
  expectNothingInternal(res, context);
}

function expectNothingInternal(res: Response, context: string): void {
  expect(res.text ?? '', context).not.toMatch(LEAK);
  expect(res.text ?? '', context).not.toContain(INTERNAL_MESSAGE);
}

/** The guard's refusal: 401, one parsable challenge of the route's scheme, problem+json with `step_up_required`. */
function expectGuardRefusal(res: Response, scheme: string, where: string): void {
  const context = `${where} → ${res.status} ${(res.text ?? '').slice(0, 300)}`;
  expect(res.status, context).toBe(401);
  const challenges = parseWwwAuthenticate(res.headers['www-authenticate'] as string);
  expect(challenges, context).toHaveLength(1);
  expect(challenges[0]!.scheme, context).toBe(scheme);
  expect(['invalid_token', 'insufficient_user_authentication'], context).toContain(challenges[0]!.params.error);
  expect(res.headers['content-type'], context).toMatch(/^application\/problem\+json/);
  expect(res.headers['cache-control'], context).toBe('no-store');
  expect(res.body.status, context).toBe(401);
  expect(res.body.error.code, context).toBe('step_up_required');
  expect(typeof res.body.error.message, context).toBe('string');
  expectNothingInternal(res, context);
}

/** The app's own 404 for a path the router does not own (Express and Koa word it differently). */
function expectAppNotFound(res: Response, where: string): void {
  expect(res.status, `${where} → ${res.status} ${res.text}`).toBe(404);
  expect(res.body?.error?.code, where).toBeUndefined();
}

// ---------------------------------------------------------------------------------------
// Requests

function identify(test: Test, person: Who): Test {
  if (person.user !== null) test.set('X-Test-User', person.user);
  if (person.session !== null) test.set('X-Test-Session', person.session);
  return test;
}

function withBody(test: Test, body: RawBody): Test {
  if (body.contentType !== undefined) test.set('Content-Type', body.contentType);
  if (body.contentEncoding !== undefined) test.set('Content-Encoding', body.contentEncoding);
  // Written as bytes (supertest's send() would serialize a Buffer as JSON): with a Content-Length, or chunked without one.
  const bytes = Buffer.from(body.payload);
  if (!body.chunked) test.set('Content-Length', String(bytes.length));
  for (let at = 0; at < bytes.length; at += 4096) test.write(bytes.subarray(at, at + 4096));
  return test;
}

/** A signed HS256 JWS over any header and payload JSON text, with the service's own key: only its claims can be wrong. */
function signJws(secret: Buffer, header: unknown, payload: string): string {
  const head = Buffer.from(JSON.stringify(header)).toString('base64url');
  const body = Buffer.from(payload).toString('base64url');
  return `${head}.${body}.${createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url')}`;
}

const snapshotPrototypes = () => Object.fromEntries(Object.entries(PROTOTYPES).map(([name, proto]) => [name, Reflect.ownKeys(proto).map(String).sort()]));

function expectUnpolluted(before: ReturnType<typeof snapshotPrototypes>): void {
  expect(snapshotPrototypes()).toEqual(before);
  const probe = {} as Record<string, unknown>;
  expect(probe.polluted).toBeUndefined();
  expect(([] as unknown as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.getPrototypeOf(probe)).toBe(Object.prototype);
}

// ---------------------------------------------------------------------------------------

interface Fixture {
  h: HttpHarness;
  api: Client;
  victim: { challengeId: string; code: string };
  /** Messages sent before the run, and by the runs' valid starts. */
  sent: { before: number; started: number };
  prototypes: ReturnType<typeof snapshotPrototypes>;
}

export function defineFuzzScenarios(adapter: string, factory: HarnessFactory): void {
  describe(`${adapter} HTTP fuzz (issue #6): random requests get a 4xx JSON error and change nothing`, () => {
    let fx: Fixture | undefined;
    const sentCount = (h: HttpHarness) => h.outbox.messages().length + h.sms.messages().length;

    const setup = async (options: Partial<HarnessOptions> = {}): Promise<Fixture> => {
      const h = await factory({ store: 'redis', ...options });
      const api = createClient(h);
      const started = await api.start({ purpose: 'login' }, VICTIM);
      expect(started.status, started.text).toBe(201);
      const challengeId = started.body.challengeId as string;
      fx = { h, api, victim: { challengeId, code: api.codeOf(challengeId) }, sent: { before: sentCount(h), started: 0 }, prototypes: snapshotPrototypes() };
      return fx;
    };

    /** The state every property must leave: see the file comment. Spends the victim challenge. */
    const expectUntouched = async ({ h, api, victim, sent, prototypes }: Fixture): Promise<void> => {
      expectUnpolluted(prototypes);
      expect(h.errors).toEqual([]);
      expect(sentCount(h)).toBe(sent.before + sent.started);
      const wrong = victim.code === '000000' ? '111111' : '000000';
      expect(expectError(await api.verify(victim.challengeId, wrong, VICTIM), 400, 'invalid_code').attemptsLeft).toBe(4);
      const verified = await api.verify(victim.challengeId, victim.code, VICTIM);
      expect(verified.status, verified.text).toBe(200);
      api.assertNothingLeaked();
    };

    beforeEach(() => {
      fx = undefined;
    });
    afterEach(async () => {
      await fx?.h.close();
    });

    it('POST /challenges: random bodies, content types and users → 4xx JSON error; 201 only for a known purpose, and only those send', { timeout: 60_000 }, async () => {
      const f = await setup();
      await fc.assert(
        fc.asyncProperty(rawBody('start'), who, fc.constantFrom('/stepup/challenges', '/stepup/CHALLENGES/', '/stepup/challenges/'), async (body, person, path) => {
          const res = await f.api.send(withBody(identify(f.api.http().post(path), person), body));
          const facts = factsOf(body);
          const where = `start ${JSON.stringify(person)} ${body.contentType} ${body.contentEncoding ?? ''} ${String(body.payload).slice(0, 120)}`;
          if (res.status === 201) {
            // A valid start: a known purpose in a well-formed body, for a user with a valid number on file.
            const parsed = facts.parsed;
            expect(isPlainObject(parsed) && onlyKnown(parsed, KNOWN_FIELDS.start) && typeof parsed.purpose === 'string' && f.h.stepup.purpose(parsed.purpose) !== undefined, where).toBe(true);
            expect(['alice', 'bob', 'carol'], where).toContain(person.user);
            expect(typeof res.body.challengeId, where).toBe('string');
            f.sent.started++;
            return;
          }
          expectJsonError(res, where);
          // A body that is not JSON by its Content-Type is refused before anything else is judged.
          if (facts.unsupportedType) expect(res.body.error.code, where).toBe('unsupported_media_type');
          else expect(res.status, where).not.toBe(415);
          if (facts.tooLarge) expect(res.body.error.code, where).toBe('request_too_large');
          else expect(res.status, where).not.toBe(413);
          expect(['invalid_request', 'unauthenticated', 'request_too_large', 'rate_limited', 'unsupported_media_type'], where).toContain(res.body.error.code);
        }),
        { seed: SEED, numRuns: 200 },
      );
      await expectUntouched(f);
    });

    it('POST /challenges/:id/verify and /resend: random ids and bodies → 404 for unknown ids, 4xx JSON error for all, the live challenge keeps its attempts', { timeout: 60_000 }, async () => {
      const f = await setup();
      const { challengeId } = f.victim;
      // The live challenge's id as is, percent-encoded throughout, and in other case: the router must treat each exactly as the id it decodes to.
      const victimId = fc.constantFrom(challengeId, [...challengeId].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).join(''), challengeId.toLowerCase(), `${challengeId}%20`).map((segment) => ({ segment, owned: true }));
      const request = fc.record({
        route: fc.constantFrom<Route>('verify', 'resend'),
        id: fc.oneof({ weight: 3, arbitrary: rawId }, { weight: 2, arbitrary: victimId }),
        person: fc.oneof({ weight: 1, arbitrary: who }, { weight: 1, arbitrary: fc.constant<Who>({ ...VICTIM }) }),
        upper: fc.boolean(),
      }).chain((r) => rawBody(r.route).map((body) => ({ ...r, body })));
      await fc.assert(
        fc.asyncProperty(request, async ({ route, id, person, upper, body }) => {
          const facts = factsOf(body);
          const decoded = decodes(id.segment);
          const live = decoded === challengeId && person.user === VICTIM.user && person.session === VICTIM.session;
          // A well-formed verify of the live challenge by its owner is a real attempt (R-C8 counts it): not a refused request.
          const attempt = route === 'verify' && isPlainObject(facts.parsed) && onlyKnown(facts.parsed, ['code']) && typeof facts.parsed.code === 'string';
          fc.pre(!(live && attempt));
          const path = `/stepup/challenges/${id.segment}/${upper ? route.toUpperCase() : route}`;
          const res = await f.api.send(withBody(identify(f.api.http().post(path), person), body));
          const where = `${route} ${path.slice(0, 200)} ${JSON.stringify(person)} ${body.contentType} ${body.contentEncoding ?? ''} ${String(body.payload).slice(0, 120)}`;
          if (!id.owned) {
            expectAppNotFound(res, where);
            return;
          }
          expectJsonError(res, where);
          if (decoded === undefined) {
            // Not valid percent-encoding: no id at all, answered before the body is read.
            expect(res.body.error.code, where).toBe('challenge_not_found');
          } else if (facts.unsupportedType) {
            // Not JSON by its Content-Type: refused before the body, the user or the challenge is looked at.
            expect(res.body.error.code, where).toBe('unsupported_media_type');
          } else if (facts.tooLarge) {
            expect(res.body.error.code, where).toBe('request_too_large');
          } else if (live) {
            // The owner's refused requests: a bad body, or a resend within the cooldown.
            expect(['invalid_request', 'rate_limited'], where).toContain(res.body.error.code);
          } else {
            // Nobody else's request ever reaches a challenge: not its attempts, not its sends.
            expect(['invalid_request', 'unauthenticated', 'challenge_not_found'], where).toContain(res.body.error.code);
            // A well-formed request of a signed-in user for an id that names no challenge of theirs: 404.
            const wellFormed = route === 'verify' ? attempt : isPlainObject(facts.parsed) && Object.keys(facts.parsed).length === 0;
            const signedIn = ['alice', 'bob', 'carol'].includes(person.user ?? '') && (person.session === null || person.session === `sess-${person.user}`);
            if (wellFormed && signedIn) expect(res.body.error.code, where).toBe('challenge_not_found');
          }
        }),
        { seed: SEED, numRuns: 300 },
      );
      await expectUntouched(f);
    });

    it('codes: the right code in other digits (Arabic-Indic, fullwidth, Devanagari, mathematical...), with invisible marks or not a string never verifies; each string costs one attempt, the right code still works', { timeout: 60_000 }, async () => {
      const f = await setup();
      const { api } = f;
      const digits = (code: string, zero: number) => [...code].map((d) => String.fromCodePoint(zero + Number(d))).join('');
      const forms: Record<string, (code: string) => unknown> = {
        arabicIndic: (code) => digits(code, 0x0660),
        extendedArabicIndic: (code) => digits(code, 0x06f0),
        devanagari: (code) => digits(code, 0x0966),
        bengali: (code) => digits(code, 0x09e6),
        thai: (code) => digits(code, 0x0e50),
        fullwidth: (code) => digits(code, 0xff10),
        mathBold: (code) => digits(code, 0x1d7ce),
        oneFullwidth: (code) => `${digits(code[0]!, 0xff10)}${code.slice(1)}`,
        zeroWidth: (code) => `${code.slice(0, 3)}\u200b${code.slice(3)}`,
        nul: (code) => `${code}\u0000`,
        combining: (code) => `${code}\u0301`,
        longer: (code) => `${code}0`,
        shorter: (code) => code.slice(1),
        signed: (code) => `+${code}`,
        // Not strings: refused by the router before the core, so they cost nothing.
        number: (code) => Number(code),
        array: (code) => [code],
        object: (code) => ({ $ne: null, code }),
        proto: (code) => JSON.parse(`{"__proto__":{"code":"${code}"}}`),
      };
      await fc.assert(
        fc.asyncProperty(fc.array(fc.constantFrom(...Object.keys(forms)), { minLength: 1, maxLength: 4 }), async (names) => {
          const started = await api.start({ purpose: 'login' });
          expect(started.status, started.text).toBe(201);
          f.sent.started++;
          const challengeId = started.body.challengeId as string;
          const code = api.codeOf(challengeId);
          let left = 5;
          for (const name of names) {
            const res = await api.verify(challengeId, forms[name]!(code));
            const where = `${name} of ${code}`;
            expectJsonError(res, where);
            if (typeof forms[name]!(code) === 'string') {
              expect(res.body.error.code, where).toBe('invalid_code');
              expect(res.body.error.attemptsLeft, where).toBe(--left);
            } else {
              expect(res.body.error.code, where).toBe('invalid_request');
            }
          }
          const verified = await api.verify(challengeId, code);
          expect(verified.status, verified.text).toBe(200);
        }),
        { seed: SEED, numRuns: 30 },
      );
      await expectUntouched(f);
    });

    it('guarded routes: random Step-Up-Token headers, cookies, Authorization, forged and alg-none JWTs → 401 problem+json; a token issued before still pays once', { timeout: 60_000 }, async () => {
      const f = await setup();
      const { h, api } = f;
      const paid = await api.stepUp({ purpose: 'payment', transaction: PAYMENT });
      f.sent.before = sentCount(h);
      const real = paid.token;
      const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
      const baseClaims = { ...paid.claims } as Record<string, unknown>;
      delete baseClaims.sbh;
      const claimValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom<unknown>(...UNICODE_DIGITS, 'payment', 'login', { polluted: 'yes' }, { prototype: { polluted: 'yes' } }, [], {}, null, 1e308, -1, 2 ** 53));
      const claims = fc.oneof(
        // The real claims with fields replaced (never a valid token: no `sbh`, or a broken one).
        { weight: 4, arbitrary: fc.array(fc.tuple(fc.constantFrom('iss', 'aud', 'sub', 'purpose', 'exp', 'iat', 'auth_time', 'jti', 'acr', 'amr', 'txn', 'sbh', 'cid', 'chn', 'nbf', ...DANGEROUS_KEYS), claimValue), { minLength: 1, maxLength: 4 })
          .map((changes) => objectText([...Object.entries(baseClaims), ...changes])) },
        // Well-formed claims that differ in meaning: another user, purpose, method, age, transaction or session.
        // (No `password-reset` purpose: the from-token route would rightly take such a token.)
        { weight: 4, arbitrary: fc.record({
          sub: fc.constantFrom('alice', 'bob', 'alice\u0000', 'ALICE', '__proto__', 'constructor'),
          purpose: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('login', 'payment') }, { weight: 1, arbitrary: fc.constantFrom('LOGIN', 'password-reset\u0000', '__proto__') }),
          auth_time: fc.constantFrom(paid.claims.auth_time, paid.claims.auth_time - 301, paid.claims.auth_time + 3_600, 0),
          acr: fc.constantFrom(paid.claims.acr, 'urn:whatsapp-stepup:acr:oob-sms', 'phr', 'urn:whatsapp-stepup:acr:OOB-WHATSAPP'),
          amr: fc.constantFrom<unknown>(paid.claims.amr, ['sms'], ['otp', '__proto__']),
          txn: fc.option(fc.constantFrom(paid.claims.txn, 'x', b64('{}')), { nil: undefined }),
          sbh: fc.option(fc.constantFrom('x', b64('sess-alice'), 'constructor'), { nil: undefined }),
        }, { requiredKeys: [] }).map((changes) => JSON.stringify({ ...baseClaims, ...changes })) },
        { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)) },
        { weight: 1, arbitrary: fc.constantFrom('{"__proto__":{"polluted":"yes"}}', '{"constructor":{"prototype":{"polluted":"yes"}}}', 'not json', '', '[]', 'null') },
      );
      const header = fc.oneof(
        { weight: 6, arbitrary: fc.constant<unknown>({ alg: 'HS256', typ: h.tokens.type, kid: h.tokens.keyId }) },
        { weight: 2, arbitrary: fc.constantFrom<unknown>({ alg: 'HS256', typ: 'JWT', kid: h.tokens.keyId }, { alg: 'HS256', typ: h.tokens.type }, { alg: 'HS256', typ: h.tokens.type, kid: '__proto__' }, { alg: 'HS256', typ: h.tokens.type, kid: 'constructor' }, { alg: 'HS512', typ: h.tokens.type, kid: h.tokens.keyId }, { alg: 'HS256', typ: h.tokens.type, kid: h.tokens.keyId, crit: ['exp'] }) },
        { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
      );
      const token = fc.oneof(
        { weight: 2, arbitrary: headerValue(200) },
        { weight: 1, arbitrary: fc.integer({ min: 4_000, max: 4_200 }).map((n) => 'e'.repeat(n)) },
        { weight: 2, arbitrary: fc.tuple(fc.jsonValue({ maxDepth: 2 }), fc.jsonValue({ maxDepth: 3 }), fc.base64String({ maxLength: 60 })).map(([head, body, sig]) => `${b64(head)}.${b64(body)}.${sig.replace(/=+$/, '')}`) },
        // alg none, in any spelling, with the real claims or random ones.
        { weight: 2, arbitrary: fc.tuple(fc.constantFrom('none', 'None', 'NONE', 'nOnE', 'HS256'), fc.oneof(fc.constant(JSON.stringify(paid.claims)), claims), fc.constantFrom('', 'x', real.split('.')[2]!)).map(([alg, body, sig]) => `${b64({ alg, typ: h.tokens.type, kid: h.tokens.keyId })}.${b64(body)}.${sig}`) },
        // Signed with the service's key: only the claims (or header) are wrong.
        { weight: 5, arbitrary: fc.tuple(header, claims).map(([head, body]) => signJws(h.tokens.secret, head, body)) },
        // The real token, altered: a character changed, cut, extended, its case or its parts swapped.
        { weight: 2, arbitrary: fc.tuple(fc.nat({ max: real.length - 1 }), headerChar, fc.constantFrom('change', 'cut', 'extend', 'case', 'swap', 'spaces')).map(([at, char, how]) => {
          const [p0, p1, p2] = real.split('.');
          if (how === 'cut') return real.slice(0, at);
          if (how === 'extend') return `${real}${char}`;
          if (how === 'case') return real.toUpperCase();
          if (how === 'swap') return `${p1}.${p0}.${p2}`;
          if (how === 'spaces') return `${real.slice(0, at)} ${real.slice(at)}`;
          return real[at] === char ? `${real.slice(0, at)}${char === 'A' ? 'B' : 'A'}${real.slice(at + 1)}` : `${real.slice(0, at)}${char}${real.slice(at + 1)}`;
        }) },
      ).filter((candidate) => candidate !== real && candidate.trim() !== real);
      const placement = fc.record({
        header: fc.option(token, { nil: undefined }),
        cookie: fc.option(fc.oneof(token.map((t) => `stepup=${t}`), token.map((t) => `stepup="${t}"; other=1`), token.map((t) => `a=b; stepup=${encodeURIComponent(t)}`), headerValue(100), fc.constantFrom('stepup=%ZZ', 'stepup=', '=stepup', 'stepup=%E0%A4%A', '__proto__=x; stepup=')), { nil: undefined }),
        authorization: fc.option(fc.oneof(token.map((t) => `Bearer ${t}`), token, fc.constant(`Bearer ${real}`)), { nil: undefined }),
      // Below Node's 16 KB header limit: a larger request never reaches the app (Node answers 431 itself).
      }).filter((place) => (place.header ?? '').length + (place.cookie ?? '').length + (place.authorization ?? '').length < 13_000);
      const routes = [
        { method: 'get', path: '/account/secure', scheme: 'Bearer' },
        { method: 'get', path: '/account/profile', scheme: 'Bearer' },
        { method: 'post', path: '/payments', scheme: 'Bearer' },
        { method: 'post', path: '/password-reset', scheme: 'Bearer' },
        { method: 'get', path: '/cookie/secure', scheme: 'StepUp' },
      ] as const;
      const paymentBody = fc.oneof(fc.constant<Record<string, unknown>>(PAYMENT), fc.dictionary(fc.oneof(fc.constantFrom('amount', 'currency', 'payee', ...DANGEROUS_KEYS), fc.string({ maxLength: 8 })), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }));
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...routes), placement, who, paymentBody, async (route, place, person, body) => {
          // The cookie route reads only its cookie; every other route only Step-Up-Token: the real token in another place is no token.
          const test = identify(route.method === 'get' ? api.http().get(route.path) : api.http().post(route.path), person);
          if (place.header !== undefined) test.set('Step-Up-Token', place.header);
          if (place.cookie !== undefined) test.set('Cookie', place.cookie);
          if (place.authorization !== undefined) test.set('Authorization', place.authorization);
          const res = await api.send(route.method === 'post' ? test.send(body) : test);
          expectGuardRefusal(res, route.scheme, `${route.path} ${JSON.stringify(person)} ${JSON.stringify(place).slice(0, 300)}`);
        }),
        { seed: SEED, numRuns: 300 },
      );
      // The refused requests burnt nothing: the one-time token issued before the run pays, once.
      const paidNow = await api.post('/payments', PAYMENT, real);
      expect(paidNow.status, paidNow.text).toBe(200);
      expect((await api.post('/payments', PAYMENT, real)).status).toBe(401);
      await expectUntouched(f);
    });

    it('webhooks: random bodies, content types and signatures → 401 invalid_signature (413 past 1 MB); signed random statuses → 200 and nothing sent', { timeout: 60_000 }, async () => {
      const f = await setup({ channels: 'providers', webhooks: true });
      const { api, h } = f;
      const providers = h.providers!;
      const before = { meta: providers.meta.requests.length, twilio: providers.twilio.messages.length };
      const wamid = fc.stringMatching(/^[A-Za-z0-9_=+/.-]{8,60}$/).map((s) => `wamid.${s}`);
      const metaStatus = fc.record({
        id: fc.oneof(wamid, fc.jsonValue({ maxDepth: 1 })),
        status: fc.oneof(fc.constantFrom('sent', 'delivered', 'read', 'failed', 'deleted', '__proto__'), fc.jsonValue({ maxDepth: 1 })),
        timestamp: fc.oneof(fc.integer({ min: 0, max: 2 ** 40 }).map(String), fc.jsonValue({ maxDepth: 1 })),
        errors: fc.oneof(fc.array(fc.record({ code: fc.oneof(fc.constantFrom(131026, 131047, 63003, 0, -1, 1.5), fc.jsonValue({ maxDepth: 1 })) }), { maxLength: 3 }), fc.jsonValue({ maxDepth: 2 })),
      });
      const metaPayload = fc.oneof(
        fc.array(metaStatus, { maxLength: 3 }).map((statuses) => JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', statuses } }] }] })),
        fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)),
        fc.constantFrom('{"__proto__":{"polluted":"yes"}}', '{"object":"whatsapp_business_account","entry":{"__proto__":{"polluted":"yes"}}}', '{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"statuses":[{"id":"wamid.x","status":"failed","constructor":{"prototype":{"polluted":"yes"}}}]}}]}]}', '', 'not json', '{"object":'),
        fc.integer({ min: 1, max: 6_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
      );
      const twilioParams = fc.tuple(
        fc.record({
          MessageSid: fc.oneof(fc.stringMatching(/^[0-9a-f]{32}$/).map((hex) => `SM${hex}`), fc.string({ maxLength: 40 })),
          MessageStatus: fc.oneof(fc.constantFrom('queued', 'sent', 'delivered', 'undelivered', 'failed', 'read', '__proto__', 'constructor', 'toString'), fc.string({ maxLength: 12 })),
          ErrorCode: fc.oneof(fc.constantFrom('63003', '30008', '0', '-1', '1e3', '99999999', ''), fc.string({ maxLength: 8 })),
        }, { requiredKeys: [] }),
        fc.dictionary(fc.oneof(fc.constantFrom(...DANGEROUS_KEYS), fc.string({ maxLength: 10 })), fc.string({ unit: 'binary', maxLength: 20 }), { maxKeys: 4 }),
      ).map(([known, extra]) => ({ ...extra, ...known }) as Record<string, string>);
      /** How an unsigned request's signature header is made: left out, random, or the right one altered. */
      const forgery = fc.oneof(
        fc.constant<{ how: 'none' | 'upper' | 'append' | 'truncate' | 'flip' | 'other-body' } | { how: 'random'; value: string }>({ how: 'none' }),
        headerValue(120).map((value) => ({ how: 'random' as const, value })),
        fc.stringMatching(/^[0-9a-f]{64}$/).map((hex) => ({ how: 'random' as const, value: `sha256=${hex}` })),
        fc.stringMatching(/^[A-Za-z0-9+/]{27}$/).map((b64) => ({ how: 'random' as const, value: `${b64}=` })),
        fc.constantFrom('sha256=', 'sha1=00', `sha256=${'z'.repeat(64)}`, '=').map((value) => ({ how: 'random' as const, value })),
        fc.constantFrom('upper', 'append', 'truncate', 'flip', 'other-body').map((how) => ({ how })),
      );
      const forge = (forged: { how: string; value?: string }, valid: string, signOther: () => string): string | null => {
        if (forged.how === 'none') return null;
        if (forged.how === 'random') return forged.value!;
        if (forged.how === 'upper') return valid.toUpperCase();
        if (forged.how === 'append') return `${valid}x`;
        if (forged.how === 'truncate') return valid.slice(0, -1);
        if (forged.how === 'other-body') return signOther();
        // Another value at one position (Meta's hex is case-insensitive, so a digit of another value).
        const at = 10;
        const char = valid[at]!;
        const other = /[0-9a-f]/i.test(char) && valid.startsWith('sha256=') ? ((parseInt(char, 16) + 1) % 16).toString(16) : char === 'A' ? 'B' : 'A';
        return `${valid.slice(0, at)}${other}${valid.slice(at + 1)}`;
      };
      const request = fc.oneof(
        fc.record({ kind: fc.constant('meta' as const), payload: fc.oneof({ weight: 6, arbitrary: metaPayload as fc.Arbitrary<string | Buffer> }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)) }, { weight: 1, arbitrary: fc.constantFrom(Buffer.alloc(WEBHOOK_LIMIT + 1, 0x20), Buffer.from('{}')) }), signed: fc.boolean(), forged: forgery, contentType, chunked: fc.boolean() }),
        fc.record({ kind: fc.constant('twilio' as const), params: twilioParams, signed: fc.boolean(), forged: forgery, contentType, chunked: fc.boolean() }),
        fc.record({ kind: fc.constant('handshake' as const), mode: fc.oneof(fc.constant('subscribe'), fc.string({ maxLength: 12 })), verifyToken: fc.oneof(fc.constant(WEBHOOK_SECRETS.verifyToken), fc.string({ maxLength: 30 })), challenge: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/), fc.string({ unit: 'binary', maxLength: 40 }), fc.constant('<script>alert(1)</script>'), fc.constant('9'.repeat(300))) }),
      );
      let applied = 0;
      await fc.assert(
        fc.asyncProperty(request, async (r) => {
          if (r.kind === 'handshake') {
            const query = new URLSearchParams({ 'hub.mode': r.mode, 'hub.verify_token': r.verifyToken, 'hub.challenge': r.challenge }).toString();
            const res = await api.send(api.http().get(`/stepup/webhooks/whatsapp?${query}`));
            const where = `handshake ${query.slice(0, 200)}`;
            if (r.mode === 'subscribe' && r.verifyToken === WEBHOOK_SECRETS.verifyToken && /^[A-Za-z0-9_-]{1,256}$/.test(r.challenge)) {
              expect(res.status, where).toBe(200);
              expect(res.text, where).toBe(r.challenge);
            } else {
              expectJsonError(res, where);
              expect(res.status, where).toBe(403);
            }
            return;
          }
          const raw = r.kind === 'meta' ? Buffer.from(r.payload) : Buffer.from(new URLSearchParams(r.params).toString());
          const valid = r.kind === 'meta' ? signMetaWebhook(raw, WEBHOOK_SECRETS.appSecret) : providers.twilio.sign(WEBHOOK_SECRETS.twilioUrl, Object.fromEntries(new URLSearchParams(raw.toString('utf8'))));
          const signOther = () => (r.kind === 'meta' ? signMetaWebhook(Buffer.concat([raw, Buffer.from(' ')]), WEBHOOK_SECRETS.appSecret) : providers.twilio.sign(`${WEBHOOK_SECRETS.twilioUrl}x`, Object.fromEntries(new URLSearchParams(raw.toString('utf8')))));
          const forged = forge(r.forged, valid, signOther);
          fc.pre(r.signed || forged !== valid);
          const sig = r.signed ? valid : forged;
          const path = r.kind === 'meta' ? '/stepup/webhooks/whatsapp' : '/stepup/webhooks/twilio';
          const test = api.http().post(path);
          if (sig !== null) test.set(r.kind === 'meta' ? 'X-Hub-Signature-256' : 'X-Twilio-Signature', sig);
          const res = await api.send(withBody(test, { payload: raw, contentType: r.contentType, chunked: r.chunked }));
          const where = `${r.kind} signed=${r.signed} sig=${String(sig).slice(0, 80)} ${r.contentType} ${raw.toString('utf8').slice(0, 200)}`;
          if (raw.length > WEBHOOK_LIMIT) {
            expectJsonError(res, where);
            expect(res.body.error.code, where).toBe('request_too_large');
            return;
          }
          if (r.signed) {
            // Believed, and about messages we never sent: acknowledged, nothing applied to anyone's challenge.
            expect(res.status, `${where} → ${res.status} ${res.text}`).toBe(200);
            expect(typeof res.body.received, where).toBe('number');
            applied += res.body.received as number;
            return;
          }
          expectJsonError(res, where);
          expect(res.status, where).toBe(401);
          expect(res.body.error.code, where).toBe('invalid_signature');
        }),
        { seed: SEED, numRuns: 150 },
      );
      expect(applied).toBeGreaterThan(0);
      expect(providers.meta.requests.length).toBe(before.meta);
      expect(providers.twilio.messages.length).toBe(before.twilio);
      expect(providers.meta.problems()).toEqual([]);
      expect(providers.twilio.violations).toEqual([]);
      await expectUntouched(f);
    });
  });
}
