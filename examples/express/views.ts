/**
 * Server-rendered pages of the demo. Every value interpolated with the `html` tag is
 * HTML-escaped; only other `html` fragments pass through as they are. The inline
 * scripts (payment confirmation, password reset) are constants (they read their inputs
 * from `data-` attributes and the page) and run under a per-response CSP nonce.
 */
import { randomBytes } from 'node:crypto';
import type { Response } from 'express';
import type { ChallengeView } from '../../src/index.js';

// ---------------------------------------------------------------------------
// Escaping
// ---------------------------------------------------------------------------

/** A fragment of markup that is already safe. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char]!);
}

function fragment(value: unknown): string {
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(fragment).join('');
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(String(value));
}

/** Template tag: escapes every interpolated value except `Html` fragments. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  return new Html(strings.reduce((out, text, index) => out + text + (index < values.length ? fragment(values[index]) : ''), ''));
}

// ---------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------

export interface PageUser {
  name: string;
  username: string;
}

export interface Page {
  title: string;
  user?: PageUser | undefined;
  body: Html;
  /** One of the constant scripts below, if the page needs it. */
  script?: string;
}

const STYLE = `
  :root { --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --brand: #0f766e; --bad: #b91c1c; --good: #15803d; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: #f6f7f9; }
  header { background: #fff; border-bottom: 1px solid var(--line); }
  nav { max-width: 720px; margin: 0 auto; padding: 12px 20px; display: flex; gap: 16px; align-items: center; flex-wrap: wrap; }
  nav .brand { font-weight: 700; color: var(--brand); margin-right: auto; text-decoration: none; }
  nav a { color: var(--ink); }
  nav form { margin: 0; }
  main { max-width: 720px; margin: 28px auto; padding: 0 20px; }
  .card { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 24px; margin-bottom: 20px; }
  h1 { font-size: 24px; margin: 0 0 12px; }
  p { margin: 0 0 12px; }
  .muted { color: var(--muted); font-size: 14px; }
  label { display: block; font-weight: 600; margin: 14px 0 4px; }
  input, select { font: inherit; padding: 8px 10px; border: 1px solid #cbd5e1; border-radius: 6px; width: 100%; max-width: 320px; }
  input[type=checkbox] { width: auto; margin: 0 6px 0 0; }
  input.code { font-size: 22px; letter-spacing: 6px; max-width: 200px; font-variant-numeric: tabular-nums; }
  button { font: inherit; padding: 8px 16px; border-radius: 6px; border: 1px solid var(--brand); background: var(--brand); color: #fff; cursor: pointer; }
  button.secondary { background: #fff; color: var(--brand); }
  button.link { background: none; border: none; color: var(--ink); text-decoration: underline; padding: 0; }
  .actions { display: flex; gap: 10px; align-items: center; margin-top: 18px; flex-wrap: wrap; }
  .inline { display: inline; }
  .error { color: var(--bad); background: #fef2f2; border: 1px solid #fecaca; padding: 10px 12px; border-radius: 6px; }
  .notice { color: var(--good); background: #f0fdf4; border: 1px solid #bbf7d0; padding: 10px 12px; border-radius: 6px; }
  .error:empty, .notice:empty { display: none; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 6px 18px; margin: 0 0 12px; }
  dt { color: var(--muted); }
  dd { margin: 0; font-weight: 600; }
  .amount { font-size: 28px; font-weight: 700; }
  code { background: #f1f5f9; padding: 1px 5px; border-radius: 4px; }
  .card > p.muted:last-child { margin: 18px 0 0; }
`;

