import { describe, requireOptions } from '../../lib/validate.js';
import { checkCountryCode, NUMBER_TYPES, type PhoneRules } from '../phone.js';
import { TRANSPORTS } from '../../channels/channel.js';
import type { StepUpOptions } from '../types.js';

/** The country and number-type rules of `phones`. */
export function resolvePhones(phones: StepUpOptions['phones']): PhoneRules {
  const denyTypes = resolveDenyTypes(phones?.denyTypes);
  const countriesByTransport = resolveCountriesByTransport(phones?.allowCountriesByTransport);
  if (phones === undefined) return { defaultCountry: undefined, allowCountries: undefined, denyTypes, countriesByTransport };
  requireOptions(phones, ['defaultCountry', 'allowCountries', 'denyTypes', 'allowCountriesByTransport'], 'phones');
  const defaultCountry = phones.defaultCountry === undefined ? undefined : checkCountryCode(phones.defaultCountry, 'phones.defaultCountry');
  let allowCountries: Set<string> | undefined;
  if (phones.allowCountries !== undefined) {
    if (!Array.isArray(phones.allowCountries) || phones.allowCountries.length === 0) {
      throw new TypeError("`phones.allowCountries` must be a non-empty array of ISO 3166 countries such as ['ES', 'MX']; omit it to allow every country.");
    }
    allowCountries = new Set(phones.allowCountries.map((country, index) => checkCountryCode(country, `phones.allowCountries[${index}]`)));
  }
  return { defaultCountry, allowCountries, denyTypes, countriesByTransport };
}

function resolveCountriesByTransport(value: unknown): Map<string, Set<string>> {
  const map = new Map<string, Set<string>>();
  if (value === undefined) return map;
  const option = 'phones.allowCountriesByTransport';
  requireOptions(value, [...TRANSPORTS], option);
  for (const [transport, countries] of Object.entries(value as Record<string, unknown>)) {
    if (!Array.isArray(countries) || countries.length === 0) {
      throw new TypeError(`\`${option}.${transport}\` must be a non-empty array of ISO 3166 countries such as ['ES', 'MX']; leave the transport out to allow every country.`);
    }
    map.set(transport, new Set(countries.map((country, index) => checkCountryCode(country, `${option}.${transport}[${index}]`))));
  }
  return map;
}

function resolveDenyTypes(value: unknown): ReadonlySet<string> {
  if (value === undefined) return new Set(['PREMIUM_RATE', 'SHARED_COST']);
  const known: readonly string[] = NUMBER_TYPES;
  if (!Array.isArray(value) || value.some((type) => !known.includes(type))) {
    throw new TypeError(`\`phones.denyTypes\` must be an array of number types among ${NUMBER_TYPES.join(', ')} (received ${describe(value)}); [] refuses none.`);
  }
  return new Set(value as string[]);
}
