import { ChannelError } from './channel.js';

/** How a Twilio error code is handled: whose fault it is, and our own words for it. */
export interface TwilioErrorClass {
  kind: 'fallback' | 'configuration';
  /** Our description, safe to log: Twilio's own message text can echo the phone number. */
  says: string;
  notOnWhatsApp?: boolean;
}

const configuration = (says: string): TwilioErrorClass => ({ kind: 'configuration', says });
const fallback = (says: string): TwilioErrorClass => ({ kind: 'fallback', says });

// Codes from Twilio's error dictionary (https://www.twilio.com/docs/api/errors) that
// a Messages.json create or a status callback can carry. Configuration: our account,
// credentials, sender or template is wrong, so every user is affected. Fallback: this
// recipient or this attempt failed; the next channel may reach them.
const CODES: ReadonlyMap<number, TwilioErrorClass> = new Map([
  [20003, configuration('the credentials were refused (check accountSid and authToken or apiKey)')],
  [20005, configuration('the account is not active')],
  [20008, configuration('test credentials cannot send messages')],
  [20404, configuration('the account or resource was not found (check accountSid)')],
  [21212, configuration("the sender ('from') is not a valid number")],
  [21601, configuration("the sender ('from') cannot send SMS")],
  [21602, configuration('the message had no body')],
  [21603, configuration("neither a sender ('from') nor a messaging service was given")],
  [21606, configuration("the sender ('from') cannot send messages to this destination or does not belong to the account")],
  [21608, configuration('a trial account can send only to verified numbers')],
  [21617, configuration('the message text is longer than 1600 characters')],
  [21619, configuration('the message had neither a body nor a template')],
  [21654, configuration('the template (contentSid) is required')],
  [21655, configuration('the template (contentSid) is not valid')],
  [21656, configuration('the template variables (contentVariables) are not valid')],
  [21659, configuration("the sender ('from') is not a Twilio number of this account")],
  [21660, configuration("the sender ('from') does not belong to the account")],
  [21701, configuration('the messaging service was not found')],
  [21703, configuration('the messaging service has no senders')],
  [21704, configuration('the messaging service has no senders')],
  [21705, configuration('the messaging service is not valid')],
  [30002, configuration('the account is suspended')],
  [30032, configuration('the toll-free sender is not verified')],
  [30034, configuration('the sender is not registered for A2P 10DLC')],
  [63007, configuration("the WhatsApp sender ('from') was not found for this account")],
  [63016, configuration('free text is refused outside the 24-hour window: a WhatsApp template (contentSid) is required')],
  [63112, configuration('Meta disabled the WhatsApp Business Account')],
  [21211, fallback('the recipient number is not valid')],
  [21408, fallback("the account may not send to the recipient's region")],
  [21610, fallback('the recipient has unsubscribed (STOP)')],
  [21612, fallback('the recipient cannot be reached from this sender')],
  [21614, fallback('the recipient number is not a mobile number')],
  [21635, fallback('the recipient number is a landline')],
  [20429, fallback('too many requests')],
  [63003, { kind: 'fallback', says: 'the recipient has no WhatsApp account', notOnWhatsApp: true }],
  [63018, fallback('the WhatsApp rate limit was reached')],
  [63024, fallback('the recipient is not a valid WhatsApp recipient')],
  [63032, fallback('WhatsApp refused this recipient')],
]);

/** The class of a Twilio error code; codes we do not list fall back (30xxx delivery failures among them). */
export function classifyTwilioCode(code: number): TwilioErrorClass {
  return CODES.get(code) ?? fallback(code >= 30_000 && code < 31_000 ? 'the carrier did not deliver the message' : 'Twilio refused the message');
}

/**
 * A ChannelError for a Twilio HTTP error. Its message is built from the numeric code and
 * our words only: Twilio's `message` may repeat the recipient's number.
 */
export function twilioError(status: number, body: unknown, retryAfter: number | undefined): ChannelError {
  const code = readCode(body);
  if (status === 429 || code === 20429) {
    return new ChannelError(`Twilio rate limit (HTTP ${status}${code === undefined ? '' : `, error ${code}`}): too many requests.`, {
      kind: 'fallback',
      providerCode: code ?? status,
      ...(retryAfter === undefined ? {} : { retryAfter }),
    });
  }
  if (code !== undefined) {
    const found = classifyTwilioCode(code);
    // An unlisted code with 401/403/404 is still about our credentials or account path.
    const kind = CODES.has(code) || ![401, 403, 404].includes(status) ? found.kind : 'configuration';
    return new ChannelError(`Twilio error ${code} (HTTP ${status}): ${found.says}.`, {
      kind,
      providerCode: code,
      ...(found.notOnWhatsApp ? { notOnWhatsApp: true } : {}),
    });
  }
  if (status === 401 || status === 403) {
    return new ChannelError(`Twilio refused the credentials (HTTP ${status}).`, { kind: 'configuration', providerCode: status });
  }
  if (status === 404) {
    return new ChannelError('Twilio answered 404: check accountSid and baseUrl.', { kind: 'configuration', providerCode: status });
  }
  return new ChannelError(`Twilio answered HTTP ${status}${status >= 500 ? ' (provider error)' : ''}.`, { kind: 'fallback', providerCode: status });
}

function readCode(body: unknown): number | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const code = (body as { code?: unknown }).code;
  const number = typeof code === 'string' && /^\d{1,6}$/.test(code) ? Number(code) : code;
  return typeof number === 'number' && Number.isInteger(number) && number > 0 ? number : undefined;
}