/** A page as headers and HTML, for any framework: headers that suit pages holding codes and payments. */
export function renderPage(page: Page): { headers: Record<string, string>; html: string } {
  const nonce = randomBytes(16).toString('base64');
  const headers = {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'same-origin',
    'Content-Security-Policy': `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
  };
  return { headers, html: layout(page, nonce).value };
}

/** Sends a page through Express. */
export function sendPage(res: Response, page: Page, status = 200): void {
  const { headers, html } = renderPage(page);
  res.status(status).set(headers).send(html);
}

function layout({ title, user, body, script }: Page, nonce: string): Html {
  const account = user
    ? html`<a href="/account">${user.name}</a> <a href="/pay">Pay</a>
      <form method="post" action="/logout" class="inline"><button class="link" type="submit">Sign out</button></form>`
    : html`<a href="/login">Sign in</a>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · whatsapp-stepup demo</title>
<style nonce="${nonce}">${new Html(STYLE)}</style>
</head>
<body>
<header><nav>
  <a class="brand" href="/">Demo Bank</a>
  ${account}
  <a href="/dev/outbox" target="_blank" rel="noopener" id="outbox-link">Dev outbox ↗</a>
</nav></header>
<main>${body}</main>
${script ? html`<script nonce="${nonce}">${new Html(script)}</script>` : ''}
</body>
</html>`;
}

// ---------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------

/** Links to routes that only some demos have (the Express demo has the password reset, the Koa demo not yet). */
export interface PageLinks {
  passwordReset?: boolean;
  /** The account page links to the change of phone number (Express demo). */
  changePhone?: boolean;
}

const forgotPassword = (links: PageLinks) => (links.passwordReset ? html`<p class="muted"><a href="/password-reset" id="forgot">Forgot password?</a></p>` : '');

export function homePage(user: PageUser | undefined, demoUsers: readonly { username: string; password: string }[], links: PageLinks = {}): Page {
  const start = user
    ? html`<p>You are signed in. Go to <a href="/account">your account</a> or <a href="/pay">make a payment</a>.</p>`
    : html`<p><a href="/login">Sign in</a> with one of the demo users:</p>
      <ul>${demoUsers.map((demo) => html`<li><code>${demo.username}</code> / <code>${demo.password}</code></li>`)}</ul>
      ${forgotPassword(links)}`;
  return {
    title: 'Home',
    user,
    body: html`<div class="card">
  <h1>whatsapp-stepup demo</h1>
  <p>A WhatsApp one-time code as a second factor: after the password at sign-in, and to approve each payment.</p>
  ${start}
  <p class="muted">No phone needed: every message the app "sends" appears in the <a href="/dev/outbox" target="_blank" rel="noopener">dev outbox</a>.</p>
</div>`,
  };
}

export function loginPage(error?: string, username = '', links: PageLinks = {}): Page {
  return {
    title: 'Sign in',
    body: html`<div class="card">
  <h1>Sign in</h1>
  ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
  <form method="post" action="/login">
    <label for="username">Username</label>
    <input id="username" name="username" autocomplete="username" required value="${username}">
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required>
    <div class="actions"><button type="submit">Continue</button></div>
  </form>
  ${forgotPassword(links)}
</div>`,
  };
}

export interface CodePageState {
  challenge?: ChallengeView | undefined;
  error?: string | undefined;
  notice?: string | undefined;
}

/** Second step of the sign-in: a plain form that posts to the Passport strategy. */
export function loginCodePage({ challenge, error, notice }: CodePageState): Page {
  const form = challenge
    ? html`<p>We sent a sign-in code by WhatsApp to <strong id="masked-to">${challenge.to}</strong>.</p>
  <form method="post" action="/login/code" id="code-form">
    <input type="hidden" name="challengeId" value="${challenge.challengeId}">
    <label for="code">Code</label>
    <input id="code" name="code" class="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]*" maxlength="10" required autofocus>
    <div class="actions"><button type="submit">Sign in</button></div>
  </form>
  <form method="post" action="/login/code/resend" class="actions">
    <button type="submit" class="secondary" id="resend">Resend</button>
    <span class="muted">${challenge.sendsLeft} more send${challenge.sendsLeft === 1 ? '' : 's'} possible.</span>
  </form>`
    : html`<div class="actions"><a href="/login/code">Send a new code</a> <a href="/login">Start over</a></div>`;
  return {
    title: 'Sign-in code',
    body: html`<div class="card">
  <h1>Enter your code</h1>
  ${error ? html`<p class="error" role="alert" id="error">${error}</p>` : ''}
  ${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
  ${form}
  <p class="muted">No phone? Read the code in the <a href="/dev/outbox" target="_blank" rel="noopener">dev outbox</a>.</p>
</div>`,
  };
}

export interface AccountView {
  name: string;
  username: string;
  signedInAt?: string | undefined;
  methods?: string[] | undefined;
  /** The number on file, masked. */
  phone?: string | undefined;
}

export function accountPage(user: PageUser, account: AccountView, links: PageLinks = {}): Page {
  return {
    title: 'Account',
    user,
    body: html`<div class="card">
  <h1>Hello, ${account.name}</h1>
  <dl>
    <dt>Username</dt><dd>${account.username}</dd>
    ${account.signedInAt ? html`<dt>Signed in</dt><dd>${account.signedInAt}</dd>` : ''}
    ${account.methods ? html`<dt>Methods (amr)</dt><dd id="amr">${account.methods.join(', ')}</dd>` : ''}
    ${account.phone ? html`<dt>Phone for codes</dt><dd id="phone">${account.phone}</dd>` : ''}
  </dl>
  <div class="actions"><a href="/pay">Make a payment →</a>${links.changePhone ? html` <a href="/account/phone" id="change-phone">Change phone number</a>` : ''}</div>
</div>`,
  };
}

export const CURRENCIES = ['EUR', 'USD', 'MXN'] as const;

export function payPage(user: PageUser, error?: string, values: { amount?: string; currency?: string; payee?: string } = {}): Page {
  return {
    title: 'Pay',
    user,
    body: html`<div class="card">
  <h1>New payment</h1>
  ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
  <form method="post" action="/pay">
    <label for="amount">Amount</label>
    <input id="amount" name="amount" inputmode="decimal" placeholder="10.00" required value="${values.amount ?? ''}">
    <label for="currency">Currency</label>
    <select id="currency" name="currency">${CURRENCIES.map((currency) => html`<option${currency === values.currency ? html` selected` : ''}>${currency}</option>`)}</select>
    <label for="payee">Payee</label>
    <input id="payee" name="payee" maxlength="60" required value="${values.payee ?? ''}">
    <div class="actions"><button type="submit">Continue</button></div>
  </form>
</div>`,
  };
}

export interface PaymentView {
  id: string;
  amount: string;
  currency: string;
  payee: string;
  status: 'pending' | 'executed';
  challenge: ChallengeView;
  executedAt?: string | undefined;
}

/** The confirm page: what is shown comes from the server's record, the same record the guard checks. */
export function confirmPage(user: PageUser, payment: PaymentView): Page {
  return {
    title: 'Approve payment',
    user,
    body: html`<div class="card">
  <h1>Approve this payment</h1>
  <p class="amount" id="amount">${payment.amount} ${payment.currency}</p>
  <dl><dt>To</dt><dd id="payee">${payment.payee}</dd><dt>Reference</dt><dd>${payment.id}</dd></dl>
  <p>We sent a code to approve it by WhatsApp to <strong>${payment.challenge.to}</strong>. WhatsApp shows only the code: check the amount and payee here.</p>
  ${confirmForm({ stepup: '/stepup', challenge: payment.challenge, confirm: `/payments/${payment.id}/confirm`, submit: `Approve ${payment.amount} ${payment.currency}`, cancel: '/pay' })}
</div>`,
    script: CONFIRM_SCRIPT,
  };
}

/**
 * The code form of the confirm pages, run by CONFIRM_SCRIPT: `stepup` is where the library's
 * router verifies the code, `confirm` the guarded route the token goes to, `choices`
 * checkboxes sent along with it.
 */
function confirmForm(form: { stepup: string; challenge: ChallengeView; confirm: string; submit: string; cancel: string; choices?: Html }): Html {
  return html`<form id="confirm" data-stepup="${form.stepup}" data-challenge="${form.challenge.challengeId}" data-confirm="${form.confirm}">
    <label for="code">Code</label>
    <input id="code" name="code" class="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]*" maxlength="10" required autofocus>
    ${form.choices}
    <div class="actions">
      <button type="submit">${form.submit}</button>
      <button type="button" class="secondary" id="resend">Resend</button>
      <a href="${form.cancel}">Cancel</a>
    </div>
  </form>
  <p class="error" role="alert" id="error"></p>
  <p class="notice" role="status" id="notice"></p>
  <p class="muted">No phone? Read the code in the <a href="/dev/outbox" target="_blank" rel="noopener">dev outbox</a>.</p>`;
}

/** The change of phone number, step 1: the new number. */
export function phonePage(user: PageUser, state: { current: string; error?: string; value?: string }): Page {
  return {
    title: 'Change phone number',
    user,
    body: html`<div class="card">
  <h1>Change your phone number</h1>
  ${state.error ? html`<p class="error" role="alert" id="error">${state.error}</p>` : ''}
  <p>Codes now go to <strong id="current">${state.current}</strong>. To change it, we first send a code to that number: have it at hand.</p>
  <form method="post" action="/account/phone">
    <label for="phone">New mobile number</label>
    <input id="phone" name="phone" type="tel" autocomplete="tel" maxlength="32" placeholder="+34 612 345 678" required value="${state.value ?? ''}">
    <div class="actions"><button type="submit">Send a code to my current number</button> <a href="/account">Cancel</a></div>
  </form>
</div>`,
  };
}

/** Step 2: the code sent to the CURRENT number approves exactly this new number. */
export function phoneConfirmPage(user: PageUser, change: { phone: string; challenge: ChallengeView }): Page {
  return {
    title: 'Confirm new phone number',
    user,
    body: html`<div class="card">
  <h1>Confirm the new number</h1>
  <dl><dt>New number</dt><dd id="new-phone">${change.phone}</dd></dl>
  <p>We sent a code by WhatsApp to your current number <strong>${change.challenge.to}</strong>. Enter it to switch to the new number.</p>
  ${confirmForm({
    stepup: '/account/phone/stepup', challenge: change.challenge, confirm: '/account/phone/confirm', submit: 'Change number', cancel: '/account',
    choices: html`<label><input type="checkbox" name="endOtherSessions" id="end-other-sessions" checked> Sign out everywhere else</label>`,
  })}
</div>`,
    script: CONFIRM_SCRIPT,
  };
}

export function paymentDonePage(user: PageUser, payment: PaymentView): Page {
  return {
    title: 'Payment sent',
    user,
    body: html`<div class="card">
  <h1 id="done">Payment sent</h1>
  <p class="amount">${payment.amount} ${payment.currency}</p>
  <dl><dt>To</dt><dd>${payment.payee}</dd><dt>Reference</dt><dd>${payment.id}</dd><dt>Executed</dt><dd>${payment.executedAt ?? ''}</dd></dl>
  <div class="actions"><a href="/pay">Another payment</a> <a href="/account">Account</a></div>
</div>`,
  };
}

export function errorPage(user: PageUser | undefined, title: string, message: string): Page {
  return {
    title,
    user,
    body: html`<div class="card"><h1>${title}</h1><p class="error" role="alert">${message}</p><p><a href="/">Home</a></p></div>`,
  };
}

export type ResetStep = 'request' | 'code' | 'password';

/**
 * The password reset, one page in three steps that its script shows in turn: the request
 * (username or phone number), the code, the new password. The server chooses the first
 * step from the session, so a reload resumes where the reset stands.
 */
export function passwordResetPage(user: PageUser | undefined, step: ResetStep): Page {
  return {
    title: 'Reset password',
    user,
    body: html`<div class="card" id="reset" data-step="${step}">
  <h1>Reset your password</h1>
  <p class="error" role="alert" id="error"></p>
  <p class="notice" role="status" id="notice"></p>
  <form id="reset-request" hidden>
    <p>Enter your username or the phone number of your account, with its country code (such as +34 612 345 678). If it belongs to an account, we send a code by WhatsApp to the number on file.</p>
    <label for="account">Username or phone number</label>
    <input id="account" name="account" autocomplete="username" maxlength="64" required>
    <div class="actions"><button type="submit">Send code</button> <a href="/login">Back to sign in</a></div>
  </form>
  <form id="reset-code" hidden>
    <label for="code">Code</label>
    <input id="code" name="code" class="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]*" maxlength="10" required>
    <div class="actions"><button type="submit">Continue</button> <button type="button" class="secondary" id="restart">Start over</button></div>
  </form>
  <form id="reset-password" hidden>
    <label for="new-password">New password</label>
    <input id="new-password" name="password" type="password" autocomplete="new-password" minlength="10" maxlength="128" required>
    <label for="repeat-password">The new password again</label>
    <input id="repeat-password" name="repeat" type="password" autocomplete="new-password" required>
    <div class="actions"><button type="submit">Set new password</button></div>
  </form>
  <div id="reset-done" hidden>
    <p>Your password was changed. Sign in with it: we will still ask for a WhatsApp code.</p>
    <div class="actions"><a href="/login" id="to-login">Sign in →</a></div>
  </div>
  <p class="muted">No phone? Read the code in the <a href="/dev/outbox" target="_blank" rel="noopener">dev outbox</a>.</p>
</div>`,
    script: RESET_SCRIPT,
  };
}

// ---------------------------------------------------------------------------
// The pages' scripts
// ---------------------------------------------------------------------------

/** What both scripts start with: the message boxes and a same-origin JSON POST. */
const SCRIPT_HELPERS = `
const errorBox = document.getElementById('error');
const noticeBox = document.getElementById('notice');

function show(error, notice) { errorBox.textContent = error || ''; noticeBox.textContent = notice || ''; }

async function post(url, body, headers) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
    credentials: 'same-origin',
  });
  return { ok: response.ok, status: response.status, body: await response.json().catch(() => null) };
}
`;

/**
 * The payment's and the phone change's confirm pages; the form's `data-` attributes name the
 * challenge, the library's router (`data-stepup`) and the guarded route (`data-confirm`).
 * 1. POST <stepup>/challenges/:id/verify { code } (the library's router) answers the step-up token.
 * 2. POST <confirm> with the token in the `Step-Up-Token` header, and the form's checkboxes as
 *    booleans: the guard checks the token; the answer names the next page.
 * The token lives only in a local variable for the few milliseconds between the two calls:
 * never in storage, a cookie or a URL. A custom header also cannot be sent cross-site
 * without a CORS preflight, which this app never grants.
 */
const CONFIRM_SCRIPT = `${SCRIPT_HELPERS}
const form = document.getElementById('confirm');
const { challenge, stepup, confirm } = form.dataset;
const challengeUrl = stepup + '/challenges/' + encodeURIComponent(challenge);

