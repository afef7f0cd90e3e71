import { createPrivateKey, createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { parseDuration } from '../../lib/duration.js';
import { describe } from '../../lib/validate.js';
import type { TokenConfig, TokenKey } from '../config.js';
import { readSecret, type SeenSecrets } from '../secret-strength.js';
import type { AsymmetricAlgorithm, TokenOptions, VerificationKey } from '../types.js';

const ASYMMETRIC: readonly AsymmetricAlgorithm[] = ['ES256', 'RS256', 'PS256'];
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const KNOWN_TOKEN_OPTIONS = ['issuer', 'audience', 'keyId', 'previousKeys', 'type', 'clockTolerance', 'secret', 'algorithm', 'privateKey', 'publicKey'];

/**
 * Validates `tokens` once, at construction, into key objects bound to one algorithm each.
 * Its HS256 secrets join `seen`, so that no other secret option may repeat one.
 */
export function resolveTokenConfig(options: TokenOptions | undefined, seen: SeenSecrets = new Map()): TokenConfig {
  if (!options || typeof options !== 'object') {
    throw new TypeError("`tokens` is required: { issuer, audience, secret } with a secret of at least 32 random bytes, or { issuer, audience, privateKey, publicKey, algorithm: 'ES256' }.");
  }
  const unknown = Object.keys(options).find((key) => !KNOWN_TOKEN_OPTIONS.includes(key));
  if (unknown) throw new TypeError(`\`tokens.${unknown}\` is not an option. Known: ${KNOWN_TOKEN_OPTIONS.join(', ')}.`);
  const issuer = requireText(options.issuer, 'tokens.issuer', "your app's URL, such as 'https://app.example.com'");
  const audience = requireText(options.audience, 'tokens.audience', "the app or route group that checks the tokens, such as 'https://app.example.com/api'");
  const keyId = options.keyId ?? 'stepup-1';
  if (typeof keyId !== 'string' || !KEY_ID.test(keyId)) {
    throw new TypeError(`\`tokens.keyId\` must be 1 to 64 letters, digits, '.', '_' or '-' (received ${describe(keyId)}).`);
  }
  const type = options.type ?? 'stepup+jwt';
  if (typeof type !== 'string' || !/^[a-z0-9.+-]{1,64}$/i.test(type) || /^application\//i.test(type) || /^(jwt|at\+jwt)$/i.test(type)) {
    throw new TypeError(`\`tokens.type\` must be a specific media subtype such as 'stepup+jwt', not 'JWT' (received ${describe(type)}).`);
  }
  // Zero is a valid tolerance (perfectly synchronized clocks); parseDuration accepts only positive values.
  const clockToleranceSec = options.clockTolerance === undefined ? 30 : options.clockTolerance === 0 ? 0 : parseDuration(options.clockTolerance, 'tokens.clockTolerance');
  if (clockToleranceSec > 60) {
    throw new TypeError(`\`tokens.clockTolerance\` may be at most 60 seconds (received ${clockToleranceSec}). Synchronize the servers' clocks instead.`);
  }

  let signing: TokenKey;
  let ownVerification: TokenKey;
  if ('secret' in options && options.secret !== undefined) {
    if (options.algorithm !== undefined && options.algorithm !== 'HS256') {
      throw new TypeError("`tokens.algorithm` must be 'HS256' with a secret; give privateKey and publicKey for ES256, RS256 or PS256.");
    }
    signing = ownVerification = { algorithm: 'HS256', key: createSecretKey(readSecret(options.secret, 'tokens.secret', seen)) };
  } else if ('privateKey' in options && options.privateKey !== undefined) {
    const algorithm = options.algorithm;
    if (!ASYMMETRIC.includes(algorithm)) {
      throw new TypeError(`\`tokens.algorithm\` must be one of ${ASYMMETRIC.join(', ')} with a key pair (received ${describe(algorithm)}).`);
    }
    const privateKey = asymmetricKey(options.privateKey, algorithm, 'tokens.privateKey', 'private');
    const publicKey = asymmetricKey(options.publicKey, algorithm, 'tokens.publicKey', 'public');
    signing = { algorithm, key: privateKey };
    ownVerification = { algorithm, key: publicKey };
    checkPair(signing, ownVerification);
  } else {
    throw new TypeError('`tokens` needs a `secret` (HS256, at least 32 random bytes) or a `privateKey` and `publicKey` with an `algorithm`.');
  }

  const verification = new Map<string, TokenKey>([[keyId, ownVerification]]);
  for (const [index, previous] of (options.previousKeys ?? []).entries()) {
    const option = `tokens.previousKeys[${index}]`;
    if (!previous || typeof previous !== 'object' || typeof previous.keyId !== 'string' || !KEY_ID.test(previous.keyId)) {
      throw new TypeError(`\`${option}.keyId\` must be 1 to 64 letters, digits, '.', '_' or '-'.`);
    }
    if (verification.has(previous.keyId)) throw new TypeError(`\`${option}.keyId\` repeats the key id '${previous.keyId}'; key ids must be unique.`);
    verification.set(previous.keyId, verificationEntry(previous, option, seen));
  }
  const algorithms = [...new Set([...verification.values()].map((entry) => entry.algorithm))];
  return { issuer, audience, type, clockToleranceSec, keyId, signing, verification, algorithms };
}

function verificationEntry(key: VerificationKey, option: string, seen: SeenSecrets): TokenKey {
  if (key.algorithm === 'HS256') return { algorithm: 'HS256', key: createSecretKey(readSecret((key as { secret: unknown }).secret, `${option}.secret`, seen)) };
  if (ASYMMETRIC.includes(key.algorithm)) {
    return { algorithm: key.algorithm, key: asymmetricKey((key as { publicKey: unknown }).publicKey, key.algorithm, `${option}.publicKey`, 'public') };
  }
  throw new TypeError(`\`${option}.algorithm\` must be HS256, ES256, RS256 or PS256 (received ${describe((key as { algorithm: unknown }).algorithm)}).`);
}

function requireText(value: unknown, option: string, example: string): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > 512) {
    throw new TypeError(`\`${option}\` must be a non-empty string: ${example} (received ${describe(value)}).`);
  }
  return value;
}

