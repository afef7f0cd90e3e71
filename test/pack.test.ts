import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisUrl } from './support/redis.js';

// Tests the package as users get it (tarball, dual ESM/CJS build, subpath
// exports, optional framework peers), which importing src/ can never catch: installed,
// without --legacy-peer-deps, beside each major of the peers it supports (Express 5 and 4,
// Koa 3 and 2, ioredis 6 and 5), one consumer project per combination.

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const STEP_TIMEOUT_MS = 180_000;
const FRAMEWORKS = /[\\/]node_modules[\\/](express|koa|passport|passport-custom)[\\/]/;

const ROOT_EXPORTS = ['createStepUp', 'MemoryStore', 'RedisStore', 'OutboxChannel', 'StepUpError'];
const EXPRESS_EXPORTS = ['stepUpRouter', 'requireStepUp'];
const KOA_EXPORTS = ['stepUpRouter', 'requireStepUp'];
const PASSPORT_EXPORTS = ['WhatsAppOtpStrategy'];
const STORE_EXPORTS = ['admitInSteps'];

interface ProbeResult {
  root: Record<string, string>;
  express: Record<string, string>;
  koa: Record<string, string>;
  passport: Record<string, string>;
  store: Record<string, string>;
  /** Framework files in the module cache right after loading only the root entry. */
  frameworksLoadedByRoot: string[];
}

function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}): string {
  const result = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    timeout: STEP_TIMEOUT_MS,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CI: 'true', ...env },
  });
  if (result.error || result.status !== 0) {
    const why = result.error ? result.error.message : `exit status ${String(result.status)}`;
    throw new Error(
      `\`${command} ${args.join(' ')}\` in ${cwd} failed (${why})\n` +
        `--- stdout ---\n${result.stdout.slice(-4_000)}\n--- stderr ---\n${result.stderr.slice(-4_000)}`,
    );
  }
  return result.stdout;
}

/** `run` without blocking the worker: the consumers install side by side. */
function runAsync(command: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: 'true' }, timeout: STEP_TIMEOUT_MS });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => {
      if (status === 0) return resolvePromise(stdout);
      reject(new Error(
        `\`${command} ${args.join(' ')}\` in ${cwd} failed (exit status ${String(status)})\n` +
          `--- stdout ---\n${stdout.slice(-4_000)}\n--- stderr ---\n${stderr.slice(-4_000)}`,
      ));
    });
  });
}

/** The last line a probe printed, as JSON. */
function lastJson(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
}

// Shared by both probes: report export types and which frameworks the root
// entry pulled in. Framework packages are CommonJS, so even an ESM import of
// them lands in the CJS module cache that `cache` refers to.
const REPORT = `
  const types = (mod, names) => Object.fromEntries(names.map((n) => [n, typeof mod[n]]));
  const frameworks = (cache) => Object.keys(cache).filter((p) => ${FRAMEWORKS.toString()}.test(p));
`;

const ESM_PROBE = `
  import { createRequire } from 'node:module';
  ${REPORT}
  const cache = createRequire(import.meta.url).cache;
  const root = await import('whatsapp-stepup');
  const frameworksLoadedByRoot = frameworks(cache);
  const express = await import('whatsapp-stepup/express');
  const { stepUpRouter } = await import('whatsapp-stepup/koa');
  const koa = await import('whatsapp-stepup/koa');
  const passport = await import('whatsapp-stepup/passport');
  const store = await import('whatsapp-stepup/store');
  console.log(JSON.stringify({
    root: types(root, ${JSON.stringify(ROOT_EXPORTS)}),
    express: types(express, ${JSON.stringify(EXPRESS_EXPORTS)}),
    koa: { ...types(koa, ${JSON.stringify(KOA_EXPORTS)}), stepUpRouter: typeof stepUpRouter },
    passport: types(passport, ${JSON.stringify(PASSPORT_EXPORTS)}),
    store: types(store, ${JSON.stringify(STORE_EXPORTS)}),
    frameworksLoadedByRoot,
  }));
`;

