/**
 * The Koa demo (examples/koa) end to end over HTTP, no browser: sign-in with password and
 * WhatsApp code through koa-passport, a payment approved with a code bound to the stored
 * payment, its replay refused, and the dev outbox mounted on Koa. The Express demo has the
 * browser test (demo.browser.test.ts); both demos share their pages.
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKoaDemoApp, type KoaDemoApp } from '../examples/koa/app.js';
import { closeServer, listen } from './support/http-harness.js';
import { createServer, type Server } from 'node:http';
import { NO_LIMITS } from './support/no-limits.js';

let demo: KoaDemoApp;
let server: Server;

beforeAll(async () => {
  demo = createKoaDemoApp({ limits: NO_LIMITS });
  server = createServer(demo.app.callback());
  await listen(server);
});
afterAll(async () => {
  await closeServer(server);
});

const ana = () => demo.users[0]!;
const codeOf = (challengeId: string) => demo.outbox.messages().filter((message) => message.challengeId === challengeId).at(-1)!.code;
const attribute = (html: string, pattern: RegExp) => {
  const match = pattern.exec(html);
  if (!match) throw new Error(`${pattern} not in the page: ${html.slice(0, 300)}`);
  return match[1]!;
};

/** Password and login code: an agent holding a signed-in session. */
async function signIn(): Promise<ReturnType<typeof request.agent>> {
  const agent = request.agent(server);
  const password = await agent.post('/login').type('form').send({ username: ana().username, password: ana().password });
  expect(password.status, password.text).toBe(303);
  expect(password.headers.location).toBe('/login/code');
  const page = await agent.get('/login/code');
  expect(page.status).toBe(200);
  const challengeId = attribute(page.text, /name="challengeId" value="([^"]+)"/);
  const signedIn = await agent.post('/login/code').type('form').send({ challengeId, code: codeOf(challengeId) });
  expect(signedIn.status, signedIn.text).toBe(303);
  expect(signedIn.headers.location).toBe('/account');
  return agent;
}

