// Shared fixtures for the core.*.test.ts files: a step-up service on an outbox, a
// controllable clock, Redis stores on unique prefixes, and hand-made JWS for forgeries.
import { createHmac, randomBytes, sign, type KeyObject } from 'node:crypto';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import {
  createStepUp,
  isStepUpError,
  MemoryStore,
  OutboxChannel,
  RedisStore,
  type ChallengeStore,
  type StepUp,
  type StepUpError,
  type StepUpEvent,
  type StepUpOptions,
  type Transaction,
} from '../src/index.js';
import { NO_LIMITS } from './support/no-limits.js';
import { redisUrl } from './support/redis.js';

export { NO_LIMITS };

export const ISSUER = 'https://app.example.test';
export const AUDIENCE = 'https://app.example.test/api';
// Made once with `openssl rand -base64 32`, as the README tells deployers: createStepUp refuses
// secrets that cannot be random (test/core.weak-secrets.test.ts), test ones included.
export const SECRET = 'dravgYMsGI2ahSR+0xrJY9ZcVGyu0OxC5FAY1H/NR6E=';
export const PEPPER = 'w63c/6f5/WmFVjYNjfBCshhoDzz7Okub7ZFgm880MPM=';
/** A third strong secret, for a second key where one must differ from SECRET and PEPPER. */
export const OTHER_SECRET = 'Kw63+IMZ2MkwJkEwZub6WiMKog5/1f5DgFBwiMSOMo8=';
export const PHONE = '+34612345678';
export const PHONE_NATIONAL = '612345678';
export const SUBJECT = 'user-1';
export const PAYMENT: Transaction = { id: 'pay_1', amount: '1234.56', currency: 'EUR', payee: 'ES9121000418450200051332' };

/** A clock the test moves by hand; starts at the real time so Redis TTLs stay sensible. */
export interface FakeClock {
  (): number;
  advance(ms: number): void;
  set(ms: number): void;
}

export function fakeClock(start = Date.now()): FakeClock {
  let now = start;
  const clock = (() => now) as FakeClock;
  clock.advance = (ms) => {
    now += ms;
  };
  clock.set = (ms) => {
    now = ms;
  };
  return clock;
}

export interface Harness {
  stepup: StepUp;
  outbox: OutboxChannel;
  /** Every OutboxChannel among the configured channels. */
  outboxes: OutboxChannel[];
  store: ChallengeStore;
  events: StepUpEvent[];
  clock: FakeClock;
}

export type HarnessOptions = Partial<Omit<StepUpOptions, 'clock'>> & { clock?: FakeClock; outbox?: OutboxChannel };

/** A service with an OutboxChannel, an HS256 secret and a fake clock; any option may be overridden. */
export function makeStepUp(options: HarnessOptions = {}): Harness {
  const clock = options.clock ?? fakeClock();
  const outbox = options.outbox ?? new OutboxChannel();
  const events: StepUpEvent[] = [];
  const { outbox: _outbox, clock: _clock, ...rest } = options;
  const store = options.store ?? new MemoryStore({ clock });
  const stepup = createStepUp({
    channels: [outbox],
    tokens: { issuer: ISSUER, audience: AUDIENCE, secret: SECRET },
    pepper: PEPPER,
    onEvent: (event) => events.push(event),
    // Limits and the growing cooldown have their own tests (core.limits.test.ts); elsewhere one fixed wait and none.
    limits: NO_LIMITS,
    ...rest,
    sends: { cooldown: '30s', ...rest.sends },
    store,
    clock,
  });
  const outboxes = (options.channels ?? [outbox]).filter((channel): channel is OutboxChannel => channel instanceof OutboxChannel);
  return { stepup, outbox, outboxes, store, events, clock };
}

/** Starts a challenge and returns its id and the code the outbox received. */
export async function startChallenge(
  harness: Harness,
  input: { purpose?: string; subject?: string; binding?: string; transaction?: Transaction; otherFactors?: string[]; channel?: string } = {},
): Promise<{ challengeId: string; code: string }> {
  const purpose = input.purpose ?? 'login';
  const view = await harness.stepup.start({
    subject: input.subject ?? SUBJECT,
    phone: PHONE,
    purpose,
    ...(input.transaction !== undefined ? { transaction: input.transaction } : purpose === 'payment' ? { transaction: PAYMENT } : {}),
    ...(input.binding === undefined ? {} : { binding: input.binding }),
    ...(input.otherFactors === undefined ? {} : { otherFactors: input.otherFactors }),
    ...(input.channel === undefined ? {} : { channel: input.channel }),
  });
  return { challengeId: view.challengeId, code: latestCode(harness, view.challengeId) };
}

