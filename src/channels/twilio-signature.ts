import { createHmac, timingSafeEqual } from 'node:crypto';
import { classifyTwilioCode } from './twilio-errors.js';

/** Form parameters of a webhook request as a body parser gives them. */
export type TwilioWebhookParams = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface VerifyTwilioSignatureInput {
  /** The auth token of the account that sent the message (API key secrets do not sign webhooks). */
  authToken: string;
  /** The full URL Twilio called, scheme, host, path and query exactly as configured in `statusCallback`. */
  url: string;
  /** Every POST parameter received, not only the ones you read: Twilio signs them all. */
  params: TwilioWebhookParams;
  /** The `X-Twilio-Signature` header. */
  signature: string | readonly string[] | null | undefined;
}

/**
 * Checks `X-Twilio-Signature`: base64(HMAC-SHA1(authToken, url + each POST parameter's
 * name and value, sorted by name)), compared in constant time. Like Twilio's own
 * helper it also accepts the URL with the scheme's default port added or removed,
 * because Twilio may sign either form. A missing or malformed header, or parameters
 * that are not plain strings, give false.
 *
 * @example
 * const ok = verifyTwilioSignature({ authToken, url: 'https://example.com/hooks/twilio', params: req.body, signature: req.get('X-Twilio-Signature') });
 */
export function verifyTwilioSignature({ authToken, url, params, signature }: VerifyTwilioSignatureInput): boolean {
  // An empty key would make the HMAC computable by anyone: refuse to check rather than pass.
  if (typeof authToken !== 'string' || authToken === '') throw new TypeError('`authToken` is required to check X-Twilio-Signature: the Auth Token from the Twilio console.');
  if (typeof signature !== 'string' || !/^[A-Za-z0-9+/]{27}=$/.test(signature)) return false;
  if (typeof url !== 'string' || url === '' || typeof params !== 'object' || params === null) return false;
  const payload = signedParams(params);
  if (payload === undefined) return false;
  const given = Buffer.from(signature);
  let valid = false;
  for (const candidate of urlVariants(url)) {
    const expected = Buffer.from(createHmac('sha1', authToken).update(candidate + payload, 'utf8').digest('base64'));
    // Every variant is computed and compared, so the time taken does not depend on which matched.
    if (expected.length === given.length && timingSafeEqual(expected, given)) valid = true;
  }
  return valid;
}

function signedParams(params: TwilioWebhookParams): string | undefined {
  let payload = '';
  for (const key of Object.keys(params).sort()) {
    const value = params[key];
    if (value === undefined) continue;
    if (typeof value === 'string') {
      payload += key + value;
    } else if (Array.isArray(value) && value.every((item) => typeof item === 'string')) {
      for (const item of [...value].sort()) payload += key + item;
    } else {
      return undefined;
    }
  }
  return payload;
}

/** The URL as given, plus the same URL with the scheme's default port added or removed. */
function urlVariants(url: string): string[] {
  const match = /^(https?):\/\/([^/?#]+)(.*)$/i.exec(url);
  if (!match) return [url];
  const [, scheme = '', authority = '', rest = ''] = match;
  const defaultPort = scheme.toLowerCase() === 'https' ? '443' : '80';
  if (authority.endsWith(`:${defaultPort}`)) return [url, `${scheme}://${authority.slice(0, -defaultPort.length - 1)}${rest}`];
  if (/:\d*$/.test(authority)) return [url];
  return [url, `${scheme}://${authority}:${defaultPort}${rest}`];
}

/**
 * The core's delivery vocabulary. `pending`: accepted by Twilio, not yet handed on
 * (queued, sending, accepted, scheduled); nothing to do. `sent` is not `delivered`.
 */
export type TwilioDeliveryStatus = 'pending' | 'sent' | 'delivered' | 'read' | 'failed';

export interface TwilioStatusUpdate {
  /** The message sid (`SM…`/`MM…`), as returned by the channel's `send`. */
  messageId: string;
  status: TwilioDeliveryStatus;
  /** Twilio's own word (`undelivered`, `queued`, …), for logs. */
  providerStatus: string;
  /** Twilio's error code, when the callback carries one. */
  errorCode?: number;
  /** For a failure: `configuration` when the code says our setup is wrong (report it loudly), else `fallback`. */
  errorKind?: 'fallback' | 'configuration';
  /** For a failure: Twilio says the number has no WhatsApp account (63003). */
  notOnWhatsApp?: boolean;
}

const STATUSES: Readonly<Record<string, TwilioDeliveryStatus>> = {
  queued: 'pending',
  sending: 'pending',
  accepted: 'pending',
  scheduled: 'pending',
  sent: 'sent',
  delivered: 'delivered',
  partially_delivered: 'delivered',
  read: 'read',
  failed: 'failed',
  undelivered: 'failed',
  canceled: 'failed',
};

/**
 * Reads a Twilio message status callback (form parameters `MessageSid`, `MessageStatus`,
 * `ErrorCode`) into the core's vocabulary: `undelivered` and `canceled` become
 * `failed`. Returns undefined when the parameters are not a status callback for an
 * outgoing message. Check the signature first: this function trusts its input.
 *
 * @example
 * const update = parseTwilioStatusCallback(req.body); // { messageId: 'SM…', status: 'failed', providerStatus: 'undelivered', errorCode: 30003, errorKind: 'fallback' }
 */
export function parseTwilioStatusCallback(params: TwilioWebhookParams): TwilioStatusUpdate | undefined {
  if (typeof params !== 'object' || params === null) return undefined;
  const messageId = first(params.MessageSid) ?? first(params.SmsSid);
  const providerStatus = first(params.MessageStatus) ?? first(params.SmsStatus);
  if (messageId === undefined || !/^(SM|MM)[0-9a-fA-F]{32}$/.test(messageId)) return undefined;
  if (providerStatus === undefined || !Object.hasOwn(STATUSES, providerStatus)) return undefined;
  const status = STATUSES[providerStatus]!;
  const update: TwilioStatusUpdate = { messageId, status, providerStatus };
  const code = first(params.ErrorCode);
  if (code !== undefined && /^\d{1,6}$/.test(code) && Number(code) > 0) {
    update.errorCode = Number(code);
    if (status === 'failed') {
      const found = classifyTwilioCode(update.errorCode);
      update.errorKind = found.kind;
      if (found.notOnWhatsApp) update.notOnWhatsApp = true;
    }
  } else if (status === 'failed') {
    update.errorKind = 'fallback';
  }
  return update;
}

function first(value: string | readonly string[] | undefined): string | undefined {
  const item = typeof value === 'string' ? value : Array.isArray(value) ? value[0] : undefined;
  return typeof item === 'string' && item !== '' ? item : undefined;
}
