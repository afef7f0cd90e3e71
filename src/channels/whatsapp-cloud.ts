import { ChannelError, type Channel, type OutgoingMessage, type SendReceipt } from './channel.js';
import { integerIn, rejectUnknown, requireText } from '../lib/validate.js';
import { callProvider, checkBaseUrl, checkChannelName, type ProviderResponse } from './provider-http.js';
import { describeMetaError } from './whatsapp-errors.js';
import { META_LANGUAGE, TEMPLATE_NAME } from './whatsapp-template.js';
import { WAMID } from './whatsapp-webhook.js';

/** The approved AUTHENTICATION template the channel sends (see `authenticationTemplateDefinition`). */
export interface WhatsAppCloudTemplate {
  /** The template's name in WhatsApp Manager, such as `'login_code'`. */
  name: string;
  /**
   * A Meta language code (`'en_US'`), or a map from our locales to Meta codes with a
   * `'*'` entry for every other locale: `{ en: 'en_US', es: 'es', 'pt-BR': 'pt_BR', '*': 'en_US' }`.
   */
  language: string | Readonly<Record<string, string>>;
}

export interface WhatsAppCloudChannelOptions {
  /** Channel name. Default `'whatsapp'`. */
  name?: string;
  /** The business phone number's id (WhatsApp Manager → API Setup), not the phone number. */
  phoneNumberId: string;
  /** A System User access token with `whatsapp_business_messaging`. */
  accessToken: string;
  template: WhatsAppCloudTemplate;
  /** Graph API version. Default `'v23.0'`. */
  apiVersion?: string;
  /** Default `'https://graph.facebook.com'`; tests and egress proxies point it elsewhere. */
  baseUrl?: string;
  /** Limit of one send, in ms. Default 10 000 (the core's own send timeout may be shorter). */
  timeoutMs?: number;
}

const KNOWN = ['name', 'phoneNumberId', 'accessToken', 'template', 'apiVersion', 'baseUrl', 'timeoutMs'];
const DEFAULT_BASE_URL = 'https://graph.facebook.com';
/** Meta limits a URL button's text parameter to 15 characters; our codes have at most 10 digits. */
const CODE = /^[0-9]{4,10}$/;
const E164 = /^\+[1-9][0-9]{6,14}$/;

/**
 * A channel that sends the code through the WhatsApp Cloud API as an AUTHENTICATION
 * template: the code fills the body parameter and the copy-code button. Meta's answer
 * `accepted` resolves the send (it is not `delivered`; the status webhook says more), and
 * its `wamid` becomes the receipt's `messageId`. Errors become a {@link ChannelError}:
 * `configuration` for token and template problems, `fallback` for everything else.
 *
 * @example
 * const whatsapp = whatsappCloudChannel({
 *   phoneNumberId: process.env.WA_PHONE_NUMBER_ID!,
 *   accessToken: process.env.WA_ACCESS_TOKEN!,
 *   template: { name: 'login_code', language: { en: 'en_US', es: 'es', 'pt-BR': 'pt_BR', '*': 'en_US' } },
 * });
 */
export function whatsappCloudChannel(options: WhatsAppCloudChannelOptions): Channel {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError('whatsappCloudChannel needs an options object: { phoneNumberId, accessToken, template: { name, language } }.');
  }
  rejectUnknown(options, KNOWN, 'whatsappCloudChannel');

  const name = checkChannelName(options.name, 'whatsapp');
  const phoneNumberId = requireText(options.phoneNumberId, 'phoneNumberId', "the business phone number's id from WhatsApp Manager → API Setup");
  if (!/^[0-9]{1,32}$/.test(phoneNumberId)) {
    throw new TypeError('`phoneNumberId` must be the numeric id that WhatsApp Manager → API Setup shows, not the phone number itself.');
  }
  const accessToken = requireText(options.accessToken, 'accessToken', 'a System User access token with the whatsapp_business_messaging permission');
  if (!/^[\x21-\x7e]+$/.test(accessToken)) {
    throw new TypeError('`accessToken` must be the token alone: printable characters, no spaces, no "Bearer " prefix, no line breaks.');
  }
  const apiVersion = options.apiVersion ?? 'v23.0';
  if (typeof apiVersion !== 'string' || !/^v[0-9]{1,3}\.[0-9]{1,2}$/.test(apiVersion)) {
    throw new TypeError("`apiVersion` must be a Graph API version such as 'v23.0'. Omit it to use 'v23.0'.");
  }
  const baseUrl = checkBaseUrl(options.baseUrl, DEFAULT_BASE_URL, 'baseUrl');
  const timeoutMs = integerIn(options.timeoutMs ?? undefined, 100, 60_000, 10_000, 'timeoutMs');
  const template = checkTemplate(options.template);
  const url = `${baseUrl}/${apiVersion}/${phoneNumberId}/messages`;

  // The token lives in this closure only: logging or inspecting the channel cannot show it.
  async function send(message: OutgoingMessage, signal: AbortSignal): Promise<SendReceipt> {
    if (!CODE.test(message.code)) {
      throw new ChannelError('The WhatsApp channel sends codes of 4 to 10 digits only (the copy-code button holds at most 15 characters).', {
        kind: 'configuration',
        providerCode: 'code_format',
      });
    }
    if (!E164.test(message.to)) {
      throw new ChannelError('The WhatsApp channel needs an E.164 phone number.', { kind: 'configuration', providerCode: 'phone_format' });
    }
    const response = await callProvider({
      method: 'POST',
      url,
      headers: { Authorization: `Bearer ${accessToken}`, 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(templateMessage(message, template.name, template.language(message.locale))),
      signal,
      timeoutMs,
    });
    return readResponse(response);
  }

  return Object.freeze({ name, transport: 'whatsapp' as const, send });
}

