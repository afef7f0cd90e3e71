/**
 * `npm run bench` (issue #8): what the second factor costs beyond the irreducible work.
 *
 * A private redis-server, the HTTP servers under test in a forked process (bench/perf/server.ts),
 * autocannon here. Each ratio compares two servers measured in the same run, alternating
 * (the order flips every round), over several rounds; the median of the rounds' ratios is
 * quoted. Prints one table and writes bench/results.json.
 *
 *   npm run bench                     the real run (by hand, on a quiet machine)
 *   npm run bench -- --smoke          about a second per figure (BENCH_SMOKE=1 too); what npm test runs
 *   BENCH_OUT=path                    where results.json goes (default bench/results.json)
 *   BENCH_ONLY=verify,start           only these figures (verify, start, guard, oneTime, trips, memory, scale)
 *   BENCH_FRAMEWORKS=koa              only these adapters
 *   BENCH_PROFILE=dir                 the server process runs with --cpu-prof into dir
 *   BENCH_LARGE=1000000               pending challenges of the scale figure
 *   BENCH_ROUNDS=5 BENCH_SECONDS=3    rounds per figure and seconds per server in a round
 *   BENCH_AUTOPIPELINING=0            our store's client without enableAutoPipelining (the README shows it on)
 */
import { fork, execFileSync, type ChildProcess } from 'node:child_process';
import { createHmac, createSecretKey } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import autocannon, { type Request as CannonRequest } from 'autocannon';
import { build } from 'tsup';
import packageBuild from '../tsup.config.js';
import { Redis } from 'ioredis';
import { resolveTokenConfig } from '../src/core/options/tokens.js';
import { signToken, newTokenId } from '../src/core/tokens.js';
import { randomId } from '../src/lib/random.js';
import type { StepUpClaims } from '../src/core/types.js';
import { onPath, startRedis, type RedisHandle } from '../test/support/redis-server.js';
import {
  AUDIENCE, FLOOR_DIGEST_SECRET, GUARD_USER, ISSUER, TOKEN_SECRET, ipOf, userOf,
  type Framework, type FromServer, type Ports, type PreparedRequest, type Role, type ToServer,
} from './perf/shared.js';

const here = dirname(fileURLToPath(import.meta.url));
const SMOKE = process.argv.includes('--smoke') || process.env.BENCH_SMOKE === '1';
const OUT = resolve(process.env.BENCH_OUT ?? join(here, 'results.json'));
const ONLY = process.env.BENCH_ONLY?.split(',').map((name) => name.trim());
const FRAMEWORKS = (process.env.BENCH_FRAMEWORKS?.split(',') ?? ['express', 'koa']) as Framework[];
const PROFILE = process.env.BENCH_PROFILE;
const AUTOPIPELINING = process.env.BENCH_AUTOPIPELINING !== '0';

const settings = SMOKE
  ? { rounds: 1, runSeconds: 0.4, warmSeconds: 0.2, warmAmount: 100, connections: 16, scaleRate: 300, large: 3_000, small: 300, memoryChallenges: 100 }
  : {
    rounds: Number(process.env.BENCH_ROUNDS ?? 5), runSeconds: Number(process.env.BENCH_SECONDS ?? 3), warmSeconds: 1.5, warmAmount: 4_000, connections: 32,
    scaleRate: 1_000, large: Number(process.env.BENCH_LARGE ?? 1_000_000), small: 1_000, memoryChallenges: 5_000,
  };
const wanted = (figure: string) => !ONLY || ONLY.includes(figure);

// ---- the machine and its two cores ------------------------------------------------------

const taskset = process.platform === 'linux' && onPath('taskset') && cpus().length >= 2;
function pin(pid: number, cpu: number): void {
  if (taskset) execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
}
const cores = taskset
  ? 'taskset: the server process on CPU 1 alone; autocannon (this process) and redis-server share CPU 0'
  : `no taskset: client, server and redis-server share the ${cpus().length} cores as the OS schedules them`;

// ---- the server process ---------------------------------------------------------------

