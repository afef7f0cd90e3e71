import { ChannelError, type Channel, type OutgoingMessage, type SendReceipt } from './channel.js';
import { integerIn, requireText } from '../lib/validate.js';
import { callProvider, checkBaseUrl, checkChannelName, retryAfterSeconds } from './provider-http.js';
import { twilioError } from './twilio-errors.js';

export interface TwilioChannelOptions {
  /** `'sms'` sends the core's rendered text as `Body`; `'whatsapp'` sends a Content template. */
  kind: 'sms' | 'whatsapp';
  /** Channel name. Default `'sms'` for SMS, `'whatsapp-twilio'` for WhatsApp. */
  name?: string;
  /** `AC…` (34 characters): the account the messages are sent from. */
  accountSid: string;
  /** The account's auth token. Give this or `apiKey`. */
  authToken?: string;
  /** An API key (`SK…` sid and its secret) of the same account. Give this or `authToken`. */
  apiKey?: { sid: string; secret: string };
  /** Sender: `+E164`, for SMS also a short code or alphanumeric sender id; for WhatsApp `+E164` or `whatsapp:+E164`. Give this or `messagingServiceSid`. */
  from?: string;
  /** `MG…`: let a Messaging Service pick the sender. Give this or `from`. */
  messagingServiceSid?: string;
  /** `HX…`: the approved WhatsApp authentication template. Required for `kind: 'whatsapp'`. */
  contentSid?: string;
  /** The template's variables. Default `{ "1": code }`. */
  contentVariables?: (message: OutgoingMessage) => Record<string, string>;
  /** Where Twilio posts delivery statuses (sent as `StatusCallback`). */
  statusCallback?: string;
  /** API root. Default `'https://api.twilio.com'`; tests and egress proxies change it. */
  baseUrl?: string;
  /** This channel's own HTTP limit in ms (the core's send timeout also applies). Default 10 000. */
  timeoutMs?: number;
}

const KNOWN_OPTIONS = new Set([
  'kind', 'name', 'accountSid', 'authToken', 'apiKey', 'from', 'messagingServiceSid', 'contentSid',
  'contentVariables', 'statusCallback', 'baseUrl', 'timeoutMs',
]);
const E164 = /^\+[1-9]\d{6,14}$/;

/**
 * A channel that sends through Twilio Programmable Messaging: an SMS carrying the core's
 * text, or a WhatsApp Content template carrying the code. No SDK: one form-encoded POST
 * to `Messages.json` with Basic auth. Credentials stay in this closure: they appear in
 * no property, error message or log.
 *
 * @example
 * const sms = twilioChannel({ kind: 'sms', accountSid: 'AC…', authToken: process.env.TWILIO_AUTH_TOKEN!, from: '+15005550006' });
 * const whatsapp = twilioChannel({ kind: 'whatsapp', accountSid: 'AC…', apiKey: { sid: 'SK…', secret }, from: 'whatsapp:+15005550006', contentSid: 'HX…' });
 */
export function twilioChannel(options: TwilioChannelOptions): Channel {
  if (typeof options !== 'object' || options === null) throw new TypeError('twilioChannel() needs an options object.');
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) throw new TypeError(`Unknown twilioChannel option \`${key}\`. Known options: ${[...KNOWN_OPTIONS].join(', ')}.`);
  }
  const { kind } = options;
  if (kind !== 'sms' && kind !== 'whatsapp') throw new TypeError("`kind` must be 'sms' or 'whatsapp'.");
  const name = checkChannelName(options.name, kind === 'sms' ? 'sms' : 'whatsapp-twilio');
  const accountSid = checkSid(options.accountSid, 'accountSid', 'AC', 'the Account SID from the Twilio console');
  const authorization = checkAuth(options, accountSid);
  const sender = checkSender(options, kind);
  const template = checkTemplate(options, kind);
  const statusCallback = checkStatusCallback(options.statusCallback);
  const baseUrl = checkBaseUrl(options.baseUrl, 'https://api.twilio.com', 'baseUrl');
  const timeoutMs = integerIn(options.timeoutMs ?? undefined, 100, 60_000, 10_000, 'timeoutMs');
  const url = `${baseUrl}/2010-04-01/Accounts/${accountSid}/Messages.json`;

  async function send(message: OutgoingMessage, signal: AbortSignal): Promise<SendReceipt> {
    if (typeof message.to !== 'string' || !E164.test(message.to)) {
      throw new ChannelError('The recipient is not an E.164 number.', { kind: 'fallback', providerCode: 'invalid_recipient' });
    }
    const form = new URLSearchParams({ To: kind === 'whatsapp' ? `whatsapp:${message.to}` : message.to, ...sender });
    if (template) {
      form.set('ContentSid', template.contentSid);
      form.set('ContentVariables', JSON.stringify(renderVariables(template.variables, message)));
    } else {
      form.set('Body', message.text);
    }
    // A code that sat in Twilio's queue past its expiry is useless: let Twilio drop it (error 30036) instead.
    form.set('ValidityPeriod', String(Math.min(36_000, Math.max(1, Math.floor(message.ttlSeconds) || 1))));
    if (statusCallback) form.set('StatusCallback', statusCallback);
    const response = await callProvider({
      method: 'POST',
      url,
      headers: { Authorization: authorization, 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: form.toString(),
      signal,
      timeoutMs,
    });
    if (response.status < 200 || response.status > 299) {
      throw twilioError(response.status, response.json, retryAfterSeconds(response.headers));
    }
    const sid = (response.json as { sid?: unknown } | undefined)?.sid;
    if (typeof sid !== 'string' || !/^[A-Z]{2}[0-9a-fA-F]{32}$/.test(sid)) {
      throw new ChannelError(`Twilio answered HTTP ${response.status} without a message sid.`, { kind: 'fallback', providerCode: 'invalid_response' });
    }
    return { messageId: sid };
  }

  return Object.freeze({ name, transport: kind, send });
}