const CJS_PROBE = `
  ${REPORT}
  const root = require('whatsapp-stepup');
  const frameworksLoadedByRoot = frameworks(require.cache);
  const express = require('whatsapp-stepup/express');
  const { stepUpRouter } = require('whatsapp-stepup/koa');
  const koa = require('whatsapp-stepup/koa');
  const passport = require('whatsapp-stepup/passport');
  const store = require('whatsapp-stepup/store');
  console.log(JSON.stringify({
    root: types(root, ${JSON.stringify(ROOT_EXPORTS)}),
    express: types(express, ${JSON.stringify(EXPRESS_EXPORTS)}),
    koa: { ...types(koa, ${JSON.stringify(KOA_EXPORTS)}), stepUpRouter: typeof stepUpRouter },
    passport: types(passport, ${JSON.stringify(PASSPORT_EXPORTS)}),
    store: types(store, ${JSON.stringify(STORE_EXPORTS)}),
    frameworksLoadedByRoot,
  }));
`;

// The ESM root with the CommonJS express entry: two copies of the core in one process.
// A refusal must still be a 401 (an unrecognized error would be a 500).
const MIXED_PROBE = `
  import { createRequire } from 'node:module';
  import { once } from 'node:events';
  const require = createRequire(import.meta.url);
  const esm = await import('whatsapp-stepup');
  const cjs = require('whatsapp-stepup');
  const { requireStepUp } = require('whatsapp-stepup/express');
  const express = require('express');
  const stepup = esm.createStepUp({
    store: new esm.MemoryStore(), channels: [new esm.OutboxChannel()], pepper: '6FZ5BTFiKD5QL2353uuvZbfaB8lHHXTi1QAu6v1J8v4=',
    tokens: { issuer: 'https://a.example', audience: 'https://a.example', secret: 'sSWLfUtHl9BvadH5zJyF4FNgSIGoywwao5KhY+eFgYI=' },
  });
  const app = express();
  app.get('/guarded', requireStepUp(stepup, { purpose: 'login', subject: () => 'u1' }), (req, res) => res.send('passed'));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const response = await fetch('http://127.0.0.1:' + server.address().port + '/guarded');
  server.close();
  console.log(JSON.stringify({
    status: response.status,
    crossInstanceof: new cjs.StepUpError('invalid_request', 'x') instanceof esm.StepUpError,
    rejectedBranch: new cjs.StepUpError('store_unavailable', 'x') instanceof esm.StepUpRejectedError,
  }));
`;

// The Koa entry from the tarball in a real Koa app: a challenge is started (201) and the
// guard refuses a request without a token (401 with its challenge), from both module formats.
const KOA_PROBE = (load: string) => `
  import { createRequire } from 'node:module';
  import { once } from 'node:events';
  const require = createRequire(import.meta.url);
  const { createStepUp, MemoryStore, OutboxChannel } = await import('whatsapp-stepup');
  const { stepUpRouter, requireStepUp } = ${load};
  const Koa = require('koa');
  const stepup = createStepUp({
    store: new MemoryStore(), channels: [new OutboxChannel()], pepper: '6FZ5BTFiKD5QL2353uuvZbfaB8lHHXTi1QAu6v1J8v4=',
    tokens: { issuer: 'https://a.example', audience: 'https://a.example', secret: 'sSWLfUtHl9BvadH5zJyF4FNgSIGoywwao5KhY+eFgYI=' },
  });
  const app = new Koa();
  app.use(stepUpRouter(stepup, { prefix: '/stepup', resolveSubject: () => ({ id: 'u1', phone: '+34612345678' }) }));
  const guard = requireStepUp(stepup, { purpose: 'login', subject: () => 'u1' });
  app.use((ctx, next) => (ctx.path === '/guarded' ? guard(ctx, () => { ctx.body = 'passed'; }) : next()));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = 'http://127.0.0.1:' + server.address().port;
  const started = await fetch(base + '/stepup/challenges', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"purpose":"login"}' });
  const guarded = await fetch(base + '/guarded');
  server.close();
  console.log(JSON.stringify({ started: started.status, guarded: guarded.status, challenge: (guarded.headers.get('www-authenticate') ?? '').split(' ')[0] }));
`;