/** A message to the server without its id (the id pairs it with the answer). */
type Question = ToServer extends infer M ? (M extends { id: number } ? Omit<M, 'id'> : never) : never;

class ServerProcess {
  #next = 1;
  readonly #waiting = new Map<number, { resolve: (message: FromServer) => void; reject: (error: Error) => void }>();
  private constructor(
    readonly child: ChildProcess,
    readonly ports: Ports,
  ) {
    child.on('message', (message: FromServer) => {
      if (message.type === 'ready') return;
      const waiter = this.#waiting.get(message.id);
      this.#waiting.delete(message.id);
      if (message.type === 'error') waiter?.reject(new Error(`server: ${message.message}`));
      else waiter?.resolve(message);
    });
  }

  static async start(framework: Framework, redisUrl: string): Promise<ServerProcess> {
    const execArgv = ['--import', 'tsx'];
    if (PROFILE) execArgv.push('--cpu-prof', `--cpu-prof-dir=${resolve(PROFILE)}`);
    const child = fork(join(here, 'perf', 'server.ts'), [framework, redisUrl, buildDir], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const ready = await new Promise<Extract<FromServer, { type: 'ready' }>>((resolveReady, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`server process exited (${code}) before it was ready`)));
      child.on('message', (message: FromServer) => {
        if (message.type === 'ready') resolveReady(message);
      });
    });
    child.removeAllListeners('exit');
    pin(ready.pid, 1);
    return new ServerProcess(child, ready.ports);
  }

  ask<T extends FromServer['type']>(message: Question): Promise<Extract<FromServer, { type: T }>> {
    const id = this.#next++;
    return new Promise((resolveAnswer, reject) => {
      this.#waiting.set(id, { resolve: resolveAnswer as (message: FromServer) => void, reject });
      this.child.send({ ...message, id } as ToServer);
    });
  }

  /** The server's CPU time so far, and the part of it in garbage collection. */
  async cpuMicros(): Promise<{ cpu: number; gc: number }> {
    const usage = await this.ask<'cpu'>({ type: 'cpu' });
    return { cpu: usage.userMicros + usage.systemMicros, gc: usage.gcMicros };
  }

  async stop(): Promise<void> {
    const exited = new Promise((done) => this.child.once('exit', done));
    this.child.send({ type: 'stop' } satisfies ToServer);
    await exited;
  }
}

// ---- load -----------------------------------------------------------------------------

interface Contender {
  name: string;
  role: Role;
  /** A fixed request (GET or POST), or a request per call (each consumed once). */
  request: (server: ServerProcess) => Promise<Feed>;
}

/** Requests for one contender: fixed, endless, or `count` prepared ones. */
type Feed = { kind: 'fixed'; request: CannonRequest } | { kind: 'endless'; next: () => CannonRequest } | { kind: 'prepared'; take: (count: number) => Promise<() => CannonRequest> };

interface RunResult {
  rps: number;
  p99: number;
  p50: number;
  requests: number;
  non2xx: number;
  errors: number;
  serverCpu: number;
  /** Share of the run's wall time the server spent collecting garbage. */
  serverGc: number;
}

let nextUser = 1;
/** A fresh user, number and IP per start: the default send limits stay on and never bite. */
const startRequest = (): CannonRequest => {
  const n = nextUser++;
  return { method: 'POST', path: '/stepup/challenges', headers: { 'content-type': 'application/json', 'x-user': userOf(n), 'x-forwarded-for': ipOf(n) }, body: '{"purpose":"login"}' };
};
const fromPrepared = (item: PreparedRequest): CannonRequest => ({
  method: 'POST', path: item.path, headers: { 'content-type': 'application/json', 'x-user': item.user }, body: item.body,
});

