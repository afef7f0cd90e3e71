/**
 * The HTTP servers under test, in a process of their own (forked by bench/perf.ts, pinned to
 * its own core when taskset is there). One framework per process (argv[2]: express | koa),
 * one port per server:
 *
 * - ours: `stepUpRouter` under /stepup, `requireStepUp` on GET /guarded and (oneTime) GET /guarded-once,
 *   a RedisStore on db 0, the outbox channel, every limit at its default.
 * - floor: the same routes doing only the irreducible work, written with care (keys prepared
 *   once with createSecretKey, Lua loaded once, EVALSHA by hash); and POST /duties/challenges,
 *   a start that does what this package's guarantees ask of one and nothing else (see
 *   floorStartWithDuties), for how much of start's distance from the floor is owed.
 * - passport: GET /guarded behind passport-jwt as its README shows; expressJwt: behind express-jwt (Express only).
 * - oursLarge: ours again on db 1, where the scale figure loads a million pending challenges.
 */
import { createCipheriv, createHmac, createSecretKey, randomBytes, randomInt } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import express, { type Request } from 'express';
import { expressjwt } from 'express-jwt';
import { Redis } from 'ioredis';
import jwt from 'jsonwebtoken';
import { parsePhoneNumberWithError } from 'libphonenumber-js/max';
import Koa, { type Context } from 'koa';
import koaPassport from 'koa-passport';
import passport from 'passport';
import { ExtractJwt, Strategy as JwtStrategy } from 'passport-jwt';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PerformanceObserver } from 'node:perf_hooks';
import type { StepUp } from '../../src/index.js';
import type { Channel, OutgoingMessage } from '../../src/channels/channel.js';
import {
  AUDIENCE, FLOOR_DIGEST_SECRET, ISSUER, PEPPER, TOKEN_SECRET, ipOf, numberOfUser, phoneOf, userOf,
  type Framework, type FromServer, type Ports, type PreparedRequest, type Role, type ToServer,
} from './shared.js';

const framework = process.argv[2] as Framework;
const redisUrl = process.argv[3]!;
const buildDir = process.argv[4]!;
if ((framework !== 'express' && framework !== 'koa') || !buildDir) throw new Error('usage: server.ts express|koa <redis url> <build dir>');

// The package as users run it: the driver's tsup build of src (types from src, code from the build).
const load = <T>(entry: string) => import(pathToFileURL(join(buildDir, entry, 'index.js')).href) as Promise<T>;
const { createStepUp, OutboxChannel, RedisStore } = await load<typeof import('../../src/index.js')>('.');
const { requireStepUp: expressGuard, stepUpRouter: expressRouter } = await load<typeof import('../../src/express/index.js')>('express');
const { requireStepUp: koaGuard, stepUpRouter: koaRouter } = await load<typeof import('../../src/koa/index.js')>('koa');

const send = (message: FromServer) => process.send!(message);

// Time in garbage collection, reported beside the CPU time of each run.
let gcMillis = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMillis += entry.duration;
}).observe({ entryTypes: ['gc'] });

// ---- the service, as an app would configure it ----------------------------------------

/** The Redis client options the README recommends (bounded waits). */
const clientOptions = { enableOfflineQueue: false, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false } as const;

/**
 * The outbox channel, with the codes it "sends" also noted by challenge while the driver
 * prepares challenges to verify (and only then: the start figure keeps nothing).
 */
function capturingOutbox(codes: Map<string, string>, capturing: () => boolean): Channel {
  const outbox = new OutboxChannel();
  return {
    name: outbox.name,
    transport: outbox.transport,
    send: (message: OutgoingMessage) => {
      if (capturing()) codes.set(message.challengeId, message.code);
      return outbox.send(message);
    },
  } as Channel;
}

interface Service {
  stepup: StepUp;
  redis: Redis;
  codes: Map<string, string>;
  capture: { on: boolean };
}