// `whatsapp-stepup/testing` from the tarball: the fake WhatsApp starts, and its lastCode
// helper reads the code that whatsappCloudChannel (root entry, same module format) sent.
const TESTING_EXPORTS = ['startFakeWhatsApp', 'startFakeTwilio', 'startFakeMessageCentral', 'signMetaWebhook'];
const TESTING_PROBE = (load: (specifier: string) => string) => `
  import { createRequire } from 'node:module';
  const require = createRequire(import.meta.url);
  const testing = ${load('whatsapp-stepup/testing')};
  const root = ${load('whatsapp-stepup')};
  const fake = await testing.startFakeWhatsApp();
  try {
    const whatsapp = root.whatsappCloudChannel({
      phoneNumberId: fake.phoneNumberId, accessToken: fake.accessToken, baseUrl: fake.baseUrl,
      template: { name: 'login_code', language: { '*': 'en_US' } },
    });
    const stepup = root.createStepUp({
      store: new root.MemoryStore(), channels: [whatsapp], pepper: '6FZ5BTFiKD5QL2353uuvZbfaB8lHHXTi1QAu6v1J8v4=',
      tokens: { issuer: 'https://a.example', audience: 'https://a.example', secret: 'sSWLfUtHl9BvadH5zJyF4FNgSIGoywwao5KhY+eFgYI=' },
    });
    const view = await stepup.start({ subject: 'u1', phone: '+34612345678', purpose: 'login' });
    const code = fake.lastCode('+34612345678');
    const { claims } = await stepup.verify(view.challengeId, code, { subject: 'u1' });
    console.log(JSON.stringify({
      exports: Object.fromEntries(${JSON.stringify(TESTING_EXPORTS)}.map((n) => [n, typeof testing[n]])),
      baseUrl: /^http:\\/\\/127\\.0\\.0\\.1:\\d+$/.test(fake.baseUrl),
      code: /^\\d{6}$/.test(code ?? ''),
      sent: fake.requests.filter((r) => r.code === code).length,
      channel: view.channel,
      chn: claims.chn,
    }));
  } finally {
    await fake.close();
  }
`;

const allFunctions = (names: string[]): Record<string, string> =>
  Object.fromEntries(names.map((name) => [name, 'function']));

function probe(consumer: string, args: string[]): ProbeResult {
  const stdout = run(process.execPath, args, consumer);
  const line = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as ProbeResult;
}