async function run(server: ServerProcess, role: Role, feed: Feed, how: { amount?: number; seconds?: number; rate?: number; connections: number }): Promise<RunResult> {
  let requests: CannonRequest[];
  let amount = how.amount;
  if (feed.kind === 'fixed') requests = [feed.request];
  else {
    const next = feed.kind === 'endless' ? feed.next : await feed.take(amount!);
    requests = [{ setupRequest: (request) => ({ ...request, ...next() }) }];
  }
  const cpuBefore = await server.cpuMicros();
  const latencies: number[] = [];
  const started = performance.now();
  const instance = autocannon({
    url: `http://127.0.0.1:${server.ports[role]}`,
    connections: how.connections,
    requests,
    timeout: 10,
    sampleInt: 50,
    // autocannon ends runs on a sample tick: the run is stopped here, and timed by its last answer.
    ...(amount === undefined ? { duration: Math.ceil(how.seconds!) + 5 } : { amount }),
    ...(how.rate === undefined ? {} : { overallRate: how.rate }),
  });
  let lastAnswer = started;
  let answered = 0;
  const timer = how.seconds === undefined ? undefined : setTimeout(() => instance.stop(), how.seconds * 1000);
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    lastAnswer = performance.now();
    if (status < 300) latencies.push(ms);
    if (++answered === amount) instance.stop();
  });
  const result = await instance;
  clearTimeout(timer);
  const elapsed = (lastAnswer - started) / 1000;
  const cpuAfter = await server.cpuMicros();
  latencies.sort((a, b) => a - b);
  const quantile = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  amount = undefined;
  return {
    rps: result['2xx'] / elapsed,
    p99: quantile(0.99),
    p50: quantile(0.5),
    requests: result['2xx'] + result.non2xx,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    serverCpu: (cpuAfter.cpu - cpuBefore.cpu) / 1e6 / elapsed,
    serverGc: (cpuAfter.gc - cpuBefore.gc) / 1e6 / elapsed,
  };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

interface Row {
  figure: string;
  framework: Framework | 'store';
  ours: number | string;
  baseline: number | string;
  ratio: number | undefined;
  target: string;
  met: boolean | undefined;
  unit: string;
  note?: string;
  rounds?: { ours: number; baseline: number; ratio: number }[];
}
const rows: Row[] = [];
const problems: string[] = [];

/**
 * Ours against each baseline: every round runs all contenders once (order flipped each
 * round), each for about runSeconds; the ratio of each round is ours / baseline.
 */
async function compare(
  server: ServerProcess,
  framework: Framework,
  figure: string,
  contenders: Contender[],
  /**
   * `met` undefined: a figure without a target, shown for what it tells. `of`: the contender
   * measured against the baseline, when not ours (the first); it then stands in the ours column.
   */
  targets: { baseline: string; figure: string; target: string; met?: (ratio: number) => boolean; of?: string }[],
): Promise<void> {
  const feeds = new Map<string, Feed>();
  for (const contender of contenders) feeds.set(contender.name, await contender.request(server));
  // Warm-up (JIT, connections, Redis scripts), which also calibrates how many requests fill runSeconds.
  const amounts = new Map<string, number | undefined>();
  for (const contender of contenders) {
    const feed = feeds.get(contender.name)!;
    const prepared = feed.kind === 'prepared';
    const warm = await run(server, contender.role, feed, prepared ? { amount: settings.warmAmount, connections: settings.connections } : { seconds: settings.warmSeconds, connections: settings.connections });
    check(`${framework} ${figure} warm-up ${contender.name}`, warm);
    amounts.set(contender.name, prepared ? Math.max(SMOKE ? 50 : 500, Math.round(warm.rps * settings.runSeconds)) : undefined);
  }
  const results = new Map<string, RunResult[]>(contenders.map((contender) => [contender.name, []]));
  for (let round = 0; round < settings.rounds; round++) {
    const order = round % 2 === 0 ? contenders : [...contenders].reverse();
    for (const contender of order) {
      const amount = amounts.get(contender.name);
      const result = await run(server, contender.role, feeds.get(contender.name)!, amount === undefined ? { seconds: settings.runSeconds, connections: settings.connections } : { amount, connections: settings.connections });
      check(`${framework} ${figure} ${contender.name}`, result);
      results.get(contender.name)!.push(result);
    }
  }
  const detail = contenders.map((contender) => {
    const list = results.get(contender.name)!;
    return `${contender.name} ${list.map((r) => `${Math.round(r.rps)}/s (server CPU ${Math.round(r.serverCpu * 100)}%, GC ${Math.round(r.serverGc * 100)}%)`).join(', ')}`;
  });
  console.log(`  [${since()}] ${framework} ${figure}: ${detail.join(' | ')}`);
  for (const target of targets) {
    const ours = results.get(target.of ?? contenders[0]!.name)!;
    const base = results.get(target.baseline)!;
    const perRound = ours.map((result, i) => ({ ours: result.rps, baseline: base[i]!.rps, ratio: result.rps / base[i]!.rps }));
    const ratio = median(perRound.map((round) => round.ratio));
    rows.push({
      figure: target.figure, framework, unit: 'req/s', target: target.target, ratio, met: target.met?.(ratio),
      ours: median(ours.map((r) => r.rps)), baseline: median(base.map((r) => r.rps)), rounds: perRound,
    });
  }
}

