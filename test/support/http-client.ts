/**
 * HTTP helpers for the scenario suite: every request goes through supertest to a
 * listening test app, whichever framework built it. Every response is kept, so that
 * a suite can check afterwards that no body leaked a code, a number or a stack.
 */
import { randomBytes } from 'node:crypto';
import jwt from 'jsonwebtoken';
import request, { type Response, type Test } from 'supertest';
import { expect } from 'vitest';
import type { StepUpClaims } from '../../src/index.js';
import { INTERNAL_MESSAGE, USERS, type HttpHarness } from './http-harness.js';
import { parseWwwAuthenticate, type AuthChallenge } from './www-authenticate.js';

/** Who sends a request: `X-Test-User` and `X-Test-Session`; `null` leaves a header out. */
export interface Who {
  user?: string | null;
  /** Default `sess-<user>`. */
  session?: string | null;
}

export interface SteppedUp {
  token: string;
  claims: StepUpClaims;
  challengeId: string;
  code: string;
}

export type Client = ReturnType<typeof createClient>;

export function createClient(h: HttpHarness) {
  const seen: Response[] = [];
  const record = async (test: Test): Promise<Response> => {
    const res = await test;
    seen.push(res);
    return res;
  };
  const identify = (test: Test, who: Who = {}): Test => {
    const user = who.user === undefined ? 'alice' : who.user;
    const session = who.session === undefined ? (user === null ? null : `sess-${user}`) : who.session;
    if (user !== null) test.set('X-Test-User', user);
    if (session !== null) test.set('X-Test-Session', session);
    return test;
  };
  const http = () => request(h.server);

  const api = {
    responses: seen,
    http,
    /** Sends any supertest request and records its response. */
    send: (test: Test) => record(test),
    start: (body: unknown, who?: Who) => record(identify(http().post('/stepup/challenges'), who).send(body as object)),
    resend: (challengeId: string, body: unknown = {}, who?: Who) =>
      record(identify(http().post(`/stepup/challenges/${encodeURIComponent(challengeId)}/resend`), who).send(body as object)),
    verify: (challengeId: string, code: unknown, who?: Who) =>
      record(identify(http().post(`/stepup/challenges/${encodeURIComponent(challengeId)}/verify`), who).send({ code })),
    /** A guarded request; `token` goes in the `Step-Up-Token` header. */
    get: (path: string, token?: string, who?: Who) => {
      const test = identify(http().get(path), who);
      if (token !== undefined) test.set('Step-Up-Token', token);
      return record(test);
    },
    post: (path: string, body: unknown, token?: string, who?: Who) => {
      const test = identify(http().post(path), who);
      if (token !== undefined) test.set('Step-Up-Token', token);
      return record(test.send(body as object));
    },
    /** The latest code sent for a challenge, on any channel. */
    codeOf: (challengeId: string): string => {
      const sent = [...h.outbox.messages(), ...h.sms.messages()]
        .filter((message) => message.challengeId === challengeId)
        .sort((a, b) => a.sentAt.localeCompare(b.sentAt));
      const last = sent.at(-1);
      if (!last) throw new Error(`no code was sent for challenge ${challengeId}`);
      return last.code;
    },
    /** Start, read the code from the outbox, verify: a token for `body.purpose`. */
    stepUp: async (body: Record<string, unknown>, who?: Who): Promise<SteppedUp> => {
      const started = await api.start(body, who);
      expect(started.status, started.text).toBe(201);
      const challengeId = started.body.challengeId as string;
      const code = api.codeOf(challengeId);
      const verified = await api.verify(challengeId, code, who);
      expect(verified.status, verified.text).toBe(200);
      const token = verified.body.token as string;
      return { token, claims: decodeClaims(token), challengeId, code };
    },
    /** No response so far carried a code, a full phone number, an internal message or a stack. */
    assertNothingLeaked: () => {
      const codes = [...h.outbox.messages(), ...h.sms.messages()].map((message) => message.code);
      for (const res of seen) {
        const text = res.text ?? '';
        const where = `${res.status} ${text.slice(0, 200)}`;
        expect(text, where).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
        expect(text, where).not.toContain(INTERNAL_MESSAGE);
        for (const { phone } of Object.values(USERS)) {
          const digits = phone.replace(/\D/g, '');
          // Valid numbers only: the short invalid one could match by chance inside a token.
          if (digits.length >= 11) expect(text, where).not.toContain(digits.slice(2));
        }
        for (const code of codes) expect(text, where).not.toContain(`"${code}"`);
      }
    },
  };
  return api;
}

export function decodeClaims(token: string): StepUpClaims {
  const claims = jwt.decode(token);
  if (!claims || typeof claims !== 'object') throw new Error('not a JWT');
  return claims as unknown as StepUpClaims;
}

export function randomChallengeId(): string {
  return randomBytes(16).toString('base64url');
}

/** Signs claims like the service does, with deliberate deviations, for tokens the guard must refuse. */
export function forgeToken(
  h: HttpHarness,
  claims: Record<string, unknown>,
  options: { secret?: Buffer; header?: Record<string, unknown> } = {},
): string {
  return jwt.sign(claims, options.secret ?? h.tokens.secret, {
    algorithm: 'HS256',
    header: { alg: 'HS256', typ: h.tokens.type, kid: h.tokens.keyId, ...options.header },
  });
}

/** An unsigned `alg: none` token. */
export function unsignedToken(claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'none', typ: 'stepup+jwt' }): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part(header)}.${part(claims)}.`;
}

/** The error shape of DESIGN §4: `{ error: { code, message, ...details } }`, JSON, no-store. */
export function expectError(res: Response, status: number, code: string): Record<string, unknown> {
  expect(res.status, res.text).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.headers['cache-control']).toBe('no-store');
  expect(Object.keys(res.body)).toEqual(['error']);
  const error = res.body.error as Record<string, unknown>;
  expect(error.code).toBe(code);
  expect(typeof error.message).toBe('string');
  expect((error.message as string).length).toBeGreaterThan(0);
  return error;
}

export interface RefusalExpectation {
  errorClass: 'invalid_token' | 'insufficient_user_authentication';
  reason: string;
  scheme?: string;
}

/** A guard refusal: 401 (never 403), one parsable RFC 9470 challenge, a problem+json body. */
export function expectRefusal(res: Response, expected: RefusalExpectation): AuthChallenge {
  expect(res.status, res.text).toBe(401);
  const header = res.headers['www-authenticate'];
  expect(typeof header).toBe('string');
  const challenges = parseWwwAuthenticate(header as string);
  expect(challenges).toHaveLength(1);
  const challenge = challenges[0]!;
  expect(challenge.scheme).toBe(expected.scheme ?? 'Bearer');
  expect(challenge.params.error).toBe(expected.errorClass);
  // R-A5: every value is a quoted-string built from configuration.
  expect([...challenge.quoted].sort()).toEqual(Object.keys(challenge.params).sort());
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.body.status).toBe(401);
  expect(res.body.error.code).toBe('step_up_required');
  expect(res.body.error.reason).toBe(expected.reason);
  return challenge;
}
