/**
 * The Koa test app of the HTTP scenario suite: the routes listed in `http-harness.ts`,
 * built with the Koa `stepUpRouter` and `requireStepUp` exactly as `http-app.ts` builds
 * them on Express (same options, same callbacks from the harness).
 */
import { createServer } from 'node:http';
import Koa, { type Context, type Middleware, type Next } from 'koa';
import { readJsonBody } from '../../src/http/body.js';
import { requireStepUp, stepUpRouter } from '../../src/koa/index.js';
import {
  ACR_WHATSAPP,
  closeServer,
  createHarnessCore,
  guardSubject,
  listen,
  paymentTransaction,
  resolveTestSubject,
  type HarnessOptions,
  type HttpHarness,
} from './http-harness.js';

/** A route: `method` and exact `path`, then its middleware in order (the test apps need no more of a router). */
export function route(method: string, path: string, ...chain: Middleware[]): Middleware {
  return (ctx, next) => {
    if (ctx.method !== method || ctx.path !== path) return next();
    const run = (index: number): Promise<unknown> => (index < chain.length ? Promise.resolve(chain[index]!(ctx, () => run(index + 1))) : next());
    return run(0);
  };
}

/** The JSON body parser of the test routes, as `express.json()` is in the Express app (100kb). */
export const json: Middleware = async (ctx, next) => {
  (ctx.request as { body?: unknown }).body = await readJsonBody(ctx.req, 100 * 1024, () => undefined);
  await next();
};

/** An app-wide body parser as koa-bodyparser is: JSON, form-encoded and text bodies, at `ctx.request.body`. */
const appBodyParser: Middleware = async (ctx, next) => {
  const type = ctx.is('application/json', 'application/x-www-form-urlencoded', 'text/plain');
  if (type) {
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) chunks.push(chunk);
    const text = Buffer.concat(chunks).toString('utf8');
    (ctx.request as { body?: unknown }).body = type === 'application/json' ? JSON.parse(text || '{}') : type === 'text/plain' ? text : Object.fromEntries(new URLSearchParams(text));
  }
  await next();
};

export async function buildKoaApp(options: HarnessOptions): Promise<HttpHarness> {
  const core = await createHarnessCore(options);
  const { stepup, report } = core;
  const user = (ctx: Context) => ctx.get('x-test-user') || undefined;
  const subject = (ctx: Context) => guardSubject(user(ctx));
  const session = (ctx: Context) => ctx.get('x-test-session') || undefined;
  const ok: Middleware = (ctx) => {
    ctx.body = { ok: true, stepUp: ctx.state.stepUp };
  };

  const app = new Koa();
  app.use(async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (error) {
      report(error);
      ctx.status = 500;
      ctx.body = { error: { code: 'app_error', message: 'The test app failed.' } };
    }
  });
  if (options.appParsers) app.use(appBodyParser);
  app.use(stepUpRouter(stepup, { prefix: '/stepup', resolveSubject: (ctx) => resolveTestSubject(user(ctx)), binding: session, webhooks: core.webhooks, onError: report }));
  app.use(
    route(
      'POST',
      '/payments',
      json,
      requireStepUp(stepup, {
        purpose: 'payment',
        maxAge: '5m',
        subject,
        binding: session,
        transaction: (ctx) => paymentTransaction((ctx.request as { body?: unknown }).body),
        oneTime: true,
        onError: report,
      }),
      ok,
    ),
  );
  app.use(
    route(
      'GET',
      '/account/secure',
      requireStepUp(stepup, { purpose: 'login', maxAge: '5m', acrValues: [ACR_WHATSAPP], subject, binding: session, onError: report }),
      ok,
    ),
  );
  app.use(route('GET', '/account/profile', requireStepUp(stepup, { purpose: 'login', maxAge: '5m', subject, binding: session, onError: report }), ok));
  app.use(route('POST', '/password-reset', requireStepUp(stepup, { purpose: 'password-reset', subject: 'from-token', onError: report }), ok));
  app.use(
    route(
      'GET',
      '/cookie/secure',
      requireStepUp(stepup, {
        purpose: 'login',
        maxAge: '5m',
        token: { cookie: 'stepup' },
        scheme: 'StepUp',
        challengeEndpoint: '/stepup/challenges',
        subject,
        binding: session,
        onError: report,
      }),
      ok,
    ),
  );

  const server = createServer(app.callback());
  await listen(server);
  return {
    ...core,
    server,
    constructGuard: (guardOptions) => {
      requireStepUp(stepup, guardOptions as unknown as Parameters<typeof requireStepUp>[1]);
    },
    close: async () => {
      await closeServer(server);
      await core.dispose();
    },
  };
}