function check(what: string, result: RunResult): void {
  if (result.non2xx > 0 || result.errors > 0) problems.push(`${what}: ${result.non2xx} non-2xx answers and ${result.errors} errors of ${result.requests}`);
}

// ---- tokens -----------------------------------------------------------------------------

const tokenConfig = resolveTokenConfig({ issuer: ISSUER, audience: AUDIENCE, secret: TOKEN_SECRET });
/** Tokens as verify issues them (same claims, header and key), one per one-time use. */
function mintTokens(count: number): string[] {
  const now = Math.floor(Date.now() / 1000);
  return Array.from({ length: count }, () => {
    const claims: StepUpClaims = {
      iss: ISSUER, aud: AUDIENCE, sub: GUARD_USER, iat: now, exp: now + 900, auth_time: now, jti: newTokenId(),
      acr: 'urn:whatsapp-stepup:acr:oob-whatsapp', amr: ['otp', 'mca'], purpose: 'login', cid: randomId(), chn: 'outbox',
    };
    return signToken(tokenConfig, claims);
  });
}
const guardRequest = (token: string): CannonRequest => ({
  method: 'GET', path: '/guarded', headers: { 'step-up-token': token, authorization: `Bearer ${token}`, 'x-user': GUARD_USER },
});

/** A token from a real verify over HTTP, for the guards that take the same token again and again. */
async function realToken(server: ServerProcess): Promise<string> {
  const [item] = (await server.ask<'prepared'>({ type: 'prepare', role: 'ours', count: 1, first: nextUser })).items;
  nextUser++;
  const response = await fetch(`http://127.0.0.1:${server.ports.ours}${item!.path}`, { method: 'POST', body: item!.body, headers: { 'content-type': 'application/json', 'x-user': item!.user } });
  const { token } = (await response.json()) as { token: string };
  // The guard routes are for GUARD_USER: the same claims as this token, for that user.
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as StepUpClaims;
  return signToken(tokenConfig, { ...claims, sub: GUARD_USER });
}

// ---- floor challenges ---------------------------------------------------------------------

/** Verify requests for the floor: hashes with the same digest the floor computes, loaded by pipeline. */
function floorPrepared(redis: Redis, digestOf: (id: string, code: string) => string): Feed {
  return {
    kind: 'prepared',
    take: async (count) => {
      const items: PreparedRequest[] = [];
      let pipeline = redis.pipeline();
      for (let i = 0; i < count; i++) {
        const id = randomId();
        const code = String(Math.floor(Math.random() * 1e6)).padStart(6, '0');
        const user = userOf(nextUser++);
        pipeline.hset(`floor:ch:{${id}}`, 'sub', user, 'dig', digestOf(id, code), 'exp', Date.now() + 300_000);
        pipeline.pexpire(`floor:ch:{${id}}`, 600_000);
        items.push({ path: `/stepup/challenges/${id}/verify`, user, body: JSON.stringify({ code }) });
        if (i % 2000 === 1999) {
          await pipeline.exec();
          pipeline = redis.pipeline();
        }
      }
      await pipeline.exec();
      let index = 0;
      return () => fromPrepared(items[index++]!);
    },
  };
}

