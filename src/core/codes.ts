import { createCipheriv, createDecipheriv, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { randomBuffer, randomId, randomUint48 } from '../lib/random.js';
import { SLOT_TAG_LENGTH } from '../stores/store.js';

const DRAW_RANGE = 2 ** 48;

/**
 * A code of `length` decimal digits, uniform over 0 .. 10^length - 1: a 48-bit draw, redrawn
 * when it falls in the last, partial run of 10^length values (rejection sampling, as
 * `crypto.randomInt` does), so there is no modulo bias.
 */
export function generateCode(length: number): string {
  const range = 10 ** length;
  const limit = DRAW_RANGE - (DRAW_RANGE % range);
  for (;;) {
    const value = randomUint48();
    if (value < limit) return String(value % range).padStart(length, '0');
  }
}

/**
 * A challenge id: the slot tag of its subject (so that Redis keeps the challenge beside the
 * subject's failure counters), a `.` when it spends the anonymous budget, then 128 random
 * bits. Verify reads the budget off the id, before the store is asked: it names the failure
 * counter that the store's one atomic step checks. Changing the mark changes the id, which
 * then names no challenge.
 */
export function newChallengeId(slotTag: string, anonymous: boolean): string {
  return slotTag + (anonymous ? ANONYMOUS_MARK : '') + randomId();
}

const ANONYMOUS_MARK = '.';

/** Whether a well-formed challenge id spends the anonymous budget. */
export function isAnonymousId(id: string): boolean {
  return id.length === SLOT_TAG_LENGTH + 23 && id[SLOT_TAG_LENGTH] === ANONYMOUS_MARK;
}

// The id without its tag (22 characters, the earlier format) is well-formed too: it names no
// challenge, but a verify of it costs the store round trip that a real one does, which the
// "verify one that does not exist" pattern of the README's password reset relies on.
const CHALLENGE_ID = new RegExp(`^(?:[A-Za-z0-9_-]{${SLOT_TAG_LENGTH}}\\.?)?[A-Za-z0-9_-]{22}$`);

export function isChallengeId(value: unknown): value is string {
  return typeof value === 'string' && CHALLENGE_ID.test(value);
}

/** A pepper reduced to the key material each use needs, so no key serves two purposes. */
export interface PepperKeys {
  id: string;
  code: Buffer;
  binding: Buffer;
  seal: Buffer;
}

/** Derives separate keys from one pepper (HKDF-SHA256), so code digests and binding hashes never share a key. */
export function derivePepperKeys(id: string, secret: Buffer): PepperKeys {
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), `whatsapp-stepup/${info}`, 32));
  return { id, code: derive('code-digest'), binding: derive('session-binding'), seal: derive('phone-seal') };
}

/** Longest input we hash; anything longer is certainly not a code and still costs an attempt. */
const MAX_CODE_INPUT = 64;

/**
 * `pepperId:base64url(HMAC-SHA256(key, challengeId ":" code))`. The challenge id in the
 * MAC means a digest is useless for any other challenge.
 */
export function digestCode(keys: PepperKeys, challengeId: string, code: string): string {
  const input = code.length > MAX_CODE_INPUT ? code.slice(0, MAX_CODE_INPUT) + '\u0000' : code;
  // base64url, not hex: 46 characters keep the challenge hash under Redis's listpack limit of
  // 64 bytes a value, a compact encoding about a third the size of a hashtable.
  const mac = createHmac('sha256', keys.code).update(challengeId).update(':').update(input).digest('base64url');
  return `${keys.id}:${mac}`;
}

/** Keyed hash of a session binding, as carried in the `sbh` claim and the challenge. */
export function hashBinding(keys: PepperKeys, binding: string): string {
  return createHmac('sha256', keys.binding).update(binding).digest('base64url');
}

/** Constant-time equality of two strings; unequal lengths are simply unequal. */
export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  if (left.length !== right.length) return false;
  return timingSafeEqual(left, right);
}

/**
 * AES-256-GCM sealing of the phone number kept in a challenge for resends, so that a
 * reader of Redis sees no number. Format: `pepperId.iv.ciphertext.tag`, base64url parts;
 * the challenge id is authenticated data, so a sealed number cannot move to another challenge;
 * a `label` (such as `#payment`) keeps texts of different kinds from standing in for each other.
 */
export function sealText(keys: PepperKeys, challengeId: string, text: string, label = ''): string {
  const iv = randomBuffer(12);
  const cipher = createCipheriv('aes-256-gcm', keys.seal, iv);
  cipher.setAAD(Buffer.from(challengeId + label));
  const sealed = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
  return [keys.id, iv.toString('base64url'), sealed.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

/** The inverse of {@link sealText}; undefined when no configured pepper opens it. */
export function openSealed(peppers: readonly PepperKeys[], challengeId: string, sealed: string, label = ''): string | undefined {
  const [id, iv, data, tag] = sealed.split('.');
  const keys = peppers.find((candidate) => candidate.id === id);
  if (!keys || !iv || data === undefined || !tag) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keys.seal, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(challengeId + label));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
