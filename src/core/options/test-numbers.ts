import { booleanOr } from '../../lib/validate.js';
import { normalizePhone, type PhoneRules } from '../phone.js';
import type { StepUpOptions } from '../types.js';

/** Test numbers (E.164 to a fixed code), refused with NODE_ENV=production unless allowed. */
export function resolveTestNumbers(options: StepUpOptions, codeLength: number, rules: PhoneRules): Map<string, string> {
  const entries = options.testNumbers;
  const allowInProduction = booleanOr(options.allowTestNumbersInProduction, false, 'allowTestNumbersInProduction');
  if (entries === undefined) return new Map();
  if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) {
    throw new TypeError("`testNumbers` must be an object of E.164 number to fixed code, such as { '+15005550006': '123456' }.");
  }
  if (process.env.NODE_ENV === 'production' && !allowInProduction) {
    throw new TypeError('`testNumbers` was given with NODE_ENV=production: they accept a fixed code. Remove them, or pass allowTestNumbersInProduction: true for an app-store review build.');
  }
  const numbers = new Map<string, string>();
  // Keys are named by their last two characters only: a test number may be someone's real number.
  for (const [number, code] of Object.entries(entries)) {
    const key = `'…${number.slice(-2)}'`;
    const which = `\`testNumbers\` key ${key}`;
    let e164: string;
    let country: string | undefined;
    try {
      ({ e164, country } = normalizePhone(number, { ...rules, allowCountries: undefined, denyTypes: new Set(), countriesByTransport: new Map() }));
    } catch {
      throw new TypeError(`${which} is not a valid phone number; use E.164 such as '+15005550006'.`);
    }
    if (rules.allowCountries && (!country || !rules.allowCountries.has(country))) {
      throw new TypeError(`${which} is in a country missing from \`phones.allowCountries\`: no challenge could ever use it. Add the country or remove the number.`);
    }
    if (numbers.has(e164)) throw new TypeError(`${which} is the same number as an earlier key (after normalizing to E.164); give each number once.`);
    if (typeof code !== 'string' || !new RegExp(`^\\d{${codeLength}}$`).test(code)) {
      throw new TypeError(`\`testNumbers\` codes must be strings of exactly ${codeLength} digits (\`code.length\`), such as '${'1'.repeat(codeLength)}'; the code of key ${key} is not.`);
    }
    numbers.set(e164, code);
  }
  return numbers;
}
