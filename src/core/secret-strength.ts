import { describe } from '../lib/validate.js';

/**
 * The one check every secret option passes, at construction: peppers, the token secret and
 * the HS256 keys kept for rotation. A secret is refused when it is shorter than 32 bytes,
 * when it has too little variety to be random (one short pattern repeated, or few distinct
 * bytes), when it reads as placeholder text, or when another secret option holds the same
 * bytes. A string is its UTF-8 bytes, as it always was: reading it any other way (say, as
 * base64) would change every deployed key, and with it every issued token and stored code.
 */

const MIN_SECRET_BYTES = 32;

export const GENERATE_SECRET =
  "Generate one with: openssl rand -base64 32 (or node -e \"console.log(require('crypto').randomBytes(32).toString('base64'))\")";

/** The secrets one construction has read so far, by option name: no two may be the same. */
export type SeenSecrets = Map<string, Buffer>;

// Each word counts in its lower-case, upper-case and capitalized forms only (the ways people
// type them), and each has 6 or more characters: so a random base64 secret of 32 bytes holds
// one with a chance below 2 in 10^9, a hex one never.
const PLACEHOLDERS = [
  'undefined', '[object ', 'process.env', 'changeme', 'change-me', 'change_me', 'changeMe', 'changeit',
  'password', 'passw0rd', 'secret', 'placeholder', 'example', 'replace', 'default',
];
const PLACEHOLDER_FORMS = PLACEHOLDERS.flatMap((word) => [...new Set([word, word.toLowerCase(), word.toUpperCase(), word[0]!.toUpperCase() + word.slice(1)])]);

/**
 * The bytes of the secret option `option`, refused with a TypeError that names the option,
 * says why (never echoing the secret) and how to make a good one. `seen` collects the
 * secrets of one construction, so that no two options share one.
 */
export function readSecret(value: unknown, option: string, seen: SeenSecrets = new Map()): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value instanceof Uint8Array ? Buffer.from(value) : undefined;
  if (!bytes || bytes.length < MIN_SECRET_BYTES) {
    throw new TypeError(`\`${option}\` must be at least ${MIN_SECRET_BYTES} random bytes (received ${bytes ? `${bytes.length} bytes` : describe(value)}). ${GENERATE_SECRET}`);
  }
  const weakness = weaknessOf(bytes);
  if (weakness) throw new TypeError(`\`${option}\` ${weakness}: it cannot be a random secret. ${GENERATE_SECRET}`);
  for (const [other, earlier] of seen) {
    if (earlier.equals(bytes)) {
      throw new TypeError(`\`${option}\` is the same secret as \`${other}\`: each needs its own, so that one leaking or rotating leaves the others intact. ${GENERATE_SECRET}`);
    }
  }
  seen.set(option, bytes);
  return bytes;
}

/** Why these bytes cannot be random, or undefined. */
function weaknessOf(bytes: Buffer): string | undefined {
  const period = shortestPeriod(bytes);
  if (period <= bytes.length / 2) return `repeats one pattern of ${period} byte${period === 1 ? '' : 's'}`;
  // Calibrated on hex, the poorest alphabet of real secrets: 64 random hex digits
  // (`openssl rand -hex 32`) have fewer than 11 distinct values with a chance below 10^-9.
  const needed = Math.min(11, Math.floor(bytes.length / 8) + 3);
  const distinct = new Set(bytes).size;
  if (distinct < needed) return `has only ${distinct} distinct byte values, where a random one of ${bytes.length} bytes almost always has ${needed} or more`;
  const text = bytes.toString('latin1');
  if (PLACEHOLDER_FORMS.some((form) => text.includes(form))) return "holds placeholder text (such as 'changeme', 'secret' or 'undefined')";
  return undefined;
}

/** The shortest p such that every byte equals the one p before it (KMP's failure function). */
function shortestPeriod(bytes: Buffer): number {
  const border = new Uint32Array(bytes.length);
  for (let i = 1, k = 0; i < bytes.length; i++) {
    while (k > 0 && bytes[i] !== bytes[k]) k = border[k - 1]!;
    if (bytes[i] === bytes[k]) k++;
    border[i] = k;
  }
  return bytes.length - border[bytes.length - 1]!;
}
