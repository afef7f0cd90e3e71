import type { KeyObject } from 'node:crypto';
import type { ChallengeStore } from '../stores/store.js';
import type { Channel } from '../channels/channel.js';
import type { StepUpEvent } from './events.js';
import type { StepUpLogger } from './logger.js';
import type { MetricsOptions } from './metrics.js';
import type { LimitsOptions } from './options/limits.js';

import type { Duration } from '../lib/duration.js';
import type { CheckTokenInput, StepUpClaims, TokenFacts, TokenPolicy, VerifyResult } from './token-types.js';
import type { JsonValue, Transaction } from './transaction.js';

// The public types of the options and the operations; the token check's are in token-types.ts,
// the transaction's in transaction.ts.
export type { CheckTokenInput, Duration, JsonValue, StepUpClaims, TokenFacts, TokenPolicy, Transaction, VerifyResult };

/**
 * A secret given as text (taken as its UTF-8 bytes, never decoded from base64 or hex) or
 * bytes: at least 32 random bytes, such as the output of `openssl rand -base64 32`.
 * `createStepUp` refuses, naming the option, a secret that cannot be random (one short
 * pattern repeated, few distinct bytes, placeholder text such as 'changeme') and one
 * secret given for two options (a pepper equal to the token secret or to a previous key).
 */
export type Secret = string | Buffer | Uint8Array;

export type AsymmetricAlgorithm = 'ES256' | 'RS256' | 'PS256';
export type TokenAlgorithm = 'HS256' | AsymmetricAlgorithm;

/** A key that verifies step-up tokens, for rotation: tokens signed with it stay valid until they expire. */
export type VerificationKey =
  | { keyId: string; algorithm: 'HS256'; secret: Secret }
  | { keyId: string; algorithm: AsymmetricAlgorithm; publicKey: string | KeyObject };

interface TokenOptionsBase {
  /** `iss` of issued tokens, checked exactly. */
  issuer: string;
  /** `aud` of issued tokens, checked exactly. */
  audience: string;
  /** `kid` header of issued tokens. Default `'stepup-1'`. */
  keyId?: string;
  /** Earlier keys still accepted on verification (key rotation). */
  previousKeys?: VerificationKey[];
  /** `typ` header. Default `'stepup+jwt'`. */
  type?: string;
  /** Accepted clock difference between servers. Default 30 s, at most 60 s. */
  clockTolerance?: Duration;
}

export type TokenOptions =
  | (TokenOptionsBase & { secret: Secret; algorithm?: 'HS256' })
  | (TokenOptionsBase & { privateKey: string | KeyObject; publicKey: string | KeyObject; algorithm: AsymmetricAlgorithm });

export interface CodeOptions {
  /** Digits per code, 6 to 10. Default 6. */
  length?: number;
  /** Lifetime of a challenge and its code, at most 10 minutes. Default `'5m'`. */
  ttl?: Duration;
  /** Wrong codes before a challenge locks, 1 to 10 (at most 5 for purposes that bind a transaction). Default 5. */
  maxAttempts?: number;
}

export interface SendOptions {
  /**
   * Wait between two sends of one challenge; a list grows with each resend (the last one
   * repeats). Default `['30s', '60s', '120s']`.
   */
  cooldown?: Duration | Duration[];
  /** Sends per challenge, the first one included, 1 to 10. Default 3. */
  maxPerChallenge?: number;
  /** Longest wait for one provider call before falling back to the next channel. Default `'10s'`. */
  timeout?: Duration;
  /**
   * Keep every code sent for a challenge valid until it expires (a late WhatsApp message
   * still works after the SMS fallback). Default false: a new code replaces the earlier ones
   * (NIST SP 800-63B, SECURITY-REQUIREMENTS R-C5); see the README for the trade-off.
   */
  keepEarlierCodes?: boolean;
  /** Without a `delivered` status this long after a send, the next channel is used. Default: off. */
  fallbackAfter?: Duration;
  /** How long a number reported as not on WhatsApp goes straight to the next channel. Default `'30d'`. */
  rememberNotOnWhatsApp?: Duration;
}

