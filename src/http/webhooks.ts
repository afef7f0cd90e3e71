import type { IncomingMessage } from 'node:http';
import { safeEqual } from '../core/codes.js';
import { isStepUpError } from '../core/errors.js';
import { rejectUnknown } from '../lib/validate.js';
import type { StepUp } from '../core/stepup.js';
import { parseTwilioStatusCallback, verifyTwilioSignature } from '../channels/twilio-signature.js';
import { parseWhatsAppStatusWebhook, verifyMetaSignature } from '../channels/whatsapp-webhook.js';
import { headersOf, readRawBody } from './body.js';
import { errorResponse, jsonResponse, type HttpResponse } from './responses.js';

/** Delivery-status webhooks the router can mount (DESIGN §4 and §8.1). */
export interface WebhookOptions {
  /** `GET/POST /webhooks/whatsapp`: the verify token you enter in Meta's dashboard, and the app secret that signs callbacks. */
  whatsapp?: { verifyToken: string; appSecret: string };
  /** `POST /webhooks/twilio`: the account's auth token, and the exact public URL given to Twilio as `statusCallback`. */
  twilio?: { authToken: string; url: string };
}

export interface WebhookRequest {
  method: string;
  /** The path below the router's prefix, e.g. `/webhooks/whatsapp`. */
  path: string;
  message: IncomingMessage;
}

const BODY_LIMIT = 1024 * 1024;
const HANDSHAKE_CHALLENGE = /^[A-Za-z0-9_-]{1,256}$/;
/** Meta's and Twilio's "not a WhatsApp user" codes. */
const NOT_ON_WHATSAPP = new Set([131026, 63003]);

/**
 * Checks the options once; returns the handler, which answers `undefined` for paths that
 * are not webhooks. A missing or wrong signature is 401 and changes nothing; statuses
 * are applied through the core, which keeps them monotonic and falls back once.
 */
export function createWebhookHandler(stepup: StepUp, options: WebhookOptions | undefined) {
  if (options === undefined) return async () => undefined;
  if (typeof options !== 'object' || options === null) throw new TypeError('`webhooks` must be an object such as { whatsapp: { verifyToken, appSecret } }.');
  rejectUnknown(options, ['whatsapp', 'twilio'], '`webhooks`');
  const { whatsapp, twilio } = options;
  if (whatsapp) {
    secret(whatsapp.verifyToken, 'webhooks.whatsapp.verifyToken', 'the token you type into the Callback URL form of the Meta dashboard', 8);
    secret(whatsapp.appSecret, 'webhooks.whatsapp.appSecret', "your Meta app's App Secret, which signs callbacks", 16);
  }
  if (twilio) {
    secret(twilio.authToken, 'webhooks.twilio.authToken', 'the Auth Token of the Twilio account', 16);
    try {
      const url = new URL(twilio.url);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('scheme');
    } catch {
      throw new TypeError('`webhooks.twilio.url` must be the exact public URL you give Twilio as statusCallback, such as https://app.example.com/stepup/webhooks/twilio.');
    }
  }

  return async (request: WebhookRequest): Promise<HttpResponse | undefined> => {
    const path = request.path.replace(/\/$/, '').toLowerCase();
    const header = headersOf(request.message.headers);
    if (path === '/webhooks/whatsapp' && whatsapp) {
      if (request.method === 'GET') return handshake(request, whatsapp.verifyToken);
      if (request.method === 'POST') return statuses(request, (raw) => {
        if (!verifyMetaSignature(raw, header('x-hub-signature-256'), whatsapp.appSecret)) return undefined;
        let body: unknown;
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch {
          return [];
        }
        return parseWhatsAppStatusWebhook(body).map((update) => ({
          messageId: update.messageId,
          status: update.status,
          errorCodes: update.errorCodes,
          notOnWhatsApp: update.errorCodes.some((code) => NOT_ON_WHATSAPP.has(code)),
        }));
      }, stepup);
    }
    if (path === '/webhooks/twilio' && twilio && request.method === 'POST') {
      return statuses(request, (raw) => {
        const params = formParams(raw);
        if (!verifyTwilioSignature({ authToken: twilio.authToken, url: twilio.url, params, signature: header('x-twilio-signature') })) return undefined;
        const update = parseTwilioStatusCallback(params);
        if (!update || update.status === 'pending') return [];
        return [{
          messageId: update.messageId,
          status: update.status,
          ...(update.errorCode === undefined ? {} : { errorCodes: [update.errorCode] }),
          notOnWhatsApp: update.notOnWhatsApp === true,
        }];
      }, stepup);
    }
    return undefined;
  };
}

function handshake(request: WebhookRequest, verifyToken: string): HttpResponse {
  const query = new URL(request.message.url ?? '/', 'http://webhook').searchParams;
  const challenge = query.get('hub.challenge') ?? '';
  const ok = query.get('hub.mode') === 'subscribe' && safeEqual(query.get('hub.verify_token') ?? '', verifyToken) && HANDSHAKE_CHALLENGE.test(challenge);
  // An error like every other (DESIGN §4: JSON `{ error: { code, message } }`); Meta only looks for the 200.
  if (!ok) return jsonResponse(403, { error: { code: 'forbidden', message: 'The verification request was refused: check hub.mode and hub.verify_token.' } });
  // Echoed only when it is plain token characters: the answer is never a reflection vector.
  return { status: 200, headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' }, body: challenge };
}

type Report = Parameters<StepUp['handleDeliveryStatus']>[0];

async function statuses(request: WebhookRequest, read: (raw: Buffer) => Report[] | undefined, stepup: StepUp): Promise<HttpResponse> {
  try {
    const raw = await readRawBody(request.message, BODY_LIMIT);
    if (raw === undefined) {
      // An app-wide body parser ate the bytes the signature covers: a setup error, never a pass.
      console.error('[whatsapp-stepup] a webhook body was consumed before the router: mount stepUpRouter before any body parser.');
      return jsonResponse(500, { error: { code: 'internal_error', message: 'Something went wrong.' } });
    }
    const reports = read(raw);
    if (reports === undefined) return jsonResponse(401, { error: { code: 'invalid_signature', message: 'The webhook signature is missing or wrong.' } });
    for (const report of reports) await stepup.handleDeliveryStatus(report);
    return jsonResponse(200, { received: reports.length });
  } catch (error) {
    // The provider retries on 5xx: a store outage loses no status.
    if (isStepUpError(error)) return errorResponse(error);
    throw error;
  }
}

/** Form fields as a body parser gives them: a repeated name's values as an array, in order (Twilio signs them all). */
function formParams(raw: Buffer): Record<string, string | string[]> {
  const grouped = new Map<string, string[]>();
  for (const [name, value] of new URLSearchParams(raw.toString('utf8'))) {
    const values = grouped.get(name);
    if (values) values.push(value);
    else grouped.set(name, [value]);
  }
  return Object.fromEntries([...grouped].map(([name, values]) => [name, values.length === 1 ? values[0]! : values]));
}

function secret(value: unknown, option: string, what: string, minLength: number): void {
  if (typeof value !== 'string' || value.length < minLength) {
    throw new TypeError(`\`${option}\` must be a string of at least ${minLength} characters: ${what}.`);
  }
}