function oursPrepared(role: 'ours' | 'oursLarge'): (server: ServerProcess) => Promise<Feed> {
  return async (server) => ({
    kind: 'prepared',
    take: async (count) => {
      const first = nextUser;
      nextUser += count;
      const { items } = await server.ask<'prepared'>({ type: 'prepare', role, count, first });
      let index = 0;
      return () => fromPrepared(items[index++]!);
    },
  });
}

// ---- the figures ------------------------------------------------------------------------

async function framework(name: Framework, redis: RedisHandle, client: Redis): Promise<void> {
  await client.flushall();
  const server = await ServerProcess.start(name, redis.url);
  try {
    if (wanted('verify')) {
      await compare(server, name, 'verify', [
        { name: 'ours', role: 'ours', request: oursPrepared('ours') },
        { name: 'floor', role: 'floor', request: async () => floorPrepared(client, floorDigestOf) },
      ], [{ baseline: 'floor', figure: '1 verify / floor', target: '≥ 0.85', met: (r) => r >= 0.85 }]);
    }
    if (wanted('start')) {
      await compare(server, name, 'start', [
        { name: 'ours', role: 'ours', request: async () => ({ kind: 'endless', next: startRequest }) },
        { name: 'floor', role: 'floor', request: async () => ({ kind: 'endless', next: startRequest }) },
        { name: 'floor + duties', role: 'floor', request: async () => ({ kind: 'endless', next: () => ({ ...startRequest(), path: '/duties/challenges' }) }) },
      ], [
        { baseline: 'floor', figure: '2 start (outbox) / floor', target: '≥ 0.80', met: (r) => r >= 0.8 },
        { baseline: 'floor + duties', figure: "2 start / floor doing start's duties", target: '(none)' },
        { of: 'floor + duties', baseline: 'floor', figure: "2 floor doing start's duties / floor", target: '(none)' },
      ]);
    }
    if (wanted('guard')) {
      const token = await realToken(server);
      const contenders: Contender[] = [
        { name: 'ours', role: 'ours', request: async () => ({ kind: 'fixed', request: guardRequest(token) }) },
        { name: 'floor', role: 'floor', request: async () => ({ kind: 'fixed', request: guardRequest(token) }) },
        { name: 'passport-jwt', role: 'passport', request: async () => ({ kind: 'fixed', request: guardRequest(token) }) },
      ];
      if (server.ports.expressJwt) contenders.push({ name: 'express-jwt', role: 'expressJwt', request: async () => ({ kind: 'fixed', request: guardRequest(token) }) });
      await compare(server, name, 'guard', contenders, [
        { baseline: 'floor', figure: '3 guard / floor', target: '≥ 0.90', met: (r) => r >= 0.9 },
        { baseline: 'passport-jwt', figure: '3 guard / passport-jwt', target: '≥ 3.5', met: (r) => r >= 3.5 },
        ...(server.ports.expressJwt ? [{ baseline: 'express-jwt', figure: '3 guard / express-jwt', target: '(none)' }] : []),
      ]);
      if (!server.ports.expressJwt) rows.push({ figure: '3 guard / express-jwt', framework: name, ours: '—', baseline: 'n/a', ratio: undefined, target: '(none)', met: undefined, unit: '', note: 'express-jwt is Express middleware' });
    }
    if (wanted('oneTime')) {
      const onceFeed = (): Feed => ({
        kind: 'prepared',
        take: async (count) => {
          const tokens = mintTokens(count);
          let index = 0;
          return () => ({ ...guardRequest(tokens[index++]!), path: '/guarded-once' });
        },
      });
      await compare(server, name, 'guard oneTime', [
        { name: 'ours', role: 'ours', request: async () => onceFeed() },
        { name: 'floor', role: 'floor', request: async () => onceFeed() },
      ], [{ baseline: 'floor', figure: '4 guard oneTime / floor', target: '≥ 0.90', met: (r) => r >= 0.9 }]);
    }
    if (wanted('trips') && name === FRAMEWORKS[0]) await roundTrips(server);
    if (wanted('memory') && name === FRAMEWORKS[0]) await memory(server, client);
    if (wanted('scale')) await scale(server, name, client);
  } finally {
    await server.stop();
  }
}