describe('Koa demo', () => {
  it('signs in with password + WhatsApp code (amr pwd, mfa, otp), and a wrong code is refused on the page', async () => {
    const agent = request.agent(server);
    await agent.post('/login').type('form').send({ username: ana().username, password: ana().password });
    const page = await agent.get('/login/code');
    const challengeId = attribute(page.text, /name="challengeId" value="([^"]+)"/);
    const code = codeOf(challengeId);
    const wrong = await agent.post('/login/code').type('form').send({ challengeId, code: code === '000000' ? '111111' : '000000' });
    expect(wrong.status).toBe(400);
    expect(wrong.text).toContain('4 attempts left');
    expect((await agent.get('/account')).headers.location).toBe('/login');

    const signedIn = await agent.post('/login/code').type('form').send({ challengeId, code });
    expect(signedIn.headers.location).toBe('/account');
    const account = await agent.get('/account');
    expect(account.status).toBe(200);
    expect(attribute(account.text, /id="amr">([^<]+)</).split(', ')).toEqual(expect.arrayContaining(['pwd', 'mfa', 'otp']));
  });

  it('a wrong password stays on the login page (401), with nobody pending', async () => {
    const agent = request.agent(server);
    const res = await agent.post('/login').type('form').send({ username: ana().username, password: 'nope' });
    expect(res.status).toBe(401);
    expect((await agent.get('/login/code')).headers.location).toBe('/login');
  });

  it('approves a payment with a code bound to the stored record, executes it once, and refuses the replay', async () => {
    const agent = await signIn();
    const created = await agent.post('/pay').type('form').send({ amount: '42.50', currency: 'EUR', payee: 'Electricity Co' });
    expect(created.status, created.text).toBe(303);
    const paymentPath = created.headers.location as string;
    const confirm = await agent.get(paymentPath);
    expect(confirm.text).toContain('42.50 EUR');
    const challengeId = attribute(confirm.text, /data-challenge="([^"]+)"/);

    // What the confirm page's script does: verify at the library's router, then confirm with the token.
    const verified = await agent.post(`/stepup/challenges/${challengeId}/verify`).send({ code: codeOf(challengeId) });
    expect(verified.status, verified.text).toBe(200);
    expect(verified.body.purpose).toBe('payment');
    const token = verified.body.token as string;
    const executed = await agent.post(`${paymentPath}/confirm`).set('Step-Up-Token', token).send({});
    expect(executed.status, executed.text).toBe(200);
    expect(executed.body).toEqual({ status: 'executed', receipt: paymentPath });

    const replayed = await agent.post(`${paymentPath}/confirm`).set('Step-Up-Token', token).send({});
    expect(replayed.status).toBe(401);
    expect(replayed.headers['www-authenticate']).toContain('error="insufficient_user_authentication"');
    expect(replayed.body.error).toMatchObject({ code: 'step_up_required', reason: 'replayed', purpose: 'payment' });
    expect((await agent.get(paymentPath)).text).toContain('Payment sent');
  });

  it('R-F4 a token for payment A (10.00 EUR to Bob) does not execute payment B entered as 10 EUR to Bob: transaction_mismatch', async () => {
    const agent = await signIn();
    const pathA = (await agent.post('/pay').type('form').send({ amount: '10.00', currency: 'EUR', payee: 'Bob' })).headers.location as string;
    const pathB = (await agent.post('/pay').type('form').send({ amount: '10', currency: 'EUR', payee: 'Bob' })).headers.location as string;
    expect(pathB).not.toBe(pathA);
    const challengeId = attribute((await agent.get(pathA)).text, /data-challenge="([^"]+)"/);
    const token = (await agent.post(`/stepup/challenges/${challengeId}/verify`).send({ code: codeOf(challengeId) })).body.token as string;
    const other = await agent.post(`${pathB}/confirm`).set('Step-Up-Token', token).send({});
    expect(other.status).toBe(401);
    expect(other.body.error).toMatchObject({ code: 'step_up_required', reason: 'transaction_mismatch', purpose: 'payment' });
    expect((await agent.get(pathB)).text).not.toContain('Payment sent');
    expect((await agent.post(`${pathA}/confirm`).set('Step-Up-Token', token).send({})).status).toBe(200);
  });

  it('R-H2 a payment token dies with its session: after logout and a new sign-in it is wrong_session', async () => {
    const agent = await signIn();
    const created = await agent.post('/pay').type('form').send({ amount: '5.00', currency: 'EUR', payee: 'Bakery' });
    const paymentPath = created.headers.location as string;
    const challengeId = attribute((await agent.get(paymentPath)).text, /data-challenge="([^"]+)"/);
    const verified = await agent.post(`/stepup/challenges/${challengeId}/verify`).send({ code: codeOf(challengeId) });
    expect(verified.status, verified.text).toBe(200);
    await agent.post('/logout');
    // Same browser, same user, a new session: the token was bound to the old one.
    const password = await agent.post('/login').type('form').send({ username: ana().username, password: ana().password });
    expect(password.status).toBe(303);
    const page = await agent.get('/login/code');
    const loginChallenge = attribute(page.text, /name="challengeId" value="([^"]+)"/);
    expect((await agent.post('/login/code').type('form').send({ challengeId: loginChallenge, code: codeOf(loginChallenge) })).headers.location).toBe('/account');
    const refused = await agent.post(`${paymentPath}/confirm`).set('Step-Up-Token', verified.body.token).send({});
    expect(refused.status).toBe(401);
    expect(refused.body.error).toMatchObject({ code: 'step_up_required', reason: 'wrong_session' });
  });

  it('refuses a confirm without a token (401 missing) and a login token for a payment (wrong_purpose)', async () => {
    const agent = await signIn();
    const created = await agent.post('/pay').type('form').send({ amount: '10.00', currency: 'EUR', payee: 'Landlord' });
    const paymentPath = created.headers.location as string;
    const missing = await agent.post(`${paymentPath}/confirm`).send({});
    expect(missing.status).toBe(401);
    expect(missing.body.error.reason).toBe('missing');
    // The demo's router serves payment challenges only.
    const login = await agent.post('/stepup/challenges').send({ purpose: 'login' });
    expect(login.status).toBe(400);
    expect(login.body.error.code).toBe('invalid_request');
  });

  it('serves the dev outbox page and its JSON under /dev/outbox', async () => {
    await signIn();
    const page = await request(server).get('/dev/outbox');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.text).toContain('Dev outbox');
    const json = await request(server).get('/dev/outbox/messages.json');
    expect(json.status).toBe(200);
    expect(json.body.messages[0]).toMatchObject({ to: ana().phone, purpose: 'login' });
    expect((await request(server).get('/nowhere')).status).toBe(404);
  });
});
