import { parsePhoneNumberWithError, isSupportedCountry, type CountryCode } from 'libphonenumber-js/max';
import { stepUpError } from './errors.js';

export interface NormalizedPhone {
  /** E.164, such as `+34612345678`. */
  e164: string;
  /** Calling code, such as `34`. */
  callingCode: string;
  /** ISO 3166 country, when the number belongs to one. */
  country: string | undefined;
  /** For display: calling code, bullets, last two digits. */
  masked: string;
}

export interface PhoneRules {
  defaultCountry: CountryCode | undefined;
  allowCountries: ReadonlySet<string> | undefined;
  /** Refused number types; `UNKNOWN` stands for a number whose type cannot be told. */
  denyTypes: ReadonlySet<string>;
  /** Countries per transport; a transport not in the map is not restricted. */
  countriesByTransport: ReadonlyMap<string, ReadonlySet<string>>;
}

/** Whether a channel of `transport` may send to a number of `country` (R-I2). */
export function transportAllows(rules: PhoneRules, transport: string, country: string | undefined): boolean {
  const allowed = rules.countriesByTransport.get(transport);
  return !allowed || (country !== undefined && allowed.has(country));
}

export const NUMBER_TYPES = [
  'PREMIUM_RATE', 'TOLL_FREE', 'SHARED_COST', 'VOIP', 'PERSONAL_NUMBER', 'PAGER', 'UAN', 'VOICEMAIL',
  'FIXED_LINE', 'MOBILE', 'FIXED_LINE_OR_MOBILE', 'UNKNOWN',
] as const;

/** Said in refusals: why a number of this type gets no code. */
const TYPE_WORDS: Record<string, string> = {
  PREMIUM_RATE: 'premium-rate numbers', SHARED_COST: 'shared-cost numbers', TOLL_FREE: 'toll-free numbers', VOIP: 'VoIP numbers',
  PERSONAL_NUMBER: 'personal (forwarding) numbers', PAGER: 'pagers', UAN: 'universal access numbers', VOICEMAIL: 'voicemail numbers',
  FIXED_LINE: 'landlines', MOBILE: 'mobile numbers', FIXED_LINE_OR_MOBILE: 'numbers of this kind', UNKNOWN: 'numbers of an unknown type',
};

/**
 * Parses with the full metadata (`libphonenumber-js/max`) so that validity is
 * checked against real number ranges, not only lengths. Messages never repeat the number.
 */
export function normalizePhone(input: unknown, rules: PhoneRules): NormalizedPhone {
  if (typeof input !== 'string' || input.trim() === '' || input.length > 64) {
    throw stepUpError('invalid_request', {}, 'The phone number on file is missing or not a string.');
  }
  let parsed;
  try {
    parsed = parsePhoneNumberWithError(input, rules.defaultCountry);
  } catch {
    throw stepUpError('invalid_request', {}, 'The phone number on file is not a valid phone number.');
  }
  // A number whose type is known is valid (libphonenumber's isValid is that same type lookup,
  // a dozen regular expressions); only without a type is validity asked separately.
  const type = parsed.getType();
  if (type === undefined && !parsed.isValid()) {
    throw stepUpError('invalid_request', {}, 'The phone number on file is not a valid phone number.');
  }
  if (rules.allowCountries && (!parsed.country || !rules.allowCountries.has(parsed.country))) {
    throw stepUpError('invalid_request', {}, 'Codes cannot be sent to phone numbers of this country.');
  }
  if (rules.denyTypes.has(type ?? 'UNKNOWN')) {
    throw stepUpError('invalid_request', {}, `Codes cannot be sent to ${TYPE_WORDS[type ?? 'UNKNOWN'] ?? 'numbers of this kind'}.`);
  }
  return { e164: parsed.number, callingCode: parsed.countryCallingCode, country: parsed.country, masked: maskPhone(parsed.countryCallingCode, parsed.nationalNumber) };
}

/** ISO country and calling code of an E.164 number already checked (a challenge's sealed copy). */
export function regionOf(e164: string): { country: string | undefined; callingCode: string | undefined } {
  try {
    const parsed = parsePhoneNumberWithError(e164);
    return { country: parsed.country, callingCode: parsed.countryCallingCode };
  } catch {
    return { country: undefined, callingCode: undefined };
  }
}

/** The calling code a masked number starts with (see maskPhone), such as `34`. */
export function callingCodeOfMasked(masked: string): string | undefined {
  return /^\+(\d{1,3}) /.exec(masked)?.[1];
}

/** `+34 •••••••78`; callingCodeOfMasked reads the calling code back, so the two change together. */
function maskPhone(callingCode: string, nationalNumber: string): string {
  const hidden = Math.max(nationalNumber.length - 2, 1);
  return `+${callingCode} ${'•'.repeat(hidden)}${nationalNumber.slice(hidden)}`;
}

export function checkCountryCode(value: string, option: string): CountryCode {
  if (!isSupportedCountry(value)) {
    throw new TypeError(`\`${option}\` must be an ISO 3166-1 alpha-2 country such as 'ES' (received ${JSON.stringify(value)}).`);
  }
  return value;
}
