// normalizePhone asks libphonenumber for the number's type once and takes a typed number as
// valid (libphonenumber's isValid is that same lookup). It must decide exactly as asking
// isValid first and the type after: the same numbers accepted, with the same type, and the
// same refusals.
import fc from 'fast-check';
import { parsePhoneNumberWithError } from 'libphonenumber-js/max';
import { describe, expect, it } from 'vitest';
import { isStepUpError } from '../src/index.js';
import { normalizePhone, type PhoneRules } from '../src/core/phone.js';

const rules = (denyTypes: string[]): PhoneRules => ({ defaultCountry: undefined, allowCountries: undefined, denyTypes: new Set(denyTypes), countriesByTransport: new Map() });

/** The decision as it was made before: validity, then the type. */
function reference(input: string, denyTypes: string[]): string {
  let parsed;
  try {
    parsed = parsePhoneNumberWithError(input);
  } catch {
    return 'refused: not a valid phone number';
  }
  if (!parsed.isValid()) return 'refused: not a valid phone number';
  const type = parsed.getType() ?? 'UNKNOWN';
  return denyTypes.includes(type) ? `refused: type ${type}` : `accepted ${parsed.number}`;
}

function decide(input: string, denyTypes: string[]): string {
  try {
    return `accepted ${normalizePhone(input, rules(denyTypes)).e164}`;
  } catch (error) {
    if (!isStepUpError(error)) throw error;
    if (/not a valid phone number/.test(error.message)) return 'refused: not a valid phone number';
    const type = parsePhoneNumberWithError(input).getType() ?? 'UNKNOWN';
    return `refused: type ${type}`;
  }
}

// Calling codes with many number types (UK, Spain, US, Germany, India), a non-geographic one
// (+800, +882) and a few small ones.
const CALLING_CODES = ['44', '34', '1', '49', '91', '800', '882', '247', '290', '379', '683'];

describe('normalizePhone', () => {
  it('decides every number as validity-then-type did (fast-check, 3,000 numbers)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...CALLING_CODES),
        fc.stringMatching(/^[0-9]{4,12}$/),
        fc.subarray(['PREMIUM_RATE', 'SHARED_COST', 'TOLL_FREE', 'VOIP', 'FIXED_LINE', 'MOBILE', 'FIXED_LINE_OR_MOBILE', 'UNKNOWN']),
        (callingCode, digits, denyTypes) => {
          const input = `+${callingCode}${digits}`;
          expect(decide(input, denyTypes)).toBe(reference(input, denyTypes));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('accepts a UK mobile as MOBILE, refuses a UK premium-rate number by type and an unassigned range as invalid', () => {
    expect(normalizePhone('+447911123456', rules(['PREMIUM_RATE'])).masked).toBe('+44 ••••••••56');
    expect(() => normalizePhone('+449098790000', rules(['PREMIUM_RATE']))).toThrow(/premium-rate numbers/);
    expect(() => normalizePhone('+441000000000', rules([]))).toThrow(/not a valid phone number/);
  });
});