function service(db: number): Service {
  // The client options the README shows (auto-pipelining off with BENCH_AUTOPIPELINING=0).
  const redis = new Redis(redisUrl, { ...clientOptions, db, enableAutoPipelining: process.env.BENCH_AUTOPIPELINING !== '0' });
  const codes = new Map<string, string>();
  const capture = { on: false };
  const stepup = createStepUp({
    store: new RedisStore({ client: redis }),
    channels: [capturingOutbox(codes, () => capture.on)],
    tokens: { issuer: ISSUER, audience: AUDIENCE, secret: TOKEN_SECRET },
    pepper: PEPPER,
  });
  return { stepup, redis, codes, capture };
}

const ours = service(0);
const large = service(1);

const userHeader = (headers: IncomingMessage['headers']) => {
  const value = headers['x-user'];
  return typeof value === 'string' ? value : undefined;
};
/** The signed-in user and the number on file (from the bench's user naming). */
const subjectFor = (user: string | undefined) => (user === undefined || !/^u\d+$/.test(user) ? undefined : { id: user, phone: phoneOf(numberOfUser(user)) });
const OK = '{"ok":true}';

// ---- the floor: only the irreducible work --------------------------------------------

const floorRedis = new Redis(redisUrl, clientOptions);
const tokenKey = createSecretKey(Buffer.from(TOKEN_SECRET, 'utf8'));
const digestKey = createSecretKey(Buffer.from(FLOOR_DIGEST_SECRET));
const FLOOR_VERIFY_LUA = `
local v = redis.call('HMGET', KEYS[1], 'dig', 'sub')
if v[1] ~= ARGV[1] then return false end
redis.call('DEL', KEYS[1])
return v[2]
`;
const FLOOR_START_LUA = `
redis.call('HSET', KEYS[1], 'sub', ARGV[1], 'dig', ARGV[2], 'exp', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`;
await Promise.all([ours.redis, large.redis, floorRedis].map((redis) => (redis.status === 'ready' ? undefined : once(redis, 'ready'))));
const floorVerifySha = (await floorRedis.script('LOAD', FLOOR_VERIFY_LUA)) as string;
const floorStartSha = (await floorRedis.script('LOAD', FLOOR_START_LUA)) as string;
const floorDigest = (id: string, code: string) => createHmac('sha256', digestKey).update(`${id}:${code}`).digest('base64url');

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

/** Floor verify: one HMAC, one EVALSHA on one hash, one HS256 sign. Returns [status, body]. */
async function floorVerify(id: string, user: string | undefined, message: IncomingMessage): Promise<[number, string]> {
  const { code } = JSON.parse(await readBody(message)) as { code: string };
  const sub = (await floorRedis.evalsha(floorVerifySha, 1, `floor:ch:{${id}}`, floorDigest(id, code))) as string | null;
  if (sub === null || sub !== user) return [400, '{"error":{"code":"invalid_code"}}'];
  const now = Math.floor(Date.now() / 1000);
  const token = jwt.sign(
    { iss: ISSUER, aud: AUDIENCE, sub, iat: now, exp: now + 900, auth_time: now, jti: randomBytes(16).toString('base64url'), acr: 'urn:whatsapp-stepup:acr:oob-whatsapp', amr: ['otp', 'mca'], purpose: 'login', cid: id, chn: 'outbox' },
    tokenKey,
    { algorithm: 'HS256', header: { alg: 'HS256', typ: 'stepup+jwt', kid: 'stepup-1' } },
  );
  return [200, JSON.stringify({ token, tokenType: 'step-up', expiresIn: 900, purpose: 'login' })];
}

/** Floor start: one HMAC, one EVALSHA on one hash. */
async function floorStart(user: string | undefined, message: IncomingMessage): Promise<[number, string]> {
  const { purpose } = JSON.parse(await readBody(message)) as { purpose: string };
  if (purpose !== 'login' || user === undefined) return [400, '{"error":{"code":"invalid_request"}}'];
  const id = randomBytes(16).toString('base64url');
  const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
  const expiresAt = Date.now() + 300_000;
  await floorRedis.evalsha(floorStartSha, 1, `floor:ch:{${id}}`, user, floorDigest(id, code), expiresAt, 600_000);
  return [201, JSON.stringify({ challengeId: id, purpose, channel: 'outbox', expiresAt: new Date(expiresAt).toISOString() })];
}