/** The newest code any outbox of the harness received for a challenge. */
export function latestCode(harness: Harness, challengeId: string): string {
  const messages = harness.outboxes
    .flatMap((outbox) => outbox.messages())
    .filter((message) => message.challengeId === challengeId)
    .sort((a, b) => a.sentAt.localeCompare(b.sentAt));
  const message = messages.at(-1);
  expect(message, `no outbox message for ${challengeId}`).toBeDefined();
  return message!.code;
}

/** Runs a full start + verify and returns the issued token. */
export async function issueToken(
  harness: Harness,
  input: Parameters<typeof startChallenge>[1] = {},
): Promise<{ token: string; challengeId: string; code: string }> {
  const started = await startChallenge(harness, input);
  const result = await harness.stepup.verify(started.challengeId, started.code, {
    subject: input.subject ?? SUBJECT,
    ...(input.binding === undefined ? {} : { binding: input.binding }),
  });
  return { token: result.token, ...started };
}

/** Awaits a promise that must reject with a StepUpError, and returns that error. */
export async function rejection(promise: Promise<unknown>): Promise<StepUpError> {
  let outcome: unknown;
  try {
    outcome = await promise;
  } catch (error) {
    if (!isStepUpError(error)) throw error;
    return error;
  }
  throw new Error(`expected a StepUpError, got a result: ${JSON.stringify(outcome)}`);
}

/** Asserts a token refusal with the given reason (and the error class, for `invalid`). */
export async function expectRefused(promise: Promise<unknown>, reason: string): Promise<StepUpError> {
  const error = await rejection(promise);
  expect(error.code).toBe('step_up_required');
  expect(error.status).toBe(401);
  expect(error.details.reason).toBe(reason);
  if (reason === 'invalid' || reason === 'expired') expect(error.details.errorClass).toBe('invalid_token');
  else expect(error.details.errorClass).toBe('insufficient_user_authentication');
  return error;
}

// ---- Redis ---------------------------------------------------------------------

/** A unique key prefix, so that test files share one redis-server without colliding. */
export function uniquePrefix(label: string): string {
  return `t:${label}:${randomBytes(6).toString('hex')}:`;
}

export interface RedisFixture {
  client: Redis;
  prefix: string;
  store: RedisStore;
  /** Every key under the prefix. */
  keys(): Promise<string[]>;
  close(): Promise<void>;
}

export async function redisFixture(label: string): Promise<RedisFixture> {
  const client = new Redis(redisUrl(), { enableOfflineQueue: true, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false });
  client.on('error', () => undefined);
  const prefix = uniquePrefix(label);
  const store = new RedisStore({ client, prefix });
  const keys = async (): Promise<string[]> => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      found.push(...batch);
    } while (cursor !== '0');
    return found;
  };
  const close = async (): Promise<void> => {
    const all = await keys();
    if (all.length > 0) await client.del(...all);
    client.disconnect();
  };
  return { client, prefix, store, keys, close };
}

// ---- JWS by hand ---------------------------------------------------------------

export function b64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

export function decodePart(token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[index]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

export type Signer = (input: string) => string;

export const hs256 = (secret: string | Buffer): Signer => (input) => createHmac('sha256', secret).update(input).digest('base64url');
export const es256 = (key: KeyObject): Signer => (input) => sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
export const rs256 = (key: KeyObject): Signer => (input) => sign('sha256', Buffer.from(input), key).toString('base64url');
export const unsigned: Signer = () => '';

/** Builds a compact JWS from any header and payload, signed by `signer`. */
export function forge(header: Record<string, unknown>, payload: Record<string, unknown>, signer: Signer): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${signer(input)}`;
}

/** A complete, valid claim set for `purpose` at `nowMs`, as the service would issue it. */
export function claimsAt(nowMs: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(nowMs / 1000);
  return {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: SUBJECT,
    iat: now,
    exp: now + 300,
    auth_time: now,
    jti: randomBytes(16).toString('base64url'),
    acr: 'urn:whatsapp-stepup:acr:oob-whatsapp',
    amr: ['otp', 'mca'],
    purpose: 'login',
    cid: randomBytes(16).toString('base64url'),
    chn: 'outbox',
    ...overrides,
  };
}

/** True when some maximal run of digits in `text` is exactly `code`. */
export function hasDigitRun(text: string, code: string): boolean {
  const runs: string[] = text.match(/\d+/g) ?? [];
  return runs.includes(code);
}
