/**
 * The framework-neutral half of the HTTP test apps: the step-up service, its outboxes,
 * its clock and store, the test users, and the contract every adapter's test app
 * implements. `http-app.ts` builds the Express app on it and `http-app-koa.ts` the Koa app,
 * with the same routes and options; `test/http.scenarios.ts` runs unchanged against both.
 *
 * Routes of every test app (the scenarios rely on exactly these):
 *
 *   /stepup/...             stepUpRouter: resolveSubject from `X-Test-User` (see USERS),
 *                           binding from `X-Test-Session`, onError into `errors`.
 *   POST /payments          JSON body { amount, currency, payee, ...extra }; requireStepUp({ purpose: 'payment',
 *                           maxAge: '5m', subject, binding, transaction: the body's string and number fields,
 *                           oneTime: true }); answers 200 { ok: true, stepUp: <claims> }.
 *   GET  /account/secure    purpose 'login', maxAge '5m', acrValues [ACR_WHATSAPP], subject, binding.
 *   GET  /account/profile   purpose 'login', maxAge '5m' only, subject, binding.
 *   POST /password-reset    purpose 'password-reset', subject 'from-token' (no session).
 *   GET  /cookie/secure     purpose 'login', maxAge '5m', token { cookie: 'stepup' }, scheme 'StepUp',
 *                           challengeEndpoint '/stepup/challenges', subject, binding.
 *   Guarded routes answer 200 { ok: true, stepUp: <claims> } and every guard reports unexpected
 *   errors into `errors`. An unhandled app error answers 500 { error: { code: 'app_error' } }.
 *
 * With `channels: 'providers'` or `'twilio-providers'` the channels are the real provider
 * clients pointed at local fakes (`providers`), still mirrored into `outbox` and `sms`; with
 * `webhooks: true` the router also mounts `/stepup/webhooks/whatsapp` and `/stepup/webhooks/twilio`
 * with `core.webhooks` (every adapter passes that option, as is, to its `stepUpRouter`).
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis, type Cluster, type ClusterOptions } from 'ioredis';
import {
  createStepUp,
  MemoryStore,
  OutboxChannel,
  RedisStore,
  twilioChannel,
  whatsappCloudChannel,
  type Channel,
  type ChallengeStore,
  type StepUp,
  type StepUpEvent,
  type StepUpOptions,
} from '../../src/index.js';
import type { WebhookOptions } from '../../src/http/webhooks.js';
import { startFakeTwilio, startFakeWhatsApp, type FakeTwilio, type FakeWhatsApp } from '../../src/testing/index.js';
import { metaValidators } from './meta-spec.js';
import { NO_LIMITS } from './no-limits.js';
import { clusterClientOptions, connectCluster, redisUrl, type ClusterNode } from './redis.js';
import { createTwilioSpecValidators, type TwilioSpecValidators } from './twilio-spec.js';

/** `'cluster'`: a RedisStore over an ioredis Cluster client on the suite's shared 3-primary Redis Cluster. */
export type StoreKind = 'memory' | 'redis' | 'cluster';

