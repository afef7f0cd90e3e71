/**
 * Router options that the scenario apps leave at their defaults, on both adapters built
 * the same way: `bodyLimit`, `prefix`, and a body that an app-wide parser read first.
 * Invariant: both adapters answer alike, because the decisions live in src/http.
 */
import { createServer, type Server } from 'node:http';
import express from 'express';
import Koa from 'koa';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { stepUpRouter as expressRouter } from '../src/express/index.js';
import { readJsonBody } from '../src/http/body.js';
import type { ChallengeRouterOptions } from '../src/http/challenges.js';
import { stepUpRouter as koaRouter } from '../src/koa/index.js';
import { closeServer, createHarnessCore, listen, type HarnessCore } from './support/http-harness.js';
import { expectError } from './support/http-client.js';

type Options = Omit<ChallengeRouterOptions<unknown>, 'resolveSubject'>;
interface Built {
  server: Server;
  core: HarnessCore;
}

const subject = () => ({ id: 'alice', phone: '+34612345678' });
const ADAPTERS = {
  /** `earlyParser`: an app-wide JSON parser with a 1mb limit before the router. */
  express: (core: HarnessCore, options: Options, earlyParser: boolean) => {
    const app = express();
    if (earlyParser) app.use(express.json({ limit: '1mb' }));
    app.use('/stepup', expressRouter(core.stepup, { resolveSubject: subject, onError: core.report, ...options }));
    return createServer(app);
  },
  koa: (core: HarnessCore, options: Options, earlyParser: boolean) => {
    const app = new Koa();
    if (earlyParser) {
      app.use(async (ctx, next) => {
        (ctx.request as { body?: unknown }).body = await readJsonBody(ctx.req, 1024 * 1024, () => undefined);
        await next();
      });
    }
    app.use(koaRouter(core.stepup, { prefix: '/stepup', resolveSubject: subject, onError: core.report, ...options }));
    return createServer(app.callback());
  },
};

const built: Built[] = [];
afterEach(async () => {
  for (const { server, core } of built.splice(0)) {
    await closeServer(server);
    await core.dispose();
  }
});

for (const [name, build] of Object.entries(ADAPTERS)) {
  describe(`${name} router options`, () => {
    const app = async (options: Options = {}, earlyParser = false) => {
      const core = await createHarnessCore({ store: 'memory' });
      const server = build(core, options, earlyParser);
      await listen(server);
      built.push({ server, core });
      return { server, core };
    };
    const bigStart = (size: number) => JSON.stringify({ purpose: 'login', locale: 'x'.repeat(size) });

    it('bodyLimit: a body over it → 413, under it → parsed', async () => {
      const { server } = await app({ bodyLimit: '1kb' });
      const post = (body: string) => request(server).post('/stepup/challenges').set('Content-Type', 'application/json').send(body);
      expectError(await post(bigStart(2000)), 413, 'request_too_large');
      expect((await post(JSON.stringify({ purpose: 'login' }))).status).toBe(201);
    });

    it('a body an app-wide parser already read is taken as it parsed it (its limit, not ours)', async () => {
      const { server } = await app({}, true);
      const res = await request(server).post('/stepup/challenges').set('Content-Type', 'application/json').send(bigStart(20_000));
      // Past our 8kb but within the app's 1mb: the router sees the parsed body and judges its fields.
      expect(res.status, res.text).not.toBe(413);
      expect((await request(server).post('/stepup/challenges').send({ purpose: 'login' })).status).toBe(201);
    });

    it('bad bodyLimit or prefix values are refused when the router is built, naming the option', async () => {
      const core = await createHarnessCore({ store: 'memory' });
      try {
        for (const bodyLimit of ['lots', 0, -1, '8 parsecs']) {
          expect(() => build(core, { bodyLimit } as Options, false), String(bodyLimit)).toThrow(/bodyLimit/);
        }
        for (const prefix of ['stepup', '/step up', '/stepup?x=1']) {
          expect(() => build(core, { prefix }, false), prefix).toThrow(/prefix/);
        }
      } finally {
        await core.dispose();
      }
    });
  });
}
