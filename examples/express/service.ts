/**
 * The framework-free half of the demos (Express here, Koa in ../koa): the step-up service
 * with the dev outbox as its only channel, a pino logger and a Prometheus registry, the store
 * chosen from REDIS_URL, and the start-up banner.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import * as promClient from 'prom-client';
import { createStepUp, MemoryStore, OutboxChannel, RedisStore, type ChallengeStore, type Channel, type LimitsOptions, type StepUp, type StepUpOptions } from '../../src/index.js';
import type { DemoCredentials } from './users.js';

/** The purpose of the code that approves a new phone number (examples/express/phone-change.ts). */
export const CHANGE_PHONE = 'change-phone';

export function createDemoService(
  store: ChallengeStore = new MemoryStore(),
  channels: (outbox: OutboxChannel) => Channel[] = (outbox) => [outbox],
  limits?: LimitsOptions,
  beforeSend?: StepUpOptions['beforeSend'],
): { stepup: StepUp; outbox: OutboxChannel; metrics: promClient.Registry } {
  const outbox = new OutboxChannel();
  // A registry per service: the app's /metrics shows this service's counters and nothing else.
  const metrics = new promClient.Registry();
  const stepup = createStepUp({
    store,
    channels: channels(outbox),
    // Random at each start unless given: restarting the demo invalidates its tokens and codes.
    tokens: { issuer: 'urn:example:demo-bank', audience: 'urn:example:demo-bank', secret: process.env.STEPUP_SECRET ?? randomBytes(32) },
    pepper: process.env.STEPUP_PEPPER ?? randomBytes(32),
    brand: 'Demo Bank',
    // Beside the presets (login, payment, password-reset): changing the phone number on file.
    // A purpose of its own, so that no other token opens that route (wrong_purpose); one-time,
    // and bound to the change (the new number) like a payment to its transaction.
    purposes: { [CHANGE_PHONE]: { tokenTtl: '5m', oneTime: true, requireTransaction: true } },
    // Every decision as a JSON line on stdout, and Prometheus counters served at /metrics.
    logger: demoLogger,
    metrics: { client: promClient, registry: metrics },
    // The defaults (5 codes per user per 15 minutes, ...) unless a test asks for others.
    ...(limits ? { limits } : {}),
    // An app's CAPTCHA or risk check, before every send (a test asks for one).
    ...(beforeSend ? { beforeSend } : {}),
  });
  return { stepup, outbox, metrics };
}

/** pino on stdout at LOG_LEVEL (default info; silent under the test runner, whose output it would drown). */
export const demoLogger = pino({ level: process.env.LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info'), base: { app: 'demo-bank' } });

/** Challenges in memory, or in Redis when REDIS_URL is set. */
export function storeFromEnvironment(): { store: ChallengeStore; redis?: Redis } {
  if (!process.env.REDIS_URL) return { store: new MemoryStore() };
  // Bounded waits: with Redis down, operations fail fast as `store_unavailable` (fail closed).
  const redis = new Redis(process.env.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false, enableAutoPipelining: true });
  let reported = false;
  redis.on('error', (error: Error) => {
    if (!reported) console.error(`Redis: ${error.message} (retrying; codes cannot be sent meanwhile)`);
    reported = true;
  });
  redis.on('ready', () => {
    reported = false;
  });
  return { store: new RedisStore({ client: redis }), redis };
}

export function announce(name: string, url: string, redis: Redis | undefined, users: readonly DemoCredentials[]): void {
  console.log(`${name} on ${url}`);
  console.log(`  store:  ${redis ? `Redis at ${process.env.REDIS_URL}` : 'memory (set REDIS_URL to use Redis)'}`);
  console.log(`  outbox: ${url}/dev/outbox  (the codes the app "sends" appear here)`);
  console.log('  users:');
  for (const user of users) console.log(`    ${user.username.padEnd(6)} password ${user.password.padEnd(14)} phone ${user.phone}`);
}