export interface HarnessOptions {
  store: StoreKind;
  /** For `store: 'redis'`: another server than the suite's shared one (for outage tests). */
  redisUrl?: string;
  /** For `store: 'cluster'`: another cluster than the suite's shared one (for a test that moves slots). */
  clusterNodes?: ClusterNode[];
  /** Options merged over the README's Cluster client options (`store: 'cluster'` only). */
  clusterClient?: Partial<ClusterOptions>;
  /**
   * `'failing'`: a single channel whose send always rejects (delivery_failed). `'providers'`:
   * `whatsappCloudChannel` (name 'whatsapp') then Twilio SMS ('sms'), the real clients against
   * `startFakeWhatsApp()` and `startFakeTwilio()`; `'twilio-providers'`: Twilio WhatsApp
   * ('whatsapp-twilio') then Twilio SMS ('sms'). Provider channels are mirrored into `outbox`
   * and `sms`, so codes read as with the outboxes. Default `'outbox'`.
   */
  channels?: 'outbox' | 'failing' | 'providers' | 'twilio-providers';
  /** Mount the router's `webhooks` (WEBHOOK_SECRETS, the fake Twilio's auth token). Needs provider channels. */
  webhooks?: boolean;
  /**
   * The service's token algorithm: `'HS256'` (default) with `tokens.secret`, or `'ES256'` /
   * `'RS256'` with the key pair in `tokens.privateKey` / `tokens.publicKey` (one pair per
   * process, so that building many harnesses stays fast).
   */
  tokenAlgorithm?: HarnessTokenAlgorithm;
  /** Service options over the harness's own (for example `code: { ttl: '30s' }` or the real clock: `clock: Date.now`). */
  service?: Partial<StepUpOptions>;
  /**
   * The app parses bodies for its own routes before the router sees them: JSON, form-encoded
   * and text bodies (`express.json()`, `express.urlencoded()`, `express.text()`; on Koa a
   * middleware that reads the same three, as koa-bodyparser does). Default false.
   */
  appParsers?: boolean;
}

export type HarnessTokenAlgorithm = 'HS256' | 'ES256' | 'RS256';

/** What a forger would need, to build tokens the guard must refuse (and, with the service's own key, to vary one thing only). */
export interface HarnessTokens {
  issuer: string;
  audience: string;
  algorithm: HarnessTokenAlgorithm;
  /** HS256: the service's secret. ES256 / RS256: random bytes the service does not know. */
  secret: Buffer;
  /** ES256 / RS256: the service's key pair. */
  privateKey?: KeyObject;
  publicKey?: KeyObject;
  keyId: string;
  type: string;
}

/** What the webhooks are configured with: Meta's verify token and app secret, and Twilio's public callback URL. */
export const WEBHOOK_SECRETS = Object.freeze({
  verifyToken: 'verify-token-0123456789',
  appSecret: 'meta-app-secret-0123456789abcdef',
  /** The public URL Twilio is given as `StatusCallback` and signs; the app sits behind a proxy that forwards it. */
  twilioUrl: 'https://app.test/stepup/webhooks/twilio',
});

/** The local provider fakes behind the real channel clients. */
export interface HarnessProviders {
  meta: FakeWhatsApp;
  twilio: FakeTwilio;
  /** The sender of the Twilio channels (SMS `+E164`; WhatsApp `whatsapp:+E164`). */
  from: string;
}

/** What every adapter's test app hands the scenarios. */
export interface HttpHarness {
  /** A listening server: pass it to supertest's `request()`. */
  server: Server;
  stepup: StepUp;
  /** The WhatsApp stand-in, first channel (name 'whatsapp'). */
  outbox: OutboxChannel;
  /** The SMS stand-in, second channel (name 'sms'). */
  sms: OutboxChannel;
  clock: TestClock;
  store: ChallengeStore;
  storeKind: StoreKind;
  /** What a forger would need, to build tokens the guard must refuse. */
  tokens: HarnessTokens;
  /** Unexpected errors the router and guards reported through `onError`. */
  errors: unknown[];
  events: StepUpEvent[];
  /** With provider channels: the fakes behind them. */
  providers?: HarnessProviders;
  /** Constructs the adapter's guard with these options (nothing mounted): for construction-time checks. */
  constructGuard(options: Record<string, unknown>): void;
  close(): Promise<void>;
}

export type HarnessFactory = (options: HarnessOptions) => Promise<HttpHarness>;

/** Test users, by the value of `X-Test-User`. `explode` makes resolveSubject throw. */
export const USERS: Readonly<Record<string, { phone: string }>> = {
  alice: { phone: '+34612345678' },
  bob: { phone: '+34622334455' },
  carol: { phone: '+34633445566' },
  'bad-phone': { phone: '+34 123' },
};

export const EXPLODING_USER = 'explode';
/** The message resolveSubject throws with for EXPLODING_USER: it must never reach a client. */
export const INTERNAL_MESSAGE = 'db connection to 10.0.0.7 failed: secret-internal-detail';