// A consumer's TypeScript app (strict, with our declarations checked: skipLibCheck off),
// compiled (tsc emits despite errors elsewhere) with the repo's tsc against the consumer's own @types and run: both adapters
// type-check against the framework major installed, `req.stepUp` and `ctx.state.stepUp`
// are typed, and a RedisStore on the installed ioredis starts and verifies a challenge.
const CONSUMER_APP = `
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import express from 'express';
import Koa from 'koa';
import { Redis } from 'ioredis';
import { createStepUp, OutboxChannel, RedisStore, type StepUpClaims } from 'whatsapp-stepup';
import { requireStepUp, stepUpRouter } from 'whatsapp-stepup/express';
import type { ChallengeStore } from 'whatsapp-stepup/store';
import { requireStepUp as koaRequireStepUp, stepUpRouter as koaStepUpRouter } from 'whatsapp-stepup/koa';

const client = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false });
const outbox = new OutboxChannel();
// The contract of whatsapp-stepup/store is the one the root's stores implement.
const store: ChallengeStore = new RedisStore({ client, prefix: 'pack:' + process.pid + ':' });
const stepup = createStepUp({
  store,
  channels: [outbox],
  pepper: '6FZ5BTFiKD5QL2353uuvZbfaB8lHHXTi1QAu6v1J8v4=',
  tokens: { issuer: 'https://a.example', audience: 'https://a.example', secret: 'sSWLfUtHl9BvadH5zJyF4FNgSIGoywwao5KhY+eFgYI=' },
});

const app = express();
app.use('/stepup', stepUpRouter(stepup, { resolveSubject: (req) => ({ id: req.get('x-user') ?? 'u1', phone: '+34612345678' }) }));
app.post('/payments', express.json(), requireStepUp(stepup, {
  purpose: 'payment',
  subject: (req) => req.get('x-user') ?? 'u1',
  transaction: (req) => ({ id: String(req.body.id), amount: String(req.body.amount), currency: 'EUR', payee: 'ES9121000418450200051332' }),
}), (req, res) => {
  const claims: StepUpClaims | undefined = req.stepUp;
  res.json({ sub: claims?.sub });
});

const koa = new Koa()
  .use(koaStepUpRouter(stepup, { prefix: '/stepup', resolveSubject: (ctx) => ({ id: ctx.get('x-user') || 'u1', phone: '+34612345678' }) }))
  .use(koaRequireStepUp(stepup, { purpose: 'login', subject: () => 'u1' }))
  .use((ctx) => {
    const claims: StepUpClaims = ctx.state.stepUp;
    ctx.body = { sub: claims.sub };
  });

const view = await stepup.start({ subject: 'u1', phone: '+34612345678', purpose: 'login' });
const code = outbox.messages().find((message) => message.challengeId === view.challengeId)!.code;
const { claims } = await stepup.verify(view.challengeId, code, { subject: 'u1' });
client.disconnect();
// The store that makes its own client, on the installed ioredis.
const ownStore = new RedisStore({ url: process.env.REDIS_URL!, prefix: 'pack-url:' + process.pid + ':' });
await ownStore.ready();
const ownOutbox = new OutboxChannel();
const own = createStepUp({ store: ownStore, channels: [ownOutbox], pepper: '6FZ5BTFiKD5QL2353uuvZbfaB8lHHXTi1QAu6v1J8v4=', tokens: { issuer: 'https://a.example', audience: 'https://a.example', secret: 'sSWLfUtHl9BvadH5zJyF4FNgSIGoywwao5KhY+eFgYI=' } });
const ownView = await own.start({ subject: 'u2', phone: '+34612345678', purpose: 'login' });
const ownCode = ownOutbox.messages().find((message) => message.challengeId === ownView.challengeId)!.code;
const fromUrl = (await own.verify(ownView.challengeId, ownCode, { subject: 'u2' })).claims.sub === 'u2';
await ownStore.close();
const version = (name: string): string => {
  const main = createRequire(import.meta.url).resolve(name);
  const root = main.slice(0, main.lastIndexOf('/node_modules/' + name + '/') + '/node_modules/'.length + name.length);
  return (JSON.parse(readFileSync(root + '/package.json', 'utf8')) as { version: string }).version;
};
console.log(JSON.stringify({
  sub: claims.sub, cid: claims.cid === view.challengeId, fromUrl,
  apps: typeof app === 'function' && typeof koa.callback === 'function',
  ioredis: version('ioredis').split('.')[0], express: version('express').split('.')[0], koa: version('koa').split('.')[0],
}));
`;

const CONSUMER_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false,
    esModuleInterop: true, types: ['node'], outDir: 'out', rootDir: '.',
  },
  files: ['app.ts'],
};

const PEERS = ['passport@0.7.0', 'passport-custom@1.2.1', '@types/node@20.19.43'];
/** Each combination of majors the peer ranges admit, installed in a consumer of its own. */
const CONSUMERS = [
  { name: 'Express 5, Koa 3, ioredis 6', majors: { express: '5', koa: '3', ioredis: '6' }, packages: ['express@5.3.0', 'koa@3.3.0', 'ioredis@6.0.0', '@types/express@5.0.6', '@types/koa@3.0.3'] },
  { name: 'Express 4, Koa 2, ioredis 5', majors: { express: '4', koa: '2', ioredis: '5' }, packages: ['express@4.22.3', 'koa@2.16.4', 'ioredis@5.11.1', '@types/express@4.17.25', '@types/koa@2.15.2'] },
] as const;