function describe(body) {
  const error = (body && body.error) || {};
  let text = error.message || 'Something went wrong.';
  if (typeof error.attemptsLeft === 'number') text += ' ' + error.attemptsLeft + ' attempt' + (error.attemptsLeft === 1 ? '' : 's') + ' left.';
  if (typeof error.retryAfter === 'number') text += ' Try again in ' + error.retryAfter + ' s.';
  return text;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  show('', 'Checking…');
  try {
    const verified = await post(challengeUrl + '/verify', { code: form.code.value.trim() });
    if (!verified.ok) return show(describe(verified.body));
    const choices = {};
    for (const box of form.querySelectorAll('input[type=checkbox]')) choices[box.name] = box.checked;
    const confirmed = await post(confirm, choices, { 'Step-Up-Token': verified.body.token });
    if (!confirmed.ok) return show(describe(confirmed.body));
    location.assign(confirmed.body.receipt || confirmed.body.next);
  } catch {
    show('The network failed. Try again.');
  }
});

document.getElementById('resend').addEventListener('click', async () => {
  show('', 'Sending…');
  try {
    const sent = await post(challengeUrl + '/resend', {});
    if (!sent.ok) return show(describe(sent.body));
    show('', 'A new code was sent to ' + sent.body.to + '.');
  } catch {
    show('The network failed. Try again.');
  }
});
`;

/**
 * The reset page: each step posts JSON and shows the next. The request's answer is the same
 * whether or not the account exists, so the code step always follows it; a refused code
 * says only that it did not work. The reset token never reaches this page: the server keeps
 * it in the session.
 */
const RESET_SCRIPT = `${SCRIPT_HELPERS}
const steps = {
  request: document.getElementById('reset-request'),
  code: document.getElementById('reset-code'),
  password: document.getElementById('reset-password'),
  done: document.getElementById('reset-done'),
};