function checkSid(value: unknown, option: string, prefix: string, hint: string): string {
  if (typeof value !== 'string' || !new RegExp(`^${prefix}[0-9a-fA-F]{32}$`).test(value)) {
    throw new TypeError(`\`${option}\` must be '${prefix}' followed by 32 hex digits: ${hint}.`);
  }
  return value;
}

function checkAuth(options: TwilioChannelOptions, accountSid: string): string {
  if ((options.authToken === undefined) === (options.apiKey === undefined)) {
    throw new TypeError('Give exactly one of `authToken` (the account auth token) and `apiKey` ({ sid, secret } of an API key).');
  }
  let user = accountSid;
  let password: string;
  if (options.apiKey !== undefined) {
    if (typeof options.apiKey !== 'object' || options.apiKey === null) throw new TypeError('`apiKey` must be { sid, secret }: an API key created in the Twilio console.');
    user = checkSid(options.apiKey.sid, 'apiKey.sid', 'SK', 'the API key SID from the Twilio console');
    password = checkSecret(options.apiKey.secret, 'apiKey.secret', 'the secret shown once when the API key was created');
  } else {
    password = checkSecret(options.authToken, 'authToken', 'the Auth Token from the Twilio console');
  }
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

function checkSecret(value: unknown, option: string, hint: string): string {
  const secret = requireText(value, option, hint);
  // The value is never echoed: a secret pasted with a stray space would land in logs.
  if (!/^[\x21-\x7e]+$/.test(secret)) throw new TypeError(`\`${option}\` has spaces or characters that no Twilio secret has: copy ${hint} again.`);
  return secret;
}

function checkSender(options: TwilioChannelOptions, kind: 'sms' | 'whatsapp'): Record<string, string> {
  const { from, messagingServiceSid } = options;
  if ((from === undefined) === (messagingServiceSid === undefined)) {
    throw new TypeError('Give exactly one of `from` (your Twilio number) and `messagingServiceSid` (MG…).');
  }
  if (messagingServiceSid !== undefined) {
    return { MessagingServiceSid: checkSid(messagingServiceSid, 'messagingServiceSid', 'MG', 'the Messaging Service SID') };
  }
  if (typeof from !== 'string') throw new TypeError('`from` must be a string such as \'+15005550006\'.');
  if (kind === 'whatsapp') {
    const number = from.startsWith('whatsapp:') ? from.slice('whatsapp:'.length) : from;
    if (!E164.test(number)) throw new TypeError("`from` must be your WhatsApp sender as '+E164' or 'whatsapp:+E164', such as 'whatsapp:+15005550006'.");
    return { From: `whatsapp:${number}` };
  }
  const shortCode = /^\d{3,8}$/.test(from);
  const alphanumeric = /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/.test(from);
  if (!E164.test(from) && !shortCode && !alphanumeric) {
    throw new TypeError("`from` must be an SMS sender: '+E164' such as '+15005550006', a short code, or an alphanumeric sender id of at most 11 characters.");
  }
  return { From: from };
}

interface Template {
  contentSid: string;
  variables: ((message: OutgoingMessage) => Record<string, string>) | undefined;
}

function checkTemplate(options: TwilioChannelOptions, kind: 'sms' | 'whatsapp'): Template | undefined {
  if (kind === 'sms') {
    if (options.contentSid !== undefined || options.contentVariables !== undefined) {
      throw new TypeError("`contentSid` and `contentVariables` are for kind 'whatsapp': SMS carries the core's text, which names the purpose and ends with the origin-bound code line.");
    }
    return undefined;
  }
  if (options.contentSid === undefined) {
    throw new TypeError("`contentSid` is required for kind 'whatsapp': the HX… SID of an approved authentication template whose variable {{1}} is the code.");
  }
  const contentSid = checkSid(options.contentSid, 'contentSid', 'HX', 'the Content SID of an approved WhatsApp template');
  if (options.contentVariables !== undefined && typeof options.contentVariables !== 'function') {
    throw new TypeError('`contentVariables` must be a function (message) => ({ "1": message.code, … }). Omit it to send { "1": code }.');
  }
  return { contentSid, variables: options.contentVariables };
}

function checkStatusCallback(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(String(value));
  } catch {
    url = undefined;
  }
  // Twilio refuses hostnames with underscores; credentials in the URL would be sent in the clear to Twilio's logs.
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.hostname.includes('_') || url.username || url.password) {
    throw new TypeError('`statusCallback` must be an absolute http(s) URL without credentials or underscores in the host, such as \'https://example.com/stepup/webhooks/twilio\'.');
  }
  // Sent as written: Twilio signs its callbacks with exactly this URL.
  return String(value);
}

function renderVariables(variables: Template['variables'], message: OutgoingMessage): Record<string, string> {
  if (!variables) return { '1': message.code };
  let result: unknown;
  try {
    result = variables(message);
  } catch {
    throw new ChannelError('`contentVariables` threw.', { kind: 'configuration', providerCode: 'content_variables' });
  }
  const valid = typeof result === 'object' && result !== null && !Array.isArray(result) && Object.values(result).every((value) => typeof value === 'string');
  if (!valid) {
    throw new ChannelError('`contentVariables` must return an object of strings such as { "1": code }.', { kind: 'configuration', providerCode: 'content_variables' });
  }
  return result as Record<string, string>;
}
