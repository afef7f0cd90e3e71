import type { ChannelErrorDetails } from './channel.js';

export interface MetaErrorVerdict {
  kind: ChannelErrorDetails['kind'];
  /** Our own words: Meta's `message` and `details` may repeat the recipient's number. */
  text: string;
  notOnWhatsApp?: boolean;
}

const FALLBACK: Record<number, Omit<MetaErrorVerdict, 'kind'>> = {
  131026: { text: 'the message is undeliverable: the number has no WhatsApp account, an old app, or has not accepted the terms.', notOnWhatsApp: true },
  131049: { text: 'Meta chose not to deliver the message now (ecosystem engagement limit).' },
  130472: { text: "the user's number is part of a Meta experiment and cannot receive this message now." },
  131048: { text: 'the business number is rate-limited for spam: check its quality rating in WhatsApp Manager.' },
  130429: { text: 'the Cloud API throughput limit was reached.' },
  131056: { text: 'too many messages went to this recipient from this business number in a short time.' },
  80007: { text: 'the WhatsApp Business Account reached its rate limit.' },
  4: { text: 'the app reached its Graph API call limit.' },
  131000: { text: 'Meta failed to send the message for an unknown reason.' },
};

const TEMPLATE = 'the template does not match what the channel sends: check `template.name` and `template.language`, and that it is an approved AUTHENTICATION template with a copy-code button in that language.';

const CONFIGURATION: Record<number, string> = {
  0: 'Meta could not authenticate the access token: create a new System User token.',
  3: 'the app lacks the capability to send messages: check its permissions with the access token debugger.',
  10: 'the access token lacks the whatsapp_business_messaging permission, or it was removed.',
  100: 'Meta rejected a parameter: check `phoneNumberId` and `apiVersion`.',
  190: 'the access token has expired or is invalid: create a new one (System User tokens need not expire).',
  368: 'the WhatsApp Business Account is restricted for a policy violation.',
  131031: 'the business account is locked: see WhatsApp Manager.',
  131042: 'the business account has a payment problem: see WhatsApp Manager → billing.',
  133010: 'the business phone number is not registered with the Cloud API.',
};

/**
 * Sorts a Graph API error code (DESIGN §8.1): token, permission, account and template
 * problems are `configuration` (the next channel is tried, and operators must hear of
 * it); everything else, known or not, is `fallback`. Beyond DESIGN's list, 3, 100,
 * 200-299, 368, 131031, 131042 and 133010 are treated as configuration: no recipient
 * can be reached until someone fixes the account.
 */
export function describeMetaError(code: number): MetaErrorVerdict {
  const fallback = FALLBACK[code];
  if (fallback) return { kind: 'fallback', ...fallback };
  if (code >= 132000 && code <= 132016) return { kind: 'configuration', text: TEMPLATE };
  const configuration = CONFIGURATION[code] ?? (code >= 200 && code <= 299 ? 'the app lacks a permission this call needs: check it with the access token debugger.' : undefined);
  if (configuration) return { kind: 'configuration', text: configuration };
  return { kind: 'fallback', text: 'the message could not be sent.' };
}