function go(step) {
  for (const [name, element] of Object.entries(steps)) element.hidden = name !== step;
  const input = steps[step].querySelector('input');
  if (input) { input.value = ''; input.focus(); }
}

function submit(step, handler) {
  steps[step].addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await handler(steps[step]);
    } catch {
      show('The network failed. Try again.');
    }
  });
}

submit('request', async (form) => {
  show('', 'Sending…');
  const sent = await post('/password-reset/request', { account: form.account.value.trim() });
  if (!sent.ok) return show((sent.body && sent.body.error && sent.body.error.message) || 'Something went wrong.');
  show('', sent.body.message);
  go('code');
});

submit('code', async (form) => {
  show('', 'Checking…');
  const verified = await post('/password-reset/verify', { code: form.code.value.trim() });
  if (!verified.ok) return show(verified.body.error.message);
  show('', 'Code accepted. Choose your new password.');
  go('password');
});

submit('password', async (form) => {
  if (form.password.value !== form.repeat.value) return show('The two passwords differ.');
  show('', 'Saving…');
  const saved = await post('/password-reset/new', { password: form.password.value });
  if (saved.ok) { show(''); return go('done'); }
  if (saved.status !== 401) return show(saved.body.error.message);
  show('This reset is no longer valid. Start over.');
  go('request');
});

document.getElementById('restart').addEventListener('click', () => { show(''); go('request'); });

go(document.getElementById('reset').dataset.step);
`;