export const ACR_WHATSAPP = 'urn:whatsapp-stepup:acr:oob-whatsapp';
export const ACR_SMS = 'urn:whatsapp-stepup:acr:oob-sms';

/** A settable clock in ms, starting on a whole second so that `auth_time` arithmetic is exact. */
export class TestClock {
  #now: number;
  constructor(start = Math.floor(Date.now() / 1000) * 1000) {
    this.#now = start;
  }
  now = (): number => this.#now;
  advance(ms: number): void {
    this.#now += ms;
  }
  set(ms: number): void {
    this.#now = ms;
  }
}

/** A channel that never delivers. */
export class FailingChannel implements Channel {
  readonly name = 'broken';
  readonly transport = 'whatsapp' as const;
  attempts = 0;
  async send(): Promise<never> {
    this.attempts++;
    throw new Error('provider said no');
  }
}

/** The resolveSubject every test app uses, given the `X-Test-User` header. */
export function resolveTestSubject(user: string | undefined): { id: string; phone: string } | undefined {
  if (user === EXPLODING_USER) throw new Error(INTERNAL_MESSAGE);
  if (user === undefined || !Object.hasOwn(USERS, user)) return undefined;
  return { id: user, phone: USERS[user]!.phone };
}

/** The `subject` every guard of the test apps uses: the resolved user's id, so 'explode' throws there too. */
export function guardSubject(user: string | undefined): string | undefined {
  return resolveTestSubject(user)?.id;
}

/** The transaction a payment guard reads: every string or number field of the parsed body (extra fields too). */
export function paymentTransaction(body: unknown): Record<string, string | number> {
  const source = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const transaction: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(source)) {
    if (typeof value === 'string' || typeof value === 'number') transaction[key] = value;
  }
  return transaction;
}

export interface HarnessCore extends Omit<HttpHarness, 'server' | 'constructGuard' | 'close'> {
  report: (error: unknown) => void;
  /** The router's `webhooks` option: undefined unless `webhooks: true`. */
  webhooks: WebhookOptions | undefined;
  dispose(): Promise<void>;
}

/** The service with its outboxes, clock and store; the adapter adds the app around it. */
export async function createHarnessCore(options: HarnessOptions): Promise<HarnessCore> {
  const clock = new TestClock();
  let redis: Redis | Cluster | undefined;
  let store: ChallengeStore;
  if (options.store === 'redis') {
    // The fail-fast settings the README recommends: an outage answers at once.
    redis = new Redis(options.redisUrl ?? redisUrl(), {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      autoResendUnfulfilledCommands: false,
      connectTimeout: 500,
      retryStrategy: () => 200,
    });
    redis.on('error', () => undefined);
    if (redis.status !== 'ready') await once(redis, 'ready');
    store = new RedisStore({ client: redis, prefix: `http-test:${randomBytes(6).toString('hex')}:` });
  } else if (options.store === 'cluster') {
    // The Cluster options the README recommends (scaleReads 'master', no offline queue).
    redis = await connectCluster(options.clusterNodes, { ...clusterClientOptions(), ...options.clusterClient });
    store = new RedisStore({ client: redis, prefix: `http-test:${randomBytes(6).toString('hex')}:` });
  } else {
    store = new MemoryStore({ clock: clock.now });
  }
  const outbox = new OutboxChannel({ name: 'whatsapp', transport: 'whatsapp' });
  const sms = new OutboxChannel({ name: 'sms', transport: 'sms' });
  const providerChannels = options.channels === 'providers' || options.channels === 'twilio-providers';
  if (options.webhooks && !providerChannels) throw new Error('webhooks: true needs provider channels (the fake Twilio signs callbacks).');
  const providers = providerChannels ? await startProviders() : undefined;
  const channels = options.channels === 'failing' ? [new FailingChannel()] : providers ? providerChannelsOf(providers, options.channels === 'twilio-providers', outbox, sms) : [outbox, sms];
  const tokens = harnessTokens(options.tokenAlgorithm ?? 'HS256');
  const errors: unknown[] = [];
  const events: StepUpEvent[] = [];
  const stepup = createStepUp({
    store,
    channels,
    tokens: tokens.privateKey && tokens.publicKey && tokens.algorithm !== 'HS256'
      ? { issuer: tokens.issuer, audience: tokens.audience, algorithm: tokens.algorithm, privateKey: tokens.privateKey, publicKey: tokens.publicKey, keyId: tokens.keyId }
      : { issuer: tokens.issuer, audience: tokens.audience, secret: tokens.secret, keyId: tokens.keyId },
    pepper: randomBytes(32),
    clock: clock.now,
    onEvent: (event) => events.push(event),
    // The scenarios start many challenges for one user: the send limits and the growing
    // cooldown have their own tests (core.limits.test.ts), here they would only get in the way.
    limits: NO_LIMITS,
    sends: { cooldown: '30s' },
    ...options.service,
  });
  return {
    stepup,
    outbox,
    sms,
    clock,
    store,
    storeKind: options.store,
    tokens,
    errors,
    events,
    ...(providers ? { providers } : {}),
    webhooks: options.webhooks && providers
      ? {
          whatsapp: { verifyToken: WEBHOOK_SECRETS.verifyToken, appSecret: WEBHOOK_SECRETS.appSecret },
          twilio: { authToken: providers.twilio.authToken, url: WEBHOOK_SECRETS.twilioUrl },
        }
      : undefined,
    report: (error) => errors.push(error),
    dispose: async () => {
      stepup.close();
      redis?.disconnect();
      await providers?.meta.close();
      await providers?.twilio.close();
    },
  };
}

