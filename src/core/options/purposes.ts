import { durationOr } from '../../lib/duration.js';
import { booleanOr, describe, integerIn, requireOptions } from '../../lib/validate.js';
import type { ResolvedPurpose } from '../config.js';
import type { PurposePolicy } from '../types.js';

/** Presets; an app may override any field or add purposes of its own. */
const PRESETS: Record<string, PurposePolicy> = {
  login: { tokenTtl: '15m', oneTime: false },
  payment: { tokenTtl: '5m', requireTransaction: true, oneTime: true, maxAttempts: 5 },
  'password-reset': { tokenTtl: '10m', oneTime: true, anonymous: true },
};

const PRESET_FLAG_WORDS = { oneTime: 'one-time', requireTransaction: 'transaction-bound', anonymous: 'anonymous (its budgets are apart from the user\'s own)' } as const;

/** Upper bounds of token lifetimes (SECURITY-REQUIREMENTS R-B7). */
const MAX_TOKEN_TTL = { transaction: 300, oneTime: 600, other: 900 };
export const PURPOSE_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

/** The presets merged with the app's purposes, each validated: a preset's protections cannot be turned off under its name. */
export function resolvePurposes(custom: Record<string, PurposePolicy> | undefined, defaultAttempts: number): Map<string, ResolvedPurpose> {
  if (custom !== undefined && (typeof custom !== 'object' || custom === null || Array.isArray(custom))) {
    throw new TypeError("`purposes` must be an object such as { 'change-email': { tokenTtl: '5m', oneTime: true } }.");
  }
  const merged: Record<string, PurposePolicy> = { ...PRESETS };
  for (const [name, policy] of Object.entries(custom ?? {})) {
    const preset = PRESETS[name];
    // A preset's name carries its protections: code that guards 'payment' trusts that such
    // tokens are transaction-bound and single-use. Weaken them under another name, not this one.
    // An anonymous preset spends budgets apart from the user's; turned off, anyone could lock the user out.
    for (const flag of ['oneTime', 'requireTransaction', 'anonymous'] as const) {
      if (preset?.[flag] === true && policy && typeof policy === 'object' && policy[flag] === false) {
        throw new TypeError(`\`purposes['${name}'].${flag}\` cannot be false: the preset '${name}' is ${PRESET_FLAG_WORDS[flag]}. Define a purpose with another name if you need a weaker policy.`);
      }
    }
    merged[name] = { ...preset, ...policy };
  }
  const resolved = new Map<string, ResolvedPurpose>();
  for (const [name, policy] of Object.entries(merged)) {
    const option = `purposes['${name}']`;
    if (!PURPOSE_NAME.test(name)) throw new TypeError(`Purpose names must be lower-case letters, digits, '-' or '_', starting with a letter (received ${describe(name)}).`);
    requireOptions(policy, ['tokenTtl', 'maxAttempts', 'requireTransaction', 'oneTime', 'anonymous'], option);
    const requireTransaction = booleanOr(policy.requireTransaction, false, `${option}.requireTransaction`);
    const oneTime = booleanOr(policy.oneTime, false, `${option}.oneTime`);
    const anonymous = booleanOr(policy.anonymous, false, `${option}.anonymous`);
    const tokenTtlSec = durationOr(policy.tokenTtl, 300, `${option}.tokenTtl`);
    const limit = requireTransaction ? MAX_TOKEN_TTL.transaction : oneTime ? MAX_TOKEN_TTL.oneTime : MAX_TOKEN_TTL.other;
    if (tokenTtlSec > limit) {
      throw new TypeError(`\`${option}.tokenTtl\` may be at most ${limit} seconds for this kind of purpose (received ${tokenTtlSec}); step-up tokens must be short-lived.`);
    }
    const maxAttempts = integerIn(policy.maxAttempts, 1, requireTransaction ? 5 : 10, Math.min(defaultAttempts, requireTransaction ? 5 : 10), `${option}.maxAttempts`);
    resolved.set(name, Object.freeze({ name, tokenTtlSec, maxAttempts, requireTransaction, oneTime, anonymous }));
  }
  return resolved;
}
