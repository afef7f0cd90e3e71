import { createHmac, timingSafeEqual } from 'node:crypto';
import { parse as parseQuery, stringify as stringifyQuery } from 'node:querystring';
import { classifyTwilioCode } from './twilio-errors.js';

/** Form parameters of a webhook request as a body parser gives them. */
export type TwilioWebhookParams = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface VerifyTwilioSignatureInput {
  /** The auth token of the account that sent the message (API key secrets do not sign webhooks). */
  authToken: string;
  /** The full URL Twilio called, scheme, host, path and query exactly as configured in `statusCallback`. */
  url: string;
  /** Every POST parameter received, not only the ones you read: Twilio signs them all. A repeated name is an array. */
  params: TwilioWebhookParams;
  /** The `X-Twilio-Signature` header. */
  signature: string | readonly string[] | null | undefined;
}

/**
 * Checks `X-Twilio-Signature`: base64(HMAC-SHA1(authToken, url + each POST parameter's
 * name and value, sorted by name; a repeated name's distinct values sorted)), compared in
 * constant time. It accepts exactly the URL forms that the `validateRequest` of Twilio's
 * own SDK accepts, because Twilio may sign any of them: the URL as given with its port
 * removed or, when it has none, the scheme's default port added; then the same for the
 * URL as `new URL()` writes it (lower-case host, `'` as `%27`, `/a/../b` as `/b`), and for
 * that URL with its query re-encoded as Node's `querystring` does. A missing or malformed
 * header, or parameters that are not strings or arrays of strings, give false.
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
  for (const candidate of signedUrls(url)) {
    const expected = Buffer.from(createHmac('sha1', authToken).update(candidate + payload, 'utf8').digest('base64'));
    // Every form is computed and compared, so the time taken does not depend on which matched.
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
      // As the SDK signs them: a value repeated under one name counts once.
      for (const item of [...new Set(value)].sort()) payload += key + item;
    } else {
      return undefined;
    }
  }
  return payload;
}

/** The URL forms Twilio's SDK checks (webhooks.js `validateRequest`), no more. */
function signedUrls(url: string): Set<string> {
  const forms = new Set([withoutPort(url), withDefaultPort(url)]);
  let normalized: string;
  try {
    normalized = new URL(url).toString();
  } catch {
    return forms;
  }
  for (const form of [withoutPort(normalized), withDefaultPort(normalized)]) forms.add(form).add(withLegacyQuery(form));
  return forms;
}

/** Splits the authority without normalizing anything, so the rest keeps the exact characters Twilio signed. */
function splitUrl(url: string) {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)/i.exec(url);
  if (!match) return undefined;
  const [prefix = '', scheme = '', authority = ''] = match;
  const userInfoEnd = authority.lastIndexOf('@');
  const hostAndPort = authority.slice(userInfoEnd + 1);
  // A colon starts the port only after the closing bracket of an IPv6 literal.
  const portStart = hostAndPort.indexOf(':', hostAndPort.lastIndexOf(']') + 1);
  return {
    head: scheme + authority.slice(0, userInfoEnd + 1) + (portStart === -1 ? hostAndPort : hostAndPort.slice(0, portStart)),
    scheme,
    port: portStart === -1 ? '' : hostAndPort.slice(portStart),
    rest: url.slice(prefix.length),
  };
}

/** Any port removed: Twilio may sign a URL configured with a port without it. */
function withoutPort(url: string): string {
  const parts = splitUrl(url);
  return parts ? parts.head + parts.rest : url;
}

/** The scheme's default port added when the URL has none. */
function withDefaultPort(url: string): string {
  const parts = splitUrl(url);
  if (!parts || parts.port) return url;
  return parts.head + (parts.scheme.toLowerCase() === 'https://' ? ':443' : ':80') + parts.rest;
}

/** The query as Node's legacy `querystring` re-encodes it, for back ends that signed that form. */
function withLegacyQuery(url: string): string {
  const start = url.indexOf('?');
  if (start === -1 || start === url.length - 1) return url;
  return `${url.slice(0, start)}?${stringifyQuery(parseQuery(url.slice(start + 1)))}`;
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

/** A parameter's one value. The signature does not cover the order of a repeated name's values, so differing ones give undefined. */
function first(value: string | readonly string[] | undefined): string | undefined {
  const item = typeof value === 'string' ? value : Array.isArray(value) && new Set(value).size === 1 ? value[0] : undefined;
  return typeof item === 'string' && item !== '' ? item : undefined;
}