/**
 * The request body of `POST /{version}/{phone-number-id}/messages` (schema `TemplateMessage`):
 * Meta's examples write the recipient as digits without the `+`.
 */
function templateMessage(message: OutgoingMessage, name: string, language: string): unknown {
  return {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to: message.to.slice(1),
    type: 'template',
    template: {
      name,
      language: { policy: 'deterministic', code: language },
      components: [
        { type: 'body', parameters: [{ type: 'text', text: message.code }] },
        { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: message.code }] },
      ],
    },
  };
}

function readResponse({ status, json }: ProviderResponse): SendReceipt {
  if (status >= 200 && status < 300) {
    const first = (json as { messages?: unknown } | undefined)?.messages;
    const entry = Array.isArray(first) ? (first[0] as { id?: unknown; message_status?: unknown } | undefined) : undefined;
    // A wamid is base64 text; anything else (spaces, kilobytes) must not reach the store's keys.
    if (typeof entry?.id !== 'string' || !WAMID.test(entry.id)) {
      throw new ChannelError(`The WhatsApp Cloud API answered HTTP ${status} without a usable message id.`, { kind: 'fallback', providerCode: 'bad_response' });
    }
    // Older API versions omit message_status. A held or paused message would not arrive while the code is valid.
    if (entry.message_status !== undefined && entry.message_status !== 'accepted') {
      const held = typeof entry.message_status === 'string' && /^[a-z_]{1,40}$/.test(entry.message_status) ? entry.message_status : 'unknown';
      throw new ChannelError(`The WhatsApp Cloud API did not accept the message for delivery now (message_status ${held}).`, {
        kind: 'fallback',
        providerCode: held,
      });
    }
    return { messageId: entry.id };
  }
  const code = (json as { error?: { code?: unknown } } | undefined)?.error?.code;
  if (typeof code === 'number' && Number.isInteger(code)) {
    // Meta documents no Retry-After on these answers, so `retryAfter` stays unset.
    const { kind, text, notOnWhatsApp } = describeMetaError(code);
    throw new ChannelError(`WhatsApp Cloud API error ${code} (HTTP ${status}): ${text}`, {
      kind,
      providerCode: code,
      ...(notOnWhatsApp ? { notOnWhatsApp } : {}),
    });
  }
  // No Graph API error body (a proxy's page, an empty answer): only the status is known.
  const unauthorized = status === 401 || status === 403;
  throw new ChannelError(
    unauthorized
      ? `The WhatsApp Cloud API refused the request (HTTP ${status}) without an error body: check \`accessToken\` and \`baseUrl\`.`
      : `The WhatsApp Cloud API answered HTTP ${status} without an error body.`,
    { kind: unauthorized ? 'configuration' : 'fallback', providerCode: `http_${status}` },
  );
}

interface ResolvedTemplate {
  name: string;
  language: (locale: string) => string;
}

function checkTemplate(template: unknown): ResolvedTemplate {
  if (typeof template !== 'object' || template === null || Array.isArray(template)) {
    throw new TypeError("`template` is required: { name: 'login_code', language: 'en_US' }, naming an approved AUTHENTICATION template.");
  }
  rejectUnknown(template, ['name', 'language'], '`template`');
  const { name, language } = template as Record<string, unknown>;
  if (typeof name !== 'string' || !TEMPLATE_NAME.test(name)) {
    throw new TypeError("`template.name` must be the template's name as WhatsApp Manager shows it: lower-case letters, digits and '_', such as 'login_code'.");
  }
  if (typeof language === 'string') {
    checkMetaLanguage(language, 'template.language');
    return { name, language: () => language };
  }
  if (typeof language !== 'object' || language === null || Array.isArray(language)) {
    throw new TypeError("`template.language` must be a Meta language code such as 'en_US', or a map such as { en: 'en_US', es: 'es', '*': 'en_US' }.");
  }
  const entries = Object.entries(language as Record<string, unknown>).map(([locale, code]) => {
    if (locale !== '*' && !/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(locale)) {
      throw new TypeError(`\`template.language\` keys must be locales such as 'en' or 'pt-BR', or '*' (received '${locale.slice(0, 20)}').`);
    }
    return [locale.toLowerCase(), checkMetaLanguage(code, `template.language['${locale}']`)] as const;
  });
  const map = new Map(entries);
  const fallback = map.get('*');
  if (fallback === undefined) {
    throw new TypeError("`template.language` needs a '*' entry for the other locales, such as { en: 'en_US', '*': 'en_US' }.");
  }
  return { name, language: (locale) => pickLanguage(map, locale) ?? fallback };
}

function checkMetaLanguage(code: unknown, option: string): string {
  if (typeof code !== 'string' || !META_LANGUAGE.test(code)) {
    throw new TypeError(`\`${option}\` must be a Meta template language code such as 'en_US', 'es' or 'pt_BR'.`);
  }
  return code;
}

/** Exact locale, then its language (`pt-BR` → `pt`), then a locale of the same language (`pt` → `pt-BR`). */
function pickLanguage(map: ReadonlyMap<string, string>, locale: string): string | undefined {
  const wanted = String(locale ?? '').toLowerCase();
  const primary = wanted.split('-')[0]!;
  return (
    map.get(wanted) ??
    map.get(primary) ??
    [...map].find(([key]) => key !== '*' && key.split('-')[0] === primary)?.[1]
  );
}