const keyPairs = new Map<'ES256' | 'RS256', { privateKey: KeyObject; publicKey: KeyObject }>();

/** The service's token settings for `algorithm`; key pairs are made once per process (RSA takes a while). */
function harnessTokens(algorithm: HarnessTokenAlgorithm): HarnessTokens {
  const base = { issuer: 'https://app.test', audience: 'https://app.test/api', algorithm, secret: randomBytes(32), keyId: 'stepup-1', type: 'stepup+jwt' };
  if (algorithm === 'HS256') return base;
  let pair = keyPairs.get(algorithm);
  if (!pair) {
    pair = algorithm === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
    keyPairs.set(algorithm, pair);
  }
  return { ...base, ...pair };
}

let twilioValidators: TwilioSpecValidators | undefined;

/** The two fakes, each checking requests and answers against its provider's published spec. */
async function startProviders(): Promise<HarnessProviders> {
  twilioValidators ??= createTwilioSpecValidators();
  const meta = await startFakeWhatsApp({ validate: metaValidators().fake });
  const twilio = await startFakeTwilio({ validate: twilioValidators.validate });
  return { meta, twilio, from: '+15017122661' };
}

/** The real clients, mirrored into the outboxes so that `outbox`/`sms` show what they sent (codes included). */
function providerChannelsOf(providers: HarnessProviders, twilioWhatsApp: boolean, outbox: OutboxChannel, sms: OutboxChannel): Channel[] {
  const { meta, twilio, from } = providers;
  const account = { accountSid: twilio.accountSid, authToken: twilio.authToken, baseUrl: twilio.baseUrl, statusCallback: WEBHOOK_SECRETS.twilioUrl };
  const first = twilioWhatsApp
    ? twilioChannel({ kind: 'whatsapp', ...account, from: `whatsapp:${from}`, contentSid: `HX${'0'.repeat(31)}1` })
    : whatsappCloudChannel({ phoneNumberId: meta.phoneNumberId, accessToken: meta.accessToken, baseUrl: meta.baseUrl, template: { name: 'login_code', language: 'en_US' } });
  return [outbox.mirror(first), sms.mirror(twilioChannel({ kind: 'sms', ...account, from }))];
}

export async function listen(server: Server): Promise<void> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  // Keep-alive sockets would hold close() open.
  server.keepAliveTimeout = 1;
}

export async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

export function baseUrl(server: Server): string {
  const { port } = server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}