/** The floor's code digest (the driver loads floor challenges with the digest the floor computes). */
const floorDigestKey = createSecretKey(Buffer.from(FLOOR_DIGEST_SECRET));
const floorDigestOf = (id: string, code: string) => createHmac('sha256', floorDigestKey).update(`${id}:${code}`).digest('base64url');

async function roundTrips(server: ServerProcess): Promise<void> {
  const token = await realToken(server);
  const first = nextUser;
  nextUser += 100;
  const { trips } = await server.ask<'counted'>({ type: 'count', token, onceTokens: mintTokens(21), first });
  const targets: Record<string, number> = { start: 1, verify: 1, 'guard oneTime': 1, guard: 0 };
  for (const [operation, { roundTrips, commands }] of Object.entries(trips)) {
    rows.push({
      figure: `5 Redis round trips: ${operation}`, framework: 'store', unit: 'round trips', ours: roundTrips, baseline: '—', ratio: undefined,
      target: `= ${targets[operation]}`, met: roundTrips === targets[operation], note: `${commands} commands`,
    });
  }
}

async function memory(server: ServerProcess, client: Redis): Promise<void> {
  await client.flushall();
  const count = settings.memoryChallenges;
  const first = nextUser;
  nextUser += count;
  const before = Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1]);
  await server.ask<'prepared'>({ type: 'prepare', role: 'ours', count, first });
  const after = Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1]);
  const ours = await usageByKind(client, count, (key) => (/^stepup:\{[^}]*\}ch:/.test(key) ? 'challenge hash'
    : /^stepup:\{[^}]*\}lim:failures:/.test(key) ? 'user failure record'
      : key.startsWith('stepup:lim:') ? `limit ${key.slice(12).split(':')[0]}` : key.startsWith('stepup:fact:') ? 'message fact' : 'other'));
  rows.push({
    figure: '6 Redis memory per pending challenge', framework: 'store', unit: 'bytes', ours: ours.perChallenge, baseline: '—', ratio: undefined,
    target: '≤ 300', met: ours.perChallenge <= 300,
    note: `MEMORY USAGE over ${count} challenges of distinct users, numbers and IPs (every limit key its own): ${ours.breakdown}; used_memory grew ${Math.round((after - before) / count)} B per challenge`,
  });

  // The same count of starts through the floor that does a start's duties, for what any
  // implementation keeping those keys (a challenge, a counter per limit, a message fact) holds.
  await client.flushall();
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < count) {
      const { method, path, headers, body } = { ...startRequest(), path: '/duties/challenges' };
      next++;
      const response = await fetch(`http://127.0.0.1:${server.ports.floor}${path}`, { method, headers: headers as Record<string, string>, body });
      if (response.status !== 201) throw new Error(`floor start with duties: HTTP ${response.status}`);
      await response.arrayBuffer();
    }
  }));
  const floor = await usageByKind(client, count, (key) => (key.startsWith('floor:ch:') ? 'challenge hash' : key.startsWith('floor:lim:') ? 'limit counters' : key.startsWith('floor:fact:') ? 'message fact' : 'other'));
  rows.push({
    figure: "6 Redis memory, floor doing start's duties", framework: 'store', unit: 'bytes', ours: floor.perChallenge, baseline: '—', ratio: undefined,
    target: '(none)', met: undefined, note: `the same ${count} starts through the floor doing a start's duties: ${floor.breakdown}`,
  });
}

