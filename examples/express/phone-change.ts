/**
 * Changing the phone number on file (SECURITY-REQUIREMENTS R-H4): the number that receives
 * every code is itself changed only with a fresh code sent to the CURRENT number, in this
 * session, and the change offers to end the account's other sessions.
 *
 *   GET  /account/phone          the form: the new number
 *   POST /account/phone          validates it, records the change in the session and starts a
 *                                'change-phone' challenge to the number on file, bound to
 *                                the change ({ id: random id, phone: new number })
 *   GET  /account/phone/confirm  the code page; its script verifies the code at
 *                                /account/phone/stepup (the library's router) and sends the
 *                                token at once in the `Step-Up-Token` header to…
 *   POST /account/phone/confirm  requireStepUp: purpose 'change-phone', this user, this
 *                                session, this change, at most 5 minutes old, once; then the
 *                                new number is on file and, if asked, the other sessions end
 */
import { randomBytes } from 'node:crypto';
import express from 'express';
import type { MemoryStore } from 'express-session';
import { parsePhoneNumberFromString, type PhoneNumber } from 'libphonenumber-js/max';
import type { StepUp, Transaction } from '../../src/index.js';
import { requireStepUp, stepUpRouter } from '../../src/express/index.js';
import { CHANGE_PHONE, demoLogger } from './service.js';
import { currentUser, endSessionsOf, requireUser, state, type DemoSession } from './session.js';
import type { UserDirectory } from './users.js';
import * as views from './views.js';

/** Number types that can receive a WhatsApp message or an SMS. */
const RECEIVING_TYPES = new Set(['MOBILE', 'FIXED_LINE_OR_MOBILE']);

/** What the code approves: this change (random id) to this number. The id also keeps the number out of reach of a guess at the hash. */
const transactionOf = (change: Pick<NonNullable<DemoSession['phoneChange']>, 'id' | 'phone'>): Transaction => ({ id: change.id, phone: change.phone });

export function phoneChangeRoutes(stepup: StepUp, users: UserDirectory, sessions: MemoryStore): express.Router {
  const routes = express.Router();
  const pending = (req: express.Request) => state(req).phoneChange;

  // The library's routes for the confirm page's script (verify, resend), for this purpose only.
  routes.use('/account/phone/stepup', stepUpRouter(stepup, {
    // The number on file: the code goes to the number being replaced, never to one from the request.
    resolveSubject: (req) => {
      const user = currentUser(req);
      return user && { id: user.id, phone: user.phone };
    },
    binding: (req) => req.sessionID,
    purposes: [CHANGE_PHONE],
    transaction: (req) => {
      const change = pending(req);
      return change && transactionOf(change);
    },
  }));

  routes.get('/account/phone', requireUser, (req, res) => {
    const user = currentUser(req)!;
    views.sendPage(res, views.phonePage(user, { current: masked(user.phone) }));
  });

  routes.post('/account/phone', requireUser, async (req, res) => {
    const user = currentUser(req)!;
    const input: unknown = req.body?.phone;
    const read = readNewPhone(input, user.phone);
    const refuse = (error: string) => views.sendPage(res, views.phonePage(user, { current: masked(user.phone), error, value: typeof input === 'string' ? input : '' }), 400);
    if (!read.ok) return refuse(read.error);
    // Another account's number: two accounts on one number would make the reset by number ambiguous.
    if (users.phoneTaken(read.phone.number, user.id)) return refuse('This number cannot be used. Enter another one.');
    const change = { id: randomBytes(12).toString('base64url'), phone: read.phone.number };
    const challenge = await stepup.start({
      subject: user.id, phone: user.phone, purpose: CHANGE_PHONE, transaction: transactionOf(change), binding: req.sessionID,
      ...(req.ip === undefined ? {} : { ip: req.ip }),
    });
    state(req).phoneChange = { ...change, challenge };
    res.redirect(303, '/account/phone/confirm');
  });

  routes.get('/account/phone/confirm', requireUser, (req, res) => {
    const change = pending(req);
    if (!change) return res.redirect(303, '/account/phone');
    views.sendPage(res, views.phoneConfirmPage(currentUser(req)!, { phone: display(change.phone), challenge: change.challenge }));
  });

  routes.post(
    '/account/phone/confirm',
    requireUser,
    express.json({ limit: '1kb' }),
    (req, res, next) => (pending(req) ? next() : res.status(409).set('Cache-Control', 'no-store').json({ error: { code: 'no_pending_change', message: 'Start the change of number again.' } })),
    requireStepUp(stepup, {
      purpose: CHANGE_PHONE,
      // Fresh: the code was checked at most 5 minutes ago, and the token passes once.
      maxAge: '5m',
      oneTime: true,
      subject: (req) => currentUser(req)?.id,
      binding: (req) => req.sessionID,
      // The change recorded in this session, not the request body.
      transaction: (req) => transactionOf(pending(req)!),
    }),
    async (req, res) => {
      const user = currentUser(req)!;
      const change = pending(req)!;
      users.setPhone(user.id, change.phone);
      delete state(req).phoneChange;
      const endOthers = req.body?.endOtherSessions === true;
      const ended = endOthers ? await endSessionsOf(sessions, user.id, req.sessionID) : 0;
      // The notice an app sends to the OLD number and the email on file ("your number was
      // changed; not you? …"): the demo logs it. Masked numbers only.
      demoLogger.info({ notice: 'phone.changed', subject: user.id, from: masked(user.phone), to: masked(change.phone), endedSessions: ended }, 'notify the account: its phone number changed');
      res.set('Cache-Control', 'no-store').json({ status: 'changed', endedSessions: ended, next: '/account' });
    },
  );

  return routes;
}

/**
 * The new number in E.164, or why not: valid for its country (full metadata), able to
 * receive WhatsApp or SMS (mobile), and not the current one. Without `+`, the country of
 * the current number is assumed.
 */
export function readNewPhone(input: unknown, current: string): { ok: true; phone: PhoneNumber } | { ok: false; error: string } {
  if (typeof input !== 'string' || input.trim() === '' || input.length > 32) return { ok: false, error: 'Enter the new number, such as +34 612 345 678.' };
  const phone = parsePhoneNumberFromString(input.trim(), parsePhoneNumberFromString(current)?.country);
  if (!phone?.isValid()) return { ok: false, error: 'That is not a valid phone number. Include the country code, such as +34.' };
  if (!RECEIVING_TYPES.has(phone.getType() ?? '')) return { ok: false, error: 'Enter a mobile number: codes arrive by WhatsApp or SMS.' };
  if (phone.number === current) return { ok: false, error: 'That is already your number.' };
  return { ok: true, phone };
}

/** "+34 612 34 56 78" */
const display = (e164: string) => parsePhoneNumberFromString(e164)?.formatInternational() ?? e164;

/** "+34 •••••••78": for pages and logs. */
export function masked(e164: string): string {
  const phone = parsePhoneNumberFromString(e164);
  if (!phone) return '•••';
  const national = phone.nationalNumber;
  return `+${phone.countryCallingCode} ${'•'.repeat(Math.max(national.length - 2, 1))}${national.slice(-2)}`;
}