interface Packed {
  scratch: string;
  tarball: string;
  /** The .tgz's size in bytes. */
  size: number;
  /** Every path in the tarball, relative to the package root. */
  files: string[];
  consumers: Record<string, string>;
}

/** The issue-17 bound on the packed tarball (650 kB when each entry bundled its own core). */
const MAX_TARBALL_BYTES = 250_000;

let packing: Promise<Packed> | undefined;

/** Builds and packs once, then installs every consumer side by side. */
function pack(): Promise<Packed> {
  packing ??= (async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'stepup-pack-'));
    const packDir = join(scratch, 'pack');
    mkdirSync(packDir);
    await runAsync('npm', ['run', 'build'], REPO);
    // Already built: skip the prepack hook so we do not build twice.
    const [report] = JSON.parse(await runAsync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', packDir], REPO)) as {
      filename: string; size: number; files: { path: string }[];
    }[];
    if (!report) throw new Error(`npm pack produced no tarball in ${packDir}`);
    const tarball = join(packDir, report.filename);
    const consumers: Record<string, string> = {};
    await Promise.all(CONSUMERS.map(async ({ name, packages }, index) => {
      const consumer = join(scratch, `consumer-${index}`);
      mkdirSync(consumer);
      consumers[name] = consumer;
      writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: `stepup-pack-consumer-${index}`, version: '0.0.0', private: true, type: 'module' }, null, 2));
      writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify(CONSUMER_TSCONFIG, null, 2));
      writeFileSync(join(consumer, 'app.ts'), CONSUMER_APP);
      await runAsync('npm', ['install', tarball, ...packages, ...PEERS, '--no-audit', '--no-fund', '--prefer-offline'], consumer);
    }));
    return { scratch, tarball, size: report.size, files: report.files.map((file) => file.path), consumers };
  })();
  return packing;
}

afterAll(async () => {
  const packed = await packing?.catch(() => undefined);
  if (packed) rmSync(packed.scratch, { recursive: true, force: true });
});

describe('packed tarball', () => {
  it(`holds one copy of each module per format, no source maps, and at most ${MAX_TARBALL_BYTES / 1000} kB`, async () => {
    const { size, files } = await pack();
    console.log(`packed tarball: ${(size / 1000).toFixed(1)} kB, ${files.length} files`);
    expect(files.filter((file) => file.endsWith('.map'))).toEqual([]);
    // esbuild writes a class with static members as `var StepUpError = class extends Error`.
    const definitions = (extension: string): string[] =>
      files
        .filter((file) => file.startsWith('dist/') && file.endsWith(extension))
        .filter((file) => /\bclass StepUpError\b|\bStepUpError = class\b/.test(readFileSync(join(REPO, file), 'utf8')));
    expect(definitions('.js')).toHaveLength(1);
    expect(definitions('.cjs')).toHaveLength(1);
    expect(size).toBeLessThanOrEqual(MAX_TARBALL_BYTES);
  }, 3 * STEP_TIMEOUT_MS + 30_000);

  it('declares at most 40 names in the root entry (what an application uses; store authors have /store)', async () => {
    await pack();
    const declarations = readFileSync(join(REPO, 'dist/index.d.ts'), 'utf8');
    const names = [...declarations.matchAll(/^export \{([^}]*)\}/gm)].flatMap((match) =>
      match[1]!.split(',').map((name) => name.trim().split(/\s+/).pop()!).filter(Boolean));
    console.log(`root entry: ${names.length} names`);
    expect(names).toContain('createStepUp');
    expect(names).not.toContain('admitInSteps');
    expect(names.length).toBeLessThanOrEqual(40);
  }, 3 * STEP_TIMEOUT_MS + 30_000);
});

describe('packaging linters on the tarball', () => {
  it('publint (strict) and arethetypeswrong find no problem in any entry, node10 resolution included', async () => {
    const { tarball } = await pack();
    const lint = run(join(REPO, 'node_modules/.bin/publint'), ['--strict', tarball], REPO);
    console.log(lint.trim());
    expect(lint).toContain('All good!');
    // Every entry of `exports`, under node10, node16 (from CJS and from ESM) and bundler resolution.
    const types = run(join(REPO, 'node_modules/.bin/attw'), ['--format', 'table-flipped', tarball], REPO);
    console.log(types.trim());
    expect(types).toContain('No problems found');
  }, 3 * STEP_TIMEOUT_MS + 30_000);
});