/** MEMORY USAGE of every key, by the kind `kindOf` names, per challenge. */
async function usageByKind(client: Redis, count: number, kindOf: (key: string) => string): Promise<{ perChallenge: number; breakdown: string }> {
  const byKind = new Map<string, { keys: number; bytes: number }>();
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'COUNT', 1000);
    cursor = next;
    const pipeline = client.pipeline();
    for (const key of keys) pipeline.memory('USAGE', key, 'SAMPLES', 0);
    const sizes = (await pipeline.exec())!.map(([, size]) => Number(size));
    keys.forEach((key, i) => {
      const kind = kindOf(key);
      const entry = byKind.get(kind) ?? { keys: 0, bytes: 0 };
      entry.keys++;
      entry.bytes += sizes[i]!;
      byKind.set(kind, entry);
    });
  } while (cursor !== '0');
  const total = [...byKind.values()].reduce((sum, entry) => sum + entry.bytes, 0);
  const breakdown = [...byKind.entries()].map(([kind, { keys, bytes }]) => `${kind} ${Math.round(bytes / count)} B (${keys} keys)`).join(', ');
  return { perChallenge: total / count, breakdown };
}

async function scale(server: ServerProcess, name: Framework, client: Redis): Promise<void> {
  const large = new Redis(client.options.port!, client.options.host!, { db: 1 });
  try {
    await client.flushall();
    // The template: a real pending challenge's hash, copied under fresh ids.
    const [item] = (await server.ask<'prepared'>({ type: 'prepare', role: 'ours', count: 1, first: nextUser++ })).items;
    const id = /challenges\/([^/]+)\/verify/.exec(item!.path)![1]!;
    const template = await client.hgetall(`stepup:{${id.slice(0, 4)}}ch:${id}`);
    const load = async (redis: Redis, count: number) => {
      const started = performance.now();
      for (let done = 0; done < count; ) {
        const pipeline = redis.pipeline();
        const batch = Math.min(5_000, count - done);
        for (let i = 0; i < batch; i++) {
          // A fresh id under a random tag: fillers of many users, spread as real ones would be.
          const fresh = randomId().slice(0, 4) + randomId();
          pipeline.hset(`stepup:{${fresh.slice(0, 4)}}ch:${fresh}`, { ...template, id: fresh });
          pipeline.pexpire(`stepup:{${fresh.slice(0, 4)}}ch:${fresh}`, 3_600_000);
        }
        await pipeline.exec();
        done += batch;
      }
      return (performance.now() - started) / 1000;
    };
    await load(client, settings.small);
    const seconds = await load(large, settings.large);
    const perRound = Math.round(settings.scaleRate * settings.runSeconds);
    const feeds = { small: await oursPrepared('ours')(server), large: await oursPrepared('oursLarge')(server) };
    const how = { amount: perRound, rate: settings.scaleRate, connections: 8 };
    // Warm both.
    for (const [role, feed] of [['ours', feeds.small], ['oursLarge', feeds.large]] as const) check(`${name} scale warm-up`, await run(server, role, feed, { ...how, amount: Math.min(perRound, SMOKE ? 50 : 500) }));
    const p99 = { small: [] as number[], large: [] as number[] };
    for (let round = 0; round < settings.rounds; round++) {
      const order = round % 2 === 0 ? (['small', 'large'] as const) : (['large', 'small'] as const);
      for (const which of order) {
        const result = await run(server, which === 'small' ? 'ours' : 'oursLarge', feeds[which], how);
        check(`${name} scale ${which}`, result);
        p99[which].push(result.p99);
      }
    }
    const dbsize = await large.dbsize();
    const ratio = median(p99.large.map((value, i) => value / p99.small[i]!));
    console.log(`  ${name} scale: ${settings.large} pending loaded in ${seconds.toFixed(1)} s; p99 small ${p99.small.map((v) => v.toFixed(2)).join(', ')} ms | large ${p99.large.map((v) => v.toFixed(2)).join(', ')} ms`);
    rows.push({
      figure: `7 verify p99, ${settings.large.toLocaleString('en')} / ${settings.small.toLocaleString('en')} pending`, framework: name, unit: 'ms', ours: median(p99.large), baseline: median(p99.small),
      ratio, target: '≤ 1.10', met: ratio <= 1.1,
      rounds: p99.large.map((value, i) => ({ ours: value, baseline: p99.small[i]!, ratio: value / p99.small[i]! })),
      note: `${settings.scaleRate} req/s over 8 connections, the same server process, its two stepup services on db 1 (${dbsize} keys) and db 0`,
    });
  } finally {
    await large.flushdb();
    large.disconnect();
  }
}

