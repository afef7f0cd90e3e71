/**
 * A supertest browser for the Express demo (examples/express): keeps the session cookie,
 * knows its session id, reads codes from the demo's outbox and signs in (password, then code).
 * The suites build a new demo app per test, hence `current()`.
 */
import { createServer, type Server } from 'node:http';
import request, { type Response } from 'supertest';
import { expect } from 'vitest';
import type { OutboxMessage } from '../../src/index.js';
import { createDemoApp, type DemoApp, type DemoAppOptions } from '../../examples/express/app.js';
import type { DemoSession } from '../../examples/express/session.js';
import { listen } from './http-harness.js';

/** A new demo app, listening on a free port (close it with http-harness's closeServer). */
export async function startDemo(options: DemoAppOptions): Promise<{ demo: DemoApp; server: Server }> {
  const demo = createDemoApp(options);
  const server = createServer(demo.app);
  await listen(server);
  return { demo, server };
}

/** The express-session id behind the signed cookie `demo.sid=s:<id>.<signature>`. */
export function sessionIdOf(cookie: string): string {
  const value = decodeURIComponent(cookie.slice('demo.sid='.length));
  return value.slice(2, value.lastIndexOf('.'));
}

export function demoClient(current: () => { server: Server; demo: DemoApp }) {
  /** A browser: keeps the session cookie and knows its session id. */
  class Browser {
    cookie = '';

    async post(path: string, body: object, type: 'json' | 'form' = 'json', headers: Record<string, string> = {}): Promise<Response> {
      return this.#keep(await request(current().server).post(path).set('Cookie', this.cookie).set(headers).type(type).send(body));
    }

    async get(path: string): Promise<Response> {
      return this.#keep(await request(current().server).get(path).set('Cookie', this.cookie));
    }

    get sessionId(): string {
      return sessionIdOf(this.cookie);
    }

    #keep(res: Response): Response {
      const set = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((cookie) => cookie.startsWith('demo.sid='));
      if (set) this.cookie = set.split(';')[0]!;
      return res;
    }
  }

  /** What the server keeps in a session (express-session's store). */
  const sessionData = (sid: string) =>
    new Promise<DemoSession | undefined>((resolve, reject) => current().demo.sessions.get(sid, (error, data) => (error ? reject(error) : resolve((data ?? undefined) as DemoSession | undefined))));

  /**
   * The newest message for `phone` and `purpose` sent after the first `since` messages. Polled:
   * some sends (the reset's) happen after their answer.
   */
  async function sentCode(phone: string, purpose: string, since: number): Promise<OutboxMessage> {
    let found;
    await expect.poll(() => (found = current().demo.outbox.messages().slice(since).filter((message) => message.to === phone && message.purpose === purpose).at(-1)), { timeout: 5000, interval: 5 }).toBeDefined();
    return found!;
  }

  /** The password step: 303 to /login/code (pending, not signed in) or 401. */
  const passwordStep = (browser: Browser, username: string, password: string) => browser.post('/login', { username, password }, 'form');

  /** Both sign-in steps; the code is read from the outbox, where it must have gone to `phone`. */
  async function signIn(username: string, password: string, phone: string, browser = new Browser()): Promise<Browser> {
    const since = current().demo.outbox.messages().length;
    expect((await passwordStep(browser, username, password)).headers.location).toBe('/login/code');
    const page = await browser.get('/login/code');
    const { code, challengeId } = await sentCode(phone, 'login', since);
    expect(page.text).toContain(challengeId);
    const done = await browser.post('/login/code', { challengeId, code }, 'form');
    expect(done.status, done.text).toBe(303);
    expect(done.headers.location).toBe('/account');
    return browser;
  }

  const signedIn = async (browser: Browser) => (await browser.get('/account')).status === 200;

  return { Browser, sessionData, sentCode, passwordStep, signIn, signedIn };
}

export type DemoBrowser = InstanceType<ReturnType<typeof demoClient>['Browser']>;
