import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoApp, type DemoApp } from '../examples/express/app.js';
import { NO_LIMITS } from './support/no-limits.js';

// The demo, driven in a real headless Chromium: sign-in with password and WhatsApp code,
// then a payment approved with a second code, codes read from the dev outbox page.

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = process.env.DEMO_SCREENSHOTS; // a directory, to look at the pages by eye

let demo: DemoApp;
let server: Server;
let base: string;
let browser: Browser;

// Without Chromium every test FAILS with this message (a throw in beforeAll would only mark them skipped).
const missingChromium = existsSync(CHROMIUM)
  ? undefined
  : `The demo's browser tests need Chromium at ${CHROMIUM}, which is missing. Install it: apt-get install chromium`;

function requireChromium(): void {
  if (missingChromium) throw new Error(missingChromium);
}

beforeAll(async () => {
  if (missingChromium) return;
  demo = createDemoApp({ limits: NO_LIMITS });
  server = createServer(demo.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser?.close();
  if (server) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

function user(index: number) {
  const found = demo.users[index];
  if (!found) throw new Error(`no demo user ${index}`);
  return found;
}

// playwright-core has no web-first assertions: poll the page with vitest's expect.poll.
const text = (locator: Locator) => () => locator.first().textContent({ timeout: 10_000 }).then((content) => content?.trim());
const POLL = { timeout: 10_000 };

/** The newest code sent to `phone` for `purpose`, as the dev outbox page shows it (newest first). */
async function codeFromOutbox(outbox: Page, phone: string, purpose: string): Promise<string> {
  await outbox.goto(`${base}/dev/outbox`);
  const bubble = outbox.locator('.bubble').filter({ has: outbox.locator('.to', { hasText: phone }) }).first();
  await expect.poll(text(bubble.locator('.purpose')), POLL).toBe(purpose);
  const code = (await bubble.locator('.code').textContent())?.trim() ?? '';
  expect(code).toMatch(/^\d{6}$/);
  return code;
}

/** A six-digit code that is not `code`. */
function wrong(code: string): string {
  return code.slice(0, 5) + String((Number(code[5]) + 1) % 10);
}

/** The sign-in's second step: the code, then the account page greets the user. */
async function enterSignInCode(page: Page, code: string, name: string): Promise<void> {
  await page.fill('#code', code);
  await page.click('#code-form button[type=submit]');
  await page.waitForURL(`${base}/account`);
  await expect.poll(text(page.locator('h1')), POLL).toBe(`Hello, ${name}`);
}

async function signInWithPassword(page: Page, username: string, password: string): Promise<void> {
  await page.goto(`${base}/login`);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  await page.waitForURL(`${base}/login/code`);
}

describe('demo app in Chromium', () => {
  it('signs in with password and code, then approves a payment once; the replay is refused', async () => {
    requireChromium();
    const context: BrowserContext = await browser.newContext();
    try {
      const page = await context.newPage();
      const ana = user(0);

      await signInWithPassword(page, ana.username, ana.password);
      // Pending, not signed in: the account is still closed.
      await expect.poll(text(page.locator('#masked-to')), POLL).toBe('+34 •••••••78');
      expect(await page.locator('#outbox-link').getAttribute('href')).toBe('/dev/outbox');

      const outbox = await context.newPage();
      const loginCode = await codeFromOutbox(outbox, ana.phone, 'login');
      if (SCREENSHOTS) await outbox.screenshot({ path: `${SCREENSHOTS}/demo-outbox-login.png`, fullPage: true });

      await page.bringToFront();
      await enterSignInCode(page, loginCode, ana.name);
      await expect.poll(text(page.locator('#amr')), POLL).toBe('otp, mca, pwd, mfa');

      await page.click('text=Make a payment');
      await page.waitForURL(`${base}/pay`);
      await page.fill('#amount', '10.00');
      await page.selectOption('#currency', 'EUR');
      await page.fill('#payee', 'ACME');
      await page.click('form[action="/pay"] button[type=submit]');
      await page.waitForURL(/\/payments\/[\w-]+$/);
      const paymentUrl = page.url();
      await expect.poll(text(page.locator('#amount')), POLL).toBe('10.00 EUR');
      await expect.poll(text(page.locator('#payee')), POLL).toBe('ACME');
      if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/demo-confirm.png`, fullPage: true });

      const paymentCode = await codeFromOutbox(outbox, ana.phone, 'payment');
      expect(paymentCode).not.toBe(loginCode);
      if (SCREENSHOTS) await outbox.screenshot({ path: `${SCREENSHOTS}/demo-outbox.png`, fullPage: true });
      await page.bringToFront();

      // A wrong code first: the page says so and how many attempts are left.
      await page.fill('#code', wrong(paymentCode));
      await page.click('#confirm button[type=submit]');
      await expect.poll(text(page.locator('#error')), POLL).toBe('The code is not correct. 4 attempts left.');

      // The right code: verify, then confirm with the token in the Step-Up-Token header.
      const confirmRequest = page.waitForRequest((request) => request.url().endsWith('/confirm'));
      await page.fill('#code', paymentCode);
      await page.click('#confirm button[type=submit]');
      const token = (await confirmRequest).headers()['step-up-token'];
      expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      await expect.poll(text(page.locator('#done')), POLL).toBe('Payment sent');
      expect(page.url()).toBe(paymentUrl);
      await expect.poll(text(page.locator('main')), POLL).toContain('10.00 EUR');
      await expect.poll(text(page.locator('main')), POLL).toContain('ACME');

      // Replaying the confirmation with the same token, from the same signed-in page: refused.
      const replay = await page.evaluate(async ({ url, token }) => {
        const response = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Step-Up-Token': token }, body: '{}' });
        return { status: response.status, authenticate: response.headers.get('www-authenticate'), body: (await response.json()) as { error: Record<string, unknown> } };
      }, { url: `${paymentUrl}/confirm`, token: token! });
      expect(replay.status).toBe(401);
      expect(replay.authenticate).toContain('error="insufficient_user_authentication"');
      expect(replay.body.error).toMatchObject({ code: 'step_up_required', reason: 'replayed', purpose: 'payment' });

      // Back to the confirm page: it now shows the receipt, there is nothing to approve again.
      await page.goBack();
      await page.goto(paymentUrl);
      await expect.poll(text(page.locator('#done')), POLL).toBe('Payment sent');
      expect(await page.locator('#confirm').count()).toBe(0);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('shows the error and the attempts left after a wrong sign-in code, then accepts the right one', async () => {
    requireChromium();
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const luis = user(1);
      await signInWithPassword(page, luis.username, luis.password);
      await expect.poll(text(page.locator('#masked-to')), POLL).toBe('+52 ••••••••78');

      const outbox = await context.newPage();
      const code = await codeFromOutbox(outbox, luis.phone, 'login');
      await page.bringToFront();

      // Not signed in while the code is owed.
      const account = await context.request.get(`${base}/account`, { maxRedirects: 0 });
      expect(account.status()).toBe(303);
      expect(account.headers().location).toBe('/login');

      await page.fill('#code', wrong(code));
      const [response] = await Promise.all([page.waitForResponse(`${base}/login/code`), page.click('#code-form button[type=submit]')]);
      expect(response.status()).toBe(400);
      await expect.poll(text(page.locator('#error')), POLL).toBe('The code is not correct. 4 attempts left.');
      if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/demo-login-code.png`, fullPage: true });

      await enterSignInCode(page, code, luis.name);
    } finally {
      await context.close();
    }
  }, 60_000);

  // It changes luis's password: after the tests that sign him in with the old one.
  it('resets a password: "Forgot password?", the code from the outbox, a new password, then sign-in with it and a code', async () => {
    requireChromium();
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const luis = user(1);
      const newPassword = 'a-brand-new-secret';
      await page.goto(`${base}/login`);
      await page.click('#forgot');
      await page.waitForURL(`${base}/password-reset`);

      await page.fill('#account', luis.username);
      const [requested] = await Promise.all([page.waitForResponse(`${base}/password-reset/request`), page.click('#reset-request button[type=submit]')]);
      expect(requested.status()).toBe(202);
      await expect.poll(text(page.locator('#notice')), POLL).toBe('If the username or number belongs to an account, we sent a code by WhatsApp to the phone number on file.');
      expect(await page.locator('#reset-code').isVisible()).toBe(true);

      // The code goes out a moment after the answer (at a random moment, within 250 ms).
      await demo.resetsSettled();
      const outbox = await context.newPage();
      const code = await codeFromOutbox(outbox, luis.phone, 'password-reset');
      await page.bringToFront();

      // A wrong code: the one generic refusal, no attempts count.
      await page.fill('#code', wrong(code));
      await page.click('#reset-code button[type=submit]');
      await expect.poll(text(page.locator('#error')), POLL).toBe('That code did not work. Check it, or start over to get a new one.');

      const [verified] = await Promise.all([page.waitForResponse(`${base}/password-reset/verify`), (async () => {
        await page.fill('#code', code);
        await page.click('#reset-code button[type=submit]');
      })()]);
      // The token stays on the server: the answer and the page never hold it.
      expect(await verified.text()).toBe('{"status":"verified"}');
      await expect.poll(() => page.locator('#reset-password').isVisible(), POLL).toBe(true);
      if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/demo-reset-password.png`, fullPage: true });

      await page.fill('#new-password', newPassword);
      await page.fill('#repeat-password', newPassword);
      await page.click('#reset-password button[type=submit]');
      await expect.poll(() => page.locator('#reset-done').isVisible(), POLL).toBe(true);

      // Not signed in: the new password leads to the code step, like every sign-in.
      await page.click('#to-login');
      await page.waitForURL(`${base}/login`);
      await signInWithPassword(page, luis.username, newPassword);
      const loginCode = await codeFromOutbox(outbox, luis.phone, 'login');
      await page.bringToFront();
      await enterSignInCode(page, loginCode, luis.name);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('refuses a wrong password without starting a challenge', async () => {
    requireChromium();
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const before = demo.outbox.messages().length;
      await page.goto(`${base}/login`);
      await page.fill('#username', user(0).username);
      await page.fill('#password', 'not-the-password');
      await page.click('button[type=submit]');
      await expect.poll(text(page.locator('.error')), POLL).toBe('Wrong username or password.');
      await page.goto(`${base}/login/code`);
      expect(new URL(page.url()).pathname).toBe('/login');
      expect(demo.outbox.messages().length).toBe(before);
    } finally {
      await context.close();
    }
  }, 30_000);

  // It changes ana's number: last, after every test that reads her codes at the old one.
  it('changes the phone number with a code sent to the current one, and signs out the other session (R-H4)', async () => {
    requireChromium();
    const context = await browser.newContext();
    const other = await browser.newContext();
    try {
      const ana = user(0);
      const elsewhere = await other.newPage();
      await signInWithPassword(elsewhere, ana.username, ana.password);
      const outbox = await context.newPage();
      await enterSignInCode(elsewhere, await codeFromOutbox(outbox, ana.phone, 'login'), ana.name);

      const page = await context.newPage();
      await signInWithPassword(page, ana.username, ana.password);
      await enterSignInCode(page, await codeFromOutbox(outbox, ana.phone, 'login'), ana.name);
      await expect.poll(text(page.locator('#phone')), POLL).toBe('+34 •••••••78');
      await page.click('#change-phone');
      await page.waitForURL(`${base}/account/phone`);
      await page.fill('#phone', '+34 699 12 34 56');
      await page.click('form[action="/account/phone"] button[type=submit]');
      await page.waitForURL(`${base}/account/phone/confirm`);
      await expect.poll(text(page.locator('#new-phone')), POLL).toBe('+34 699 12 34 56');
      expect(await page.locator('#end-other-sessions').isChecked()).toBe(true);
      if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/demo-phone-change.png`, fullPage: true });

      // The code went to the number on file.
      const code = await codeFromOutbox(outbox, ana.phone, 'change-phone');
      await page.bringToFront();
      const confirmRequest = page.waitForRequest((request) => request.url().endsWith('/account/phone/confirm'));
      await page.fill('#code', code);
      await page.click('#confirm button[type=submit]');
      const sent = await confirmRequest;
      expect(sent.headers()['step-up-token']).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      expect(sent.postDataJSON()).toEqual({ endOtherSessions: true });
      await page.waitForURL(`${base}/account`);
      await expect.poll(text(page.locator('#phone')), POLL).toBe('+34 •••••••56');

      // The other session ended.
      const account = await other.request.get(`${base}/account`, { maxRedirects: 0 });
      expect(account.status()).toBe(303);
    } finally {
      await context.close();
      await other.close();
    }
  }, 60_000);
});