// ---- main ------------------------------------------------------------------------------

const format = (value: number | string, unit: string) => (typeof value === 'string' ? value : unit === 'ms' ? value.toFixed(2) : unit === 'round trips' ? String(Math.round(value * 100) / 100) : Math.round(value).toLocaleString('en'));

/** The median ratio and, over several rounds, the lowest and highest: how far to trust `met?`. */
function ratioCell(row: Row): string {
  if (row.ratio === undefined) return '—';
  const ratios = row.rounds?.map((round) => round.ratio) ?? [];
  if (ratios.length < 2) return row.ratio.toFixed(2);
  return `${row.ratio.toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;
}

function table(): string {
  const header = ['figure', 'adapter', 'ours', 'baseline', 'ratio (rounds)', 'target', 'met?'];
  const lines = rows.map((row) => [
    row.figure, row.framework, `${format(row.ours, row.unit)}${row.unit && typeof row.ours === 'number' ? ` ${row.unit}` : ''}`,
    typeof row.baseline === 'number' ? `${format(row.baseline, row.unit)} ${row.unit}` : row.baseline,
    ratioCell(row), row.target, row.met === undefined ? '—' : row.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...lines.map((line) => line[i]!.length)));
  const render = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  return [render(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(render)].join('\n');
}

/**
 * The servers load the package as users run it: built by tsup with the package's own config
 * (ESM only, no declarations), not src through tsx, whose esbuild transform adds a `__name`
 * call to every function it creates (about 2 us per guarded request in a profile). The build
 * goes inside the project, so that it resolves the project's node_modules.
 */
const cacheDir = join(here, '..', 'node_modules', '.cache');
mkdirSync(cacheDir, { recursive: true });
const buildDir = mkdtempSync(join(cacheDir, 'stepup-bench-build-'));
await build({
  ...(packageBuild as Parameters<typeof build>[0]),
  entry: Object.fromEntries(['index', 'express/index', 'koa/index'].map((entry) => [entry, join(here, '..', 'src', `${entry}.ts`)])),
  format: ['esm'], outDir: buildDir, dts: false, sourcemap: false, clean: false, silent: true, config: false,
});

const startedAt = new Date();
const since = () => `${(performance.now() / 1000).toFixed(1)} s`;
const redis = await startRedis();
const client = new Redis(redis.url);
try {
  pin(process.pid, 0);
  pin(Number(/process_id:(\d+)/.exec(await client.info('server'))![1]), 0);
  const redisVersion = /redis_version:(\S+)/.exec(await client.info('server'))![1];
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, redis-server ${redisVersion}`;
  console.log(`whatsapp-stepup bench${SMOKE ? ' (smoke: numbers mean nothing)' : ''}: ${machine}`);
  console.log(`cores: ${cores}`);
  console.log(`store client: the README's options, enableAutoPipelining ${AUTOPIPELINING ? 'on' : 'off (BENCH_AUTOPIPELINING=0)'}`);
  console.log(`limits: every default on; each start and each prepared challenge is for its own user, number (spread over number ranges) and IP, so none bites`);
  console.log(`rounds: ${settings.rounds} × ${settings.runSeconds} s per server, alternating, ${settings.connections} connections; ratio = median over rounds of ours / baseline, in brackets the lowest and highest round`);
  for (const name of FRAMEWORKS) await framework(name, redis, client);
  const output = table();
  console.log(`\n${output}`);
  for (const row of rows.filter((r) => r.note)) console.log(`- ${row.figure} (${row.framework}): ${row.note}`);
  if (problems.length > 0) console.log(`\nPROBLEMS:\n${problems.map((p) => `- ${p}`).join('\n')}`);
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify({ startedAt: startedAt.toISOString(), smoke: SMOKE, machine, cores, autoPipelining: AUTOPIPELINING, settings, rows, problems }, null, 2)}\n`);
  console.log(`\nwritten: ${OUT}`);
  if (problems.length > 0) process.exitCode = 1;
} finally {
  client.disconnect();
  await redis.stop();
  rmSync(buildDir, { recursive: true, force: true });
}
