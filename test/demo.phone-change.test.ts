/**
 * The Express demo's change of phone number (SECURITY-REQUIREMENTS R-H4) over HTTP: the
 * number that receives every code changes only with a fresh code sent to the CURRENT number,
 * in this session, for this change, once; the change can end the account's other sessions;
 * afterwards codes go to the new number.
 */
import type { Server } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../src/index.js';
import type { DemoApp } from '../examples/express/app.js';
import { demoClient, startDemo, type DemoBrowser } from './support/demo-client.js';
import { closeServer } from './support/http-harness.js';
import { NO_LIMITS } from './support/no-limits.js';

/** Spanish mobile numbers no demo user has. */
const NEW_PHONE = '+34699123456';
const OTHER_NEW_PHONE = '+34611222333';

describe('changing the phone number in the Express demo', () => {
  let demo: DemoApp;
  let server: Server;

  beforeEach(async () => {
    ({ demo, server } = await startDemo({ store: new MemoryStore(), limits: NO_LIMITS }));
  });
  afterEach(() => closeServer(server));

  const ana = () => demo.users[0]!;
  const luis = () => demo.users[1]!;
  const { Browser, sessionData, sentCode, signIn, signedIn } = demoClient(() => ({ server, demo }));
  type Browser = DemoBrowser;

  /** Step 1: the new number; answers the code the demo sent for it (to `to`, the number on file). */
  async function requestChange(browser: Browser, phone: string, to = ana().phone) {
    const since = demo.outbox.messages().length;
    const asked = await browser.post('/account/phone', { phone }, 'form');
    expect(asked.status, asked.text).toBe(303);
    expect(asked.headers.location).toBe('/account/phone/confirm');
    const page = await browser.get('/account/phone/confirm');
    const message = await sentCode(to, 'change-phone', since);
    expect(page.text).toContain(message.challengeId);
    return message;
  }

  /** What the confirm page's script does first: the library's router answers the token. */
  async function tokenFor(browser: Browser, message: { challengeId: string; code: string }): Promise<string> {
    const verified = await browser.post(`/account/phone/stepup/challenges/${message.challengeId}/verify`, { code: message.code });
    expect(verified.status, verified.text).toBe(200);
    return verified.body.token as string;
  }

  const confirm = (browser: Browser, token: string | undefined, endOtherSessions = false) =>
    browser.post('/account/phone/confirm', { endOtherSessions }, 'json', token === undefined ? {} : { 'Step-Up-Token': token });

  /** The number on file as the account page shows it: "+34 •••••••78". */
  const shownPhone = async (browser: Browser) => /id="phone">([^<]+)</.exec((await browser.get('/account')).text)?.[1];
  const maskedEnd = (phone: string) => phone.slice(-2);

  it('R-H4 changing the phone number needs a fresh code sent to the current number', async () => {
    const browser = await signIn(ana().username, ana().password, ana().phone);
    const message = await requestChange(browser, '+34 699 12 34 56');
    // The code went to the number on file, and nothing to the new one.
    expect(message.to).toBe(ana().phone);
    expect(demo.outbox.messages().filter((sent) => sent.to === NEW_PHONE)).toEqual([]);

    const refusal = async (token: string | undefined, reason: string) => {
      const refused = await confirm(browser, token, true);
      expect(refused.status, refused.text).toBe(401);
      expect(refused.headers['www-authenticate']).toContain('error="insufficient_user_authentication"');
      expect(refused.body.error).toMatchObject({ code: 'step_up_required', purpose: 'change-phone', reason });
    };
    // No token.
    await refusal(undefined, 'missing');
    // A login token of this user and this session.
    const login = await demo.stepup.start({ subject: ana().id, phone: ana().phone, purpose: 'login', binding: browser.sessionId });
    const loginCode = demo.outbox.messages().find((sent) => sent.challengeId === login.challengeId)!.code;
    const { token: loginToken } = await demo.stepup.verify(login.challengeId, loginCode, { subject: ana().id, binding: browser.sessionId });
    await refusal(loginToken, 'wrong_purpose');
    // A token of the same user for the same new number, verified in another of her sessions.
    const elsewhere = await signIn(ana().username, ana().password, ana().phone);
    await refusal(await tokenFor(elsewhere, await requestChange(elsewhere, NEW_PHONE)), 'wrong_session');
    // Its own earlier token, for a change it has since replaced with another number.
    const earlier = await tokenFor(browser, message);
    await requestChange(browser, OTHER_NEW_PHONE);
    await refusal(earlier, 'transaction_mismatch');
    expect(await shownPhone(browser)).toMatch(new RegExp(`${maskedEnd(ana().phone)}$`));

    // The right token: this user, this session, this change.
    const latest = await requestChange(browser, NEW_PHONE);
    const token = await tokenFor(browser, latest);
    const before = await sessionData(browser.sessionId);
    const changed = await confirm(browser, token);
    expect(changed.status, changed.text).toBe(200);
    expect(changed.body).toEqual({ status: 'changed', endedSessions: 0, next: '/account' });
    expect(await shownPhone(browser)).toMatch(new RegExp(`${maskedEnd(NEW_PHONE)}$`));
    expect(await sessionData(browser.sessionId)).not.toHaveProperty('phoneChange');

    // The token passes once: with the change put back in the session, a replay is refused.
    await new Promise<void>((resolve, reject) => demo.sessions.set(browser.sessionId, before as never, (error) => (error ? reject(error) : resolve())));
    await refusal(token, 'replayed');
  });

  it('R-H4 the change can end the other sessions', async () => {
    const browser = await signIn(ana().username, ana().password, ana().phone);
    const elsewhere = await signIn(ana().username, ana().password, ana().phone);
    const halfway = new Browser();
    expect((await halfway.post('/login', { username: ana().username, password: ana().password }, 'form')).headers.location).toBe('/login/code');
    const stranger = await signIn(luis().username, luis().password, luis().phone);

    // Not asked: the other sessions stay.
    const kept = await confirm(browser, await tokenFor(browser, await requestChange(browser, NEW_PHONE)), false);
    expect(kept.body).toMatchObject({ status: 'changed', endedSessions: 0 });
    expect(await signedIn(elsewhere)).toBe(true);

    // Asked (the page's checkbox, ticked by default): every other session of the account ends, signed in or half-way.
    const ended = await confirm(browser, await tokenFor(browser, await requestChange(browser, OTHER_NEW_PHONE, NEW_PHONE)), true);
    expect(ended.status, ended.text).toBe(200);
    expect(ended.body).toMatchObject({ status: 'changed', endedSessions: 2 });
    expect(await signedIn(elsewhere)).toBe(false);
    expect((await halfway.get('/login/code')).headers.location).toBe('/login');
    expect(await signedIn(browser)).toBe(true);
    expect(await signedIn(stranger)).toBe(true);
  });

  it('R-H4 after the change the next sign-in code goes to the new number', async () => {
    const browser = await signIn(ana().username, ana().password, ana().phone);
    expect((await confirm(browser, await tokenFor(browser, await requestChange(browser, NEW_PHONE)))).status).toBe(200);
    const since = demo.outbox.messages().length;
    await signIn(ana().username, ana().password, NEW_PHONE);
    expect(demo.outbox.messages().slice(since).map((sent) => sent.to)).toEqual([NEW_PHONE]);
    // And the next change asks the new number.
    const next = await requestChange(browser, OTHER_NEW_PHONE, NEW_PHONE);
    expect(next.to).toBe(NEW_PHONE);
  });

  it('refuses, before any code is sent, a number that is not valid, not mobile, the current one or another account\'s', async () => {
    const browser = await signIn(ana().username, ana().password, ana().phone);
    const since = demo.outbox.messages().length;
    for (const phone of ['', '+34 12', 'not a number', '+34 912 345 678', ana().phone, '612 345 678', luis().phone, `+34 ${'6'.repeat(40)}`]) {
      const refused = await browser.post('/account/phone', { phone }, 'form');
      expect(refused.status, String(phone)).toBe(400);
      expect(refused.text).toContain('id="error"');
    }
    expect(demo.outbox.messages().slice(since)).toEqual([]);
    // Without a change in progress there is nothing to confirm.
    expect((await confirm(browser, undefined)).status).toBe(409);
    // Signed out: no page, no change.
    const visitor = new Browser();
    expect((await visitor.get('/account/phone')).headers.location).toBe('/login');
    expect((await visitor.post('/account/phone', { phone: NEW_PHONE }, 'form')).headers.location).toBe('/login');
  });
});
