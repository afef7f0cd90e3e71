/**
 * What the Koa demo needs around its routes: pages, form bodies, the session, and the
 * dev outbox (a Node handler) under a path. The pages themselves are the Express demo's
 * (`../express/views.ts`), rendered through `renderPage`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context, Middleware, Next } from 'koa';
import type { DemoSession } from '../express/session.js';
import type { DemoUser } from '../express/users.js';
import { renderPage, type Page } from '../express/views.js';

export function sendPage(ctx: Context, page: Page, status = 200): void {
  const { headers, html } = renderPage(page);
  ctx.status = status;
  ctx.set(headers);
  ctx.body = html;
}

/** What koa-session keeps at `ctx.session` (koa-session 7 does not type it on Koa's context). */
type KoaSession = DemoSession & {
  /** The session's id in the store: what challenges are bound to. It changes when the session is regenerated. */
  readonly externalKey?: string;
  regenerate(): Promise<void> | undefined;
};

export const state = (ctx: Context) => (ctx as unknown as { session: KoaSession }).session;
export const currentUser = (ctx: Context) => ctx.state.user as DemoUser | undefined;
/** The session binding of every challenge and guard: the server-side session's id. */
export const sessionBinding = (ctx: Context) => state(ctx).externalKey;

/** 303 See Other, as the Express demo answers: the browser follows with a GET. */
export function redirect(ctx: Context, url: string): void {
  ctx.status = 303;
  ctx.redirect(url);
}

/** Pages for signed-in users only. */
export const requireUser: Middleware = (ctx, next) => (currentUser(ctx) ? next() : redirect(ctx, '/login'));

const FORM_LIMIT = 8 * 1024;

/** The urlencoded form of a POST, at most 8 kB, at `ctx.request.body` (where koa-passport's strategies read it). */
export const readForm: Middleware = async (ctx, next) => {
  if (ctx.is('application/x-www-form-urlencoded')) {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > FORM_LIMIT) ctx.throw(413, 'The form is too large.');
      chunks.push(chunk);
    }
    (ctx.request as { body?: unknown }).body = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
  }
  await next();
};

/** Serves a Node `(req, res, next)` handler, such as `outbox.router()`, under `path`, as Express's `app.use(path, handler)` does. */
export function mountNodeHandler(path: string, handler: (req: IncomingMessage, res: ServerResponse, next: () => void) => void): Middleware {
  return async (ctx: Context, next: Next) => {
    if (ctx.path !== path && !ctx.path.startsWith(`${path}/`)) return next();
    const url = ctx.req.url;
    // The handler sees the path below `path`, like a handler mounted in Express.
    ctx.req.url = ctx.url.slice(path.length).replace(/^(?!\/)/, '/');
    let passed = false;
    // Koa starts every response at 404; a Node handler expects Node's 200.
    ctx.res.statusCode = 200;
    handler(ctx.req, ctx.res, () => {
      passed = true;
    });
    ctx.req.url = url;
    if (passed) {
      ctx.res.statusCode = 404;
      return next();
    }
    ctx.respond = false; // the handler has answered on the Node response itself
  };
}