/**
 * Floor start with a start's duties: what a careful hand-written start owes under this
 * package's guarantees, and nothing else. The number parsed and typed against the full
 * metadata (premium-rate and the like refused); keyed names for the user, the number, the
 * client IP and the number range (a counter each, and the number's daily one); the code's
 * digest; the number sealed (AES-256-GCM) for a resend; one EVALSHA that reads the user's
 * failure count and whether the number is known not to be on WhatsApp, counts every
 * counter and creates the challenge only if no limit refuses; the message handed to an
 * in-memory outbox; one more EVALSHA for the message id (a delivery webhook names only it).
 * The ratio against it says what our code costs beyond that work.
 */
const FLOOR_ADMIT_LUA = `
local admitted = tonumber(redis.call('GET', KEYS[2]) or '0') < 10
local whatsapp = redis.call('GET', KEYS[3]) == false
for i = 4, #KEYS do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[8 + (i - 4) * 2]) end
  if count > tonumber(ARGV[9 + (i - 4) * 2]) then admitted = false end
end
if not admitted then return 0 end
redis.call('HSET', KEYS[1], 'sub', ARGV[1], 'pur', ARGV[2], 'dig', ARGV[3], 'exp', ARGV[4], 'phn', ARGV[5], 'to', ARGV[6], 'max', '5', 'snd', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[7])
if whatsapp then return 1 end
return 2
`;
const FLOOR_SENT_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'mid', ARGV[1], 'sat', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
return 1
`;
const floorAdmitSha = (await floorRedis.script('LOAD', FLOOR_ADMIT_LUA)) as string;
const floorSentSha = (await floorRedis.script('LOAD', FLOOR_SENT_LUA)) as string;
const nameKey = createSecretKey(randomBytes(32));
const sealKey = createSecretKey(randomBytes(32));
const keyedName = (kind: string, value: string) => createHmac('sha256', nameKey).update(`${kind}:${value}`).digest('base64url').slice(0, 22);
const QUARTER_HOUR = 900_000;
const DAY = 86_400_000;
const floorOutbox: { to: string; text: string; id: string }[] = [];

async function floorStartWithDuties(user: string | undefined, message: IncomingMessage): Promise<[number, string]> {
  const { purpose } = JSON.parse(await readBody(message)) as { purpose: string };
  const subject = subjectFor(user);
  if (purpose !== 'login' || subject === undefined) return [400, '{"error":{"code":"invalid_request"}}'];
  let phone;
  try {
    phone = parsePhoneNumberWithError(subject.phone);
  } catch {
    return [400, '{"error":{"code":"invalid_request"}}'];
  }
  const type = phone.getType();
  if ((type === undefined && !phone.isValid()) || type === 'PREMIUM_RATE') return [400, '{"error":{"code":"invalid_request"}}'];
  // The client as ours reads it behind `trust proxy`: the bench gives each start its own.
  const forwarded = message.headers['x-forwarded-for'];
  const ip = typeof forwarded === 'string' ? forwarded.split(',')[0]!.trim() : (message.socket.remoteAddress ?? '');
  const id = randomBytes(16).toString('base64url');
  const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
  const number = keyedName('n', phone.number);
  const subjectName = keyedName('s', subject.id);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealKey, iv);
  cipher.setAAD(Buffer.from(id));
  const sealed = `${iv.toString('base64url')}.${Buffer.concat([cipher.update(phone.number, 'utf8'), cipher.final()]).toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`;
  const masked = `+${phone.countryCallingCode} ${'•'.repeat(phone.nationalNumber.length - 2)}${phone.nationalNumber.slice(-2)}`;
  const now = Date.now();
  const expiresAt = now + 300_000;
  const admitted = await floorRedis.evalsha(
    floorAdmitSha, 8, `floor:ch:{${id}}`, `floor:failures:{${subjectName}}`, `floor:nowa:{${number}}`,
    `floor:lim:{s:${subjectName}}`, `floor:lim:{n:${number}}`, `floor:lim:{d:${number}}`,
    `floor:lim:{i:${keyedName('i', ip)}}`, `floor:lim:{r:${keyedName('r', phone.number.slice(0, -4))}}`,
    subject.id, purpose, floorDigest(id, code), expiresAt, sealed, masked, 600_000,
    QUARTER_HOUR, 1e9, QUARTER_HOUR, 1e9, DAY, 1e9, QUARTER_HOUR, 1e9, QUARTER_HOUR, 1e9,
  );
  if (admitted === 0) return [429, '{"error":{"code":"rate_limited"}}'];
  const messageId = randomBytes(16).toString('base64url');
  floorOutbox.push({ to: phone.number, text: `${code} is your verification code. For your security, do not share this code.`, id: messageId });
  if (floorOutbox.length > 100) floorOutbox.shift();
  await floorRedis.evalsha(floorSentSha, 2, `floor:ch:{${id}}`, `floor:fact:{${messageId}}`, messageId, now, id, 600_000);
  return [201, JSON.stringify({ challengeId: id, purpose, channel: 'outbox', to: masked, expiresAt: new Date(expiresAt).toISOString() })];
}

const verifyOptions = { algorithms: ['HS256' as const], issuer: ISSUER, audience: AUDIENCE };
function floorGuard(token: unknown): boolean {
  if (typeof token !== 'string') return false;
  try {
    jwt.verify(token, tokenKey, verifyOptions);
    return true;
  } catch {
    return false;
  }
}
async function floorGuardOnce(token: unknown): Promise<boolean> {
  if (typeof token !== 'string') return false;
  let claims: jwt.JwtPayload;
  try {
    claims = jwt.verify(token, tokenKey, verifyOptions) as jwt.JwtPayload;
  } catch {
    return false;
  }
  const reply = await floorRedis.set(`floor:jti:{${claims.jti}}`, '1', 'PX', (claims.exp! - Math.floor(Date.now() / 1000) + 30) * 1000, 'NX');
  return reply === 'OK';
}

// passport-jwt as its README shows (Bearer token, secret string, issuer, audience); the same HS256 token.
const jwtOptions = { jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(), secretOrKey: TOKEN_SECRET, issuer: ISSUER, audience: AUDIENCE };
const verifyUser = (payload: { sub?: string }, done: (error: unknown, user?: unknown) => void) => done(null, { id: payload.sub });

// ---- the apps -----------------------------------------------------------------------

function expressApps(): Partial<Record<Role, (req: IncomingMessage, res: ServerResponse) => void>> {
  const oursApp = (s: Service) => {
    const app = express();
    app.set('trust proxy', true);
    const subject = (req: Request) => req.get('x-user');
    app.use('/stepup', expressRouter(s.stepup, { resolveSubject: (req) => subjectFor(req.get('x-user')) }));
    app.get('/guarded', expressGuard(s.stepup, { purpose: 'login', subject }), (_req, res) => res.type('json').send(OK));
    app.get('/guarded-once', expressGuard(s.stepup, { purpose: 'login', subject, oneTime: true }), (_req, res) => res.type('json').send(OK));
    return app;
  };

  const floor = express();
  floor.post('/stepup/challenges/:id/verify', async (req, res) => {
    const [status, body] = await floorVerify(req.params.id, req.get('x-user'), req);
    res.status(status).type('json').send(body);
  });
  floor.post('/stepup/challenges', async (req, res) => {
    const [status, body] = await floorStart(req.get('x-user'), req);
    res.status(status).type('json').send(body);
  });
  floor.post('/duties/challenges', async (req, res) => {
    const [status, body] = await floorStartWithDuties(req.get('x-user'), req);
    res.status(status).type('json').send(body);
  });
  floor.get('/guarded', (req, res) => {
    if (floorGuard(req.get('step-up-token'))) res.type('json').send(OK);
    else res.status(401).end();
  });
  floor.get('/guarded-once', async (req, res) => {
    if (await floorGuardOnce(req.get('step-up-token'))) res.type('json').send(OK);
    else res.status(401).end();
  });

  passport.use(new JwtStrategy(jwtOptions, verifyUser));
  const withPassport = express();
  withPassport.get('/guarded', passport.authenticate('jwt', { session: false }), (_req, res) => res.type('json').send(OK));

  // express-jwt as its README shows.
  const withExpressJwt = express();
  withExpressJwt.get('/guarded', expressjwt({ secret: TOKEN_SECRET, algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE }), (_req, res) => res.type('json').send(OK));

  return { ours: oursApp(ours), oursLarge: oursApp(large), floor, passport: withPassport, expressJwt: withExpressJwt };
}

function koaApps(): Partial<Record<Role, (req: IncomingMessage, res: ServerResponse) => void>> {
  const oursApp = (s: Service) => {
    const app = new Koa();
    app.proxy = true;
    const subject = (ctx: Context) => ctx.get('x-user') || undefined;
    app.use(koaRouter(s.stepup, { prefix: '/stepup', resolveSubject: (ctx) => subjectFor(ctx.get('x-user') || undefined) }));
    const router = new Router();
    const ok = (ctx: Context) => {
      ctx.type = 'json';
      ctx.body = OK;
    };
    router.get('/guarded', koaGuard(s.stepup, { purpose: 'login', subject }), ok);
    router.get('/guarded-once', koaGuard(s.stepup, { purpose: 'login', subject, oneTime: true }), ok);
    app.use(router.routes());
    return app.callback();
  };

  const floor = new Koa();
  const router = new Router();
  const answer = (ctx: Context, [status, body]: [number, string]) => {
    ctx.status = status;
    ctx.type = 'json';
    ctx.body = body;
  };
  router.post('/stepup/challenges/:id/verify', async (ctx) => answer(ctx, await floorVerify(ctx.params.id!, ctx.get('x-user'), ctx.req)));
  router.post('/stepup/challenges', async (ctx) => answer(ctx, await floorStart(ctx.get('x-user') || undefined, ctx.req)));
  router.post('/duties/challenges', async (ctx) => answer(ctx, await floorStartWithDuties(ctx.get('x-user') || undefined, ctx.req)));
  router.get('/guarded', (ctx) => (floorGuard(ctx.get('step-up-token')) ? answer(ctx, [200, OK]) : (ctx.status = 401)));
  router.get('/guarded-once', async (ctx) => ((await floorGuardOnce(ctx.get('step-up-token'))) ? answer(ctx, [200, OK]) : (ctx.status = 401)));
  floor.use(router.routes());

  koaPassport.use(new JwtStrategy(jwtOptions, verifyUser));
  const withPassport = new Koa();
  const passportRouter = new Router();
  passportRouter.get('/guarded', koaPassport.authenticate('jwt', { session: false }), (ctx) => answer(ctx, [200, OK]));
  withPassport.use(koaPassport.initialize());
  withPassport.use(passportRouter.routes());

  return { ours: oursApp(ours), oursLarge: oursApp(large), floor: floor.callback(), passport: withPassport.callback() };
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<number> {
  const server: Server = createServer(handler);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

// ---- round trips: every command the store's client sends, grouped into waits ---------

/**
 * Counts the commands the store sends and its round trips: a command sent while none of the
 * operation's earlier commands is still waiting starts a new round trip; commands sent
 * while others wait share theirs (they go out together and come back together).
 */
function instrument(redis: Redis) {
  let outstanding = 0;
  const counts = { roundTrips: 0, commands: 0, on: false };
  const original = redis.sendCommand.bind(redis);
  (redis as unknown as { sendCommand: typeof redis.sendCommand }).sendCommand = ((command: Parameters<Redis['sendCommand']>[0], stream?: never) => {
    if (counts.on) {
      counts.commands++;
      if (outstanding === 0) counts.roundTrips++;
      outstanding++;
      const settle = () => {
        outstanding--;
      };
      command.promise.then(settle, settle);
    }
    return original(command, stream);
  }) as Redis['sendCommand'];
  return counts;
}
const counts = instrument(ours.redis);

async function countRoundTrips(token: string, onceTokens: string[], first: number, ports: Ports) {
  const base = `http://127.0.0.1:${ports.ours}`;
  const trips: Record<string, { roundTrips: number; commands: number }> = {};
  const measure = async (name: string, times: number, request: (i: number) => Promise<Response>) => {
    // Warm: the first EVALSHA of a script may meet NOSCRIPT and send it again.
    await (await request(0)).text();
    counts.roundTrips = counts.commands = 0;
    for (let i = 1; i <= times; i++) {
      counts.on = true;
      const response = await request(i);
      counts.on = false;
      await response.text();
      if (response.status >= 300) throw new Error(`${name}: HTTP ${response.status}`);
    }
    trips[name] = { roundTrips: counts.roundTrips / times, commands: counts.commands / times };
  };
  const times = Math.min(20, onceTokens.length - 1);
  await measure('start', times, (i) => fetch(`${base}/stepup/challenges`, {
    method: 'POST', body: '{"purpose":"login"}', headers: { 'content-type': 'application/json', 'x-user': userOf(first + i), 'x-forwarded-for': ipOf(first + i) },
  }));
  const prepared = await prepare(ours, times + 1, first + times + 1);
  await measure('verify', times, (i) => fetch(`${base}${prepared[i]!.path}`, {
    method: 'POST', body: prepared[i]!.body, headers: { 'content-type': 'application/json', 'x-user': prepared[i]!.user },
  }));
  await measure('guard oneTime', times, (i) => fetch(`${base}/guarded-once`, { headers: { 'step-up-token': onceTokens[i]!, 'x-user': 'guard-user' } }));
  await measure('guard', times, () => fetch(`${base}/guarded`, { headers: { 'step-up-token': token, 'x-user': 'guard-user' } }));
  return trips;
}