/** Policy of one purpose: a name the app chooses, such as `login` or `payment`. */
export interface PurposePolicy {
  /** Lifetime of step-up tokens for this purpose. */
  tokenTtl?: Duration;
  /** Wrong codes before a challenge of this purpose locks. Defaults to `code.maxAttempts`. */
  maxAttempts?: number;
  /** Challenges must carry a transaction with its record's `id`; tokens carry its hash as `txn`. */
  requireTransaction?: boolean;
  /** Guards consume each token of this purpose once (by `jti`). */
  oneTime?: boolean;
  /**
   * Anyone may start it without a session, by naming an account (as `password-reset` does).
   * Its challenges spend the budgets of `limits.anonymous`, apart from the user's own: what an
   * anonymous requester does never delays that user's login or payment. Default false.
   */
  anonymous?: boolean;
}

export interface PhoneOptions {
  /** ISO 3166 country used for numbers given without `+` and country code. */
  defaultCountry?: string;
  /** Only numbers of these ISO 3166 countries are accepted. */
  allowCountries?: string[];
  /**
   * Countries per transport, on top of `allowCountries`: `{ sms: ['ES', 'MX'] }` lets SMS
   * channels send to those countries only, while WhatsApp channels stay open (R-I2: SMS
   * pumping targets SMS routes). A transport not named is not restricted.
   */
  allowCountriesByTransport?: Partial<Record<'whatsapp' | 'sms' | 'rcs', string[]>>;
  /**
   * Number types that are refused, as libphonenumber-js names them (`'PREMIUM_RATE'`,
   * `'SHARED_COST'`, `'VOIP'`, `'UNKNOWN'` for a type it cannot tell, ...). Default
   * `['PREMIUM_RATE', 'SHARED_COST']`: numbers that earn money for whoever runs them (SMS pumping).
   */
  denyTypes?: NumberTypeName[];
}

/** libphonenumber-js number types, and `'UNKNOWN'` for a number whose type it cannot tell. */
export type NumberTypeName =
  | 'PREMIUM_RATE' | 'TOLL_FREE' | 'SHARED_COST' | 'VOIP' | 'PERSONAL_NUMBER' | 'PAGER' | 'UAN' | 'VOICEMAIL'
  | 'FIXED_LINE' | 'MOBILE' | 'FIXED_LINE_OR_MOBILE' | 'UNKNOWN';

/** A pepper with an id, so that it can rotate: challenges remember which one hashed their code. */
export interface PepperKey {
  id: string;
  secret: Secret;
}

export interface StepUpOptions {
  /** Where challenges live: `new RedisStore({ client })` in production, `new MemoryStore()` in development. */
  store: ChallengeStore;
  /** Delivery channels in fallback order. */
  channels: Channel[];
  tokens: TokenOptions;
  /**
   * Server secret for the codes' HMACs, at least 32 random bytes (see {@link Secret}); or a
   * list, the first one current, for rotation. Each must differ from the others and from the
   * token secrets.
   *
   * @example
   * pepper: process.env.STEPUP_PEPPER, // made once with: openssl rand -base64 32
   */
  pepper: Secret | PepperKey[];
  code?: CodeOptions;
  sends?: SendOptions;
  /** Purposes beyond (or overriding) the presets `login`, `payment` and `password-reset`. */
  purposes?: Record<string, PurposePolicy>;
  phones?: PhoneOptions;
  /** Name shown in messages. Default `'Your app'`. */
  brand?: string;
  /** Domain for the last line `@domain #123456` of free-text messages (origin-bound one-time codes). */
  webOtpDomain?: string;
  /** Audit hook; called for every decision. Errors it throws are swallowed. */
  onEvent?: (event: StepUpEvent) => void;
  /**
   * Every event is also logged here, as `logger.info|warn|error(event, message)` (pino's
   * signature; `console` fits too); so are misconfigured channels, which otherwise go to the
   * console. Errors it throws are swallowed.
   */
  logger?: StepUpLogger;
  /** Prometheus counters and a latency histogram derived from the events (see the README's Monitoring). */
  metrics?: MetricsOptions;
  /** Injected clock in milliseconds, for tests. Default `Date.now`. */
  clock?: () => number;
  /** Accept a MemoryStore when NODE_ENV is production (it loses state on restart and is per-process). */
  allowMemoryStoreInProduction?: boolean;
  /**
   * Accept an `OutboxChannel` among `channels` when NODE_ENV is production (a staging build):
   * it delivers nothing and keeps every code in memory. Default false: construction fails.
   *
   * @example
   * createStepUp({ ...options, channels: [new OutboxChannel()], allowOutboxInProduction: process.env.STAGING === '1' });
   */
  allowOutboxInProduction?: boolean;
  /**
   * Numbers that never receive anything and accept a fixed code (app-store review, CI):
   * `{ '+15005550006': '123456' }`. Every use emits events marked `testNumber: true`.
   */
  testNumbers?: Record<string, string>;
  /** Accept `testNumbers` when NODE_ENV is production. */
  allowTestNumbersInProduction?: boolean;
  /** Send limits per number, subject and IP, and wrong codes per subject across challenges (see the README's Abuse protection). */
  limits?: LimitsOptions;
  /**
   * Runs before every send that a user asked for (start and resend), after the limits:
   * the app's own CAPTCHA or risk check. Return `false` to refuse (`invalid_request`);
   * a thrown StepUpError is answered as it is.
   */
  beforeSend?: (context: BeforeSendContext) => boolean | void | Promise<boolean | void>;
}