for (const { name, majors } of CONSUMERS) describe(`packed tarball beside ${name}`, () => {
  let consumer = '';

  beforeAll(async () => {
    consumer = (await pack()).consumers[name]!;
  }, 3 * STEP_TIMEOUT_MS + 30_000);

  it('type-checks a consumer app against these majors (strict, declarations checked), and its RedisStore starts and verifies on a real Redis', () => {
    // Errors only in our declarations or the app count: a framework's own @types may not
    // compile under skipLibCheck off (@types/koa 3 against its content-disposition), which is not ours to fix.
    const compiled = spawnSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', consumer], { cwd: consumer, encoding: 'utf8', timeout: STEP_TIMEOUT_MS });
    const ours = compiled.stdout.split('\n').filter((line) => /^(app\.ts|node_modules\/whatsapp-stepup\/)/.test(line));
    expect(ours).toEqual([]);
    const result = lastJson(run(process.execPath, ['out/app.js'], consumer, { REDIS_URL: redisUrl() }));
    expect(result).toEqual({ sub: 'u1', cid: true, fromUrl: true, apps: true, ...majors });
    // tsc over the app with every declaration checked takes 15-30 s on a 2-core machine.
  }, STEP_TIMEOUT_MS);

  it('recognizes errors across the ESM and CommonJS copies of the core', () => {
    const result = lastJson(run(process.execPath, ['--input-type=module', '-e', MIXED_PROBE], consumer));
    expect(result).toEqual({ status: 401, crossInstanceof: true, rejectedBranch: false });
  });

  for (const [format, load] of [
    ['ESM import', "await import('whatsapp-stepup/koa')"],
    ['CommonJS require', "require('whatsapp-stepup/koa')"],
  ] as const) {
    it(`serves the Koa router and guard in a real Koa app (${format})`, () => {
      const result = lastJson(run(process.execPath, ['--input-type=module', '-e', KOA_PROBE(load)], consumer));
      expect(result).toEqual({ started: 201, guarded: 401, challenge: 'Bearer' });
    });
  }

  for (const [format, load] of [
    ['ESM import', (specifier: string) => `await import('${specifier}')`],
    ['CommonJS require', (specifier: string) => `require('${specifier}')`],
  ] as const) {
    it(`loads whatsapp-stepup/testing, whose fake WhatsApp reads the code whatsappCloudChannel sent (${format})`, () => {
      const result = lastJson(run(process.execPath, ['--input-type=module', '-e', TESTING_PROBE(load)], consumer));
      expect(result).toEqual({ exports: allFunctions(TESTING_EXPORTS), baseUrl: true, code: true, sent: 1, channel: 'whatsapp', chn: 'whatsapp' });
    });
  }

  for (const [format, args] of [
    ['ESM import', ['--input-type=module', '-e', ESM_PROBE]],
    ['CommonJS require', ['-e', CJS_PROBE]],
  ] as const) {
    describe(format, () => {
      let result: ProbeResult;
      beforeAll(() => {
        result = probe(consumer, [...args]);
      });

      it('exposes the root, express, koa, passport and store entry points', () => {
        expect(result.root).toEqual(allFunctions(ROOT_EXPORTS));
        expect(result.express).toEqual(allFunctions(EXPRESS_EXPORTS));
        expect(result.koa).toEqual(allFunctions(KOA_EXPORTS));
        expect(result.passport).toEqual(allFunctions(PASSPORT_EXPORTS));
        expect(result.store).toEqual(allFunctions(STORE_EXPORTS));
      });

      it('does not load express, koa, passport or passport-custom from the root entry', () => {
        expect(result.frameworksLoadedByRoot).toEqual([]);
      });
    });
  }
});
