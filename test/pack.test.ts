import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Tests the package as users get it (tarball, dual ESM/CJS build, subpath
// exports, optional framework peers), which importing src/ can never catch.

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const STEP_TIMEOUT_MS = 180_000;
const FRAMEWORKS = /[\\/]node_modules[\\/](express|koa|passport|passport-custom)[\\/]/;

const ROOT_EXPORTS = ['createStepUp', 'MemoryStore', 'RedisStore', 'OutboxChannel', 'StepUpError'];
const EXPRESS_EXPORTS = ['stepUpRouter', 'requireStepUp'];
const KOA_EXPORTS = ['stepUpRouter', 'requireStepUp'];
const PASSPORT_EXPORTS = ['WhatsAppOtpStrategy'];

interface ProbeResult {
  root: Record<string, string>;
  express: Record<string, string>;
  koa: Record<string, string>;
  passport: Record<string, string>;
  /** Framework files in the module cache right after loading only the root entry. */
  frameworksLoadedByRoot: string[];
}

function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    timeout: STEP_TIMEOUT_MS,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CI: 'true' },
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
  console.log(JSON.stringify({
    root: types(root, ${JSON.stringify(ROOT_EXPORTS)}),
    express: types(express, ${JSON.stringify(EXPRESS_EXPORTS)}),
    koa: { ...types(koa, ${JSON.stringify(KOA_EXPORTS)}), stepUpRouter: typeof stepUpRouter },
    passport: types(passport, ${JSON.stringify(PASSPORT_EXPORTS)}),
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
  console.log(JSON.stringify({
    root: types(root, ${JSON.stringify(ROOT_EXPORTS)}),
    express: types(express, ${JSON.stringify(EXPRESS_EXPORTS)}),
    koa: { ...types(koa, ${JSON.stringify(KOA_EXPORTS)}), stepUpRouter: typeof stepUpRouter },
    passport: types(passport, ${JSON.stringify(PASSPORT_EXPORTS)}),
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

describe('packed tarball', () => {
  let scratch = '';
  let consumer = '';

  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'stepup-pack-'));
    const packDir = join(scratch, 'pack');
    consumer = join(scratch, 'consumer');
    mkdirSync(packDir);
    mkdirSync(consumer);

    run('npm', ['run', 'build'], REPO);
    // Already built: skip the prepack hook so we do not build twice.
    run('npm', ['pack', '--ignore-scripts', '--pack-destination', packDir], REPO);
    const tarball = readdirSync(packDir).find((file) => file.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack produced no tarball in ${packDir}`);

    writeFileSync(
      join(consumer, 'package.json'),
      JSON.stringify({ name: 'stepup-pack-consumer', version: '0.0.0', private: true }, null, 2),
    );
    run(
      'npm',
      [
        'install',
        join(packDir, tarball),
        'express@5.3.0',
        'koa@3.3.0',
        'passport@0.7.0',
        'passport-custom@1.2.1',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
      ],
      consumer,
    );
  }, 3 * STEP_TIMEOUT_MS + 30_000);

  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('recognizes errors across the ESM and CommonJS copies of the core', () => {
    const result = JSON.parse(run(process.execPath, ['--input-type=module', '-e', MIXED_PROBE], consumer).trim().split('\n').pop() ?? '{}');
    expect(result).toEqual({ status: 401, crossInstanceof: true, rejectedBranch: false });
  });

  for (const [format, load] of [
    ['ESM import', "await import('whatsapp-stepup/koa')"],
    ['CommonJS require', "require('whatsapp-stepup/koa')"],
  ] as const) {
    it(`serves the Koa router and guard in a real Koa app (${format})`, () => {
      const result = JSON.parse(run(process.execPath, ['--input-type=module', '-e', KOA_PROBE(load)], consumer).trim().split('\n').pop() ?? '{}');
      expect(result).toEqual({ started: 201, guarded: 401, challenge: 'Bearer' });
    });
  }

  for (const [format, load] of [
    ['ESM import', (specifier: string) => `await import('${specifier}')`],
    ['CommonJS require', (specifier: string) => `require('${specifier}')`],
  ] as const) {
    it(`loads whatsapp-stepup/testing, whose fake WhatsApp reads the code whatsappCloudChannel sent (${format})`, () => {
      const result = JSON.parse(run(process.execPath, ['--input-type=module', '-e', TESTING_PROBE(load)], consumer).trim().split('\n').pop() ?? '{}');
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

      it('exposes the root, express, koa and passport entry points', () => {
        expect(result.root).toEqual(allFunctions(ROOT_EXPORTS));
        expect(result.express).toEqual(allFunctions(EXPRESS_EXPORTS));
        expect(result.koa).toEqual(allFunctions(KOA_EXPORTS));
        expect(result.passport).toEqual(allFunctions(PASSPORT_EXPORTS));
      });

      it('does not load express, koa, passport or passport-custom from the root entry', () => {
        expect(result.frameworksLoadedByRoot).toEqual([]);
      });
    });
  }
});