// ---- challenges to verify: real starts through the outbox, codes read from it --------

async function prepare(s: Service, count: number, first: number): Promise<PreparedRequest[]> {
  const items: PreparedRequest[] = [];
  s.capture.on = true;
  try {
    for (let done = 0; done < count; ) {
      const batch = Math.min(200, count - done);
      const views = await Promise.all(Array.from({ length: batch }, (_, j) => {
        const n = first + done + j;
        return s.stepup.start({ subject: userOf(n), phone: phoneOf(n), purpose: 'login', ip: ipOf(n) });
      }));
      views.forEach((view, j) => {
        const code = s.codes.get(view.challengeId)!;
        s.codes.delete(view.challengeId);
        items.push({ path: `/stepup/challenges/${view.challengeId}/verify`, user: userOf(first + done + j), body: JSON.stringify({ code }) });
      });
      done += batch;
    }
  } finally {
    s.capture.on = false;
  }
  return items;
}

// ---- wiring --------------------------------------------------------------------------

const handlers = framework === 'express' ? expressApps() : koaApps();
const ports: Ports = {};
for (const [role, handler] of Object.entries(handlers) as [Role, (req: IncomingMessage, res: ServerResponse) => void][]) {
  ports[role] = await listen(handler);
}

process.on('message', (message: ToServer) => {
  void (async () => {
    try {
      switch (message.type) {
        case 'prepare':
          send({ type: 'prepared', id: message.id, items: await prepare(message.role === 'ours' ? ours : large, message.count, message.first) });
          break;
        case 'count':
          send({ type: 'counted', id: message.id, trips: await countRoundTrips(message.token, message.onceTokens, message.first, ports) });
          break;
        case 'cpu': {
          const usage = process.cpuUsage();
          send({ type: 'cpu', id: message.id, userMicros: usage.user, systemMicros: usage.system, gcMicros: Math.round(gcMillis * 1000) });
          break;
        }
        case 'stop':
          ours.stepup.close();
          large.stepup.close();
          // A normal exit, so that --cpu-prof writes its profile.
          process.exit(0);
      }
    } catch (error) {
      send({ type: 'error', id: 'id' in message ? message.id : -1, message: error instanceof Error ? error.stack ?? error.message : String(error) });
    }
  })();
});

send({ type: 'ready', ports, pid: process.pid });