/** What `beforeSend` is told about a send. */
export interface BeforeSendContext {
  subject: string;
  purpose: string;
  /** ISO 3166 country of the number, when it has one. */
  country: string | undefined;
  /** Masked number. */
  to: string;
  ip: string | undefined;
  /** The challenge, for a resend. */
  challengeId: string | undefined;
  /** The channel asked for, if any. */
  channel: string | undefined;
}

/** A configured channel as a page may offer it ("send by SMS instead"). */
export interface ChannelView {
  name: string;
  transport: 'whatsapp' | 'sms' | 'rcs';
  /** The last code went by this channel. */
  current: boolean;
  /** It can be chosen on resend (not, for example, WhatsApp for a number known not to have it). */
  available: boolean;
}

/** What a client may see of a challenge: never the code, never the full number. */
export interface ChallengeView {
  challengeId: string;
  purpose: string;
  channel: string;
  /** Masked destination, such as `+34 ••••••• 78`. */
  to: string;
  /** ISO 8601 instant. */
  expiresAt: string;
  /** ISO 8601 instant after which a resend is allowed. */
  resendAfter: string;
  sendsLeft: number;
  attemptsLeft: number;
  /** Every configured channel, in fallback order. */
  channels: ChannelView[];
}

export interface StartInput {
  /** Stable, non-personal user id. */
  subject: string;
  /** The number on file, E.164 preferred. Never take it from the request body. */
  phone: string;
  purpose: string;
  /** Required for purposes that bind a transaction, with `id`, the identifier of the record it approves. */
  transaction?: Transaction;
  locale?: string;
  /** Ties the challenge to the session that asked for it (for example the session id). */
  binding?: string;
  ip?: string;
  /** Name of a configured channel to send through first. */
  channel?: string;
  /** Factors already checked in this authentication event (for example `['pwd']` after a password). */
  otherFactors?: string[];
}

export interface ResendInput {
  subject: string;
  channel?: string;
  binding?: string;
  ip?: string;
}

export interface VerifyInput {
  subject: string;
  binding?: string;
  ip?: string;
  /**
   * The purposes this caller may complete. A challenge of another purpose is
   * `challenge_not_found` and gives no token: a login step must not be completed with a
   * password-reset code. Default: any.
   */
  purpose?: string | string[];
  /**
   * The transaction as your record holds it now. When it no longer hashes to the one the
   * challenge was started for (the payee or amount changed after the code was sent), the
   * right code gives no token: the challenge is spent (`challenge_not_found`) and a
   * `verify.failed` event says `transaction_mismatch` (R-F2, R-F10).
   */
  transaction?: Transaction;
}