function asymmetricKey(input: unknown, algorithm: AsymmetricAlgorithm, option: string, kind: 'private' | 'public'): KeyObject {
  let key: KeyObject;
  try {
    if (typeof input === 'string') key = kind === 'private' ? createPrivateKey(input) : createPublicKey(input);
    else if (input && typeof input === 'object' && 'type' in input && 'export' in input) key = input as KeyObject;
    else throw new Error('not a key');
  } catch {
    throw new TypeError(`\`${option}\` must be a PEM string or a KeyObject holding a ${kind} key for ${algorithm}.`);
  }
  if (key.type !== kind) throw new TypeError(`\`${option}\` must be a ${kind} key (received a ${key.type} key).`);
  const details = key.asymmetricKeyDetails ?? {};
  if (algorithm === 'ES256' && !(key.asymmetricKeyType === 'ec' && details.namedCurve === 'prime256v1')) {
    throw new TypeError(`\`${option}\` must be a P-256 (prime256v1) EC key for ES256.`);
  }
  if (algorithm !== 'ES256') {
    const rsaType = key.asymmetricKeyType === 'rsa' || (algorithm === 'PS256' && key.asymmetricKeyType === 'rsa-pss');
    if (!rsaType || (details.modulusLength ?? 0) < 2048) {
      throw new TypeError(`\`${option}\` must be an RSA key of at least 2048 bits for ${algorithm}.`);
    }
  }
  return key;
}

function checkPair(signing: TokenKey, verification: TokenKey): void {
  const probe = jwt.sign({ probe: true }, signing.key, { algorithm: signing.algorithm, noTimestamp: true });
  try {
    jwt.verify(probe, verification.key, { algorithms: [verification.algorithm] });
  } catch {
    throw new TypeError('`tokens.publicKey` does not belong to `tokens.privateKey`.');
  }
}
