import { parsePhoneNumber } from 'libphonenumber-js/max';
import { parseDuration, type Duration } from '../lib/duration.js';
import { describe, integerIn, rejectUnknown, requireText } from '../lib/validate.js';
import { ChannelError, type HostedChannel, type HostedVerdict, type OutgoingMessage, type SendReceipt, type Transport } from './channel.js';
import { TokenCache } from './message-central-token.js';
import { callProvider, checkBaseUrl, checkChannelName, retryAfterSeconds, type ProviderResponse } from './provider-http.js';

// Message Central Verify Now: DESIGN §8.1 is the contract (there is no machine-readable
// spec). Details from their API pages (messagecentral.com/product/verify-now/api, v3):
// flowType is SMS, WHATSAPP, RCS (or SAUTH); `otpLength` is "a number between 4 and 8,
// default 4"; a send answers `data.verificationId` and `data.timeout` (seconds, a string
// such as "60" in their example); bodies carry `responseCode` with these names:
// 200 SUCCESS, 400 BAD_REQUEST, 409 DUPLICATE_RESOURCE, 500 SERVER_ERROR,
// 501 INVALID_CUSTOMER_ID, 505 INVALID_VERIFICATION_ID, 506 REQUEST_ALREADY_EXISTS,
// 511 INVALID_COUNTRY_CODE, 700 VERIFICATION_FAILED, 702 WRONG_OTP_PROVIDED,
// 703 ALREADY_VERIFIED, 705 VERIFICATION_EXPIRED, 800 MAXIMUM_LIMIT_REACHED.
// The body decides, whatever the HTTP status (200 or 4xx).

export type MessageCentralFlowType = 'WHATSAPP' | 'SMS' | 'RCS';

export interface MessageCentralChannelOptions {
  /** Your Message Central customer id (console). */
  customerId: string;
  /** Which of their channels sends the code. Decides `transport` and the default `name`. */
  flowType: MessageCentralFlowType;
  /** A token from the console, used as is and never refreshed. Give this or `password`. */
  authToken?: string;
  /** The account password: the channel fetches tokens with it (as base64 `key`), caches and refreshes them. */
  password?: string;
  /** `country` of the token request (a calling code such as `'91'`). Optional. */
  country?: string;
  /** Default `'mc-whatsapp'`, `'mc-sms'` or `'mc-rcs'`, by `flowType`. */
  name?: string;
  /**
   * Digits in the provider's code, 4 to 8 (their bounds). Default 6. Our own codes are 6 to
   * 10 digits (`code.length`); hosted codes follow the provider, which ignores that option.
   */
  otpLength?: number;
  /** Default `'https://cpaas.messagecentral.com'`. */
  baseUrl?: string;
  /** Limit of each HTTP call, in ms (the core's own send timeout may be shorter). Default 10 000. */
  timeoutMs?: number;
  /** How long a fetched token is used when it carries no JWT `exp` (their docs state no lifetime). Default `'55m'`. */
  tokenTtl?: Duration;
  /** Injected clock in epoch ms, for tests. Default `Date.now`. */
  clock?: () => number;
}

const DEFAULT_BASE_URL = 'https://cpaas.messagecentral.com';
const TRANSPORTS: Record<MessageCentralFlowType, Transport> = { WHATSAPP: 'whatsapp', SMS: 'sms', RCS: 'rcs' };
const KNOWN = ['customerId', 'flowType', 'authToken', 'password', 'country', 'name', 'otpLength', 'baseUrl', 'timeoutMs', 'tokenTtl', 'clock'];
/** Seconds a code stays active when the provider did not say: the `timeout` of their docs' example. */
const DEFAULT_ACTIVE_SECONDS = 60;
/** Numbers remembered for 506's `retryAfter`; beyond this the oldest are dropped. */
const ACTIVE_LIMIT = 10_000;
const VERIFICATION_ID = /^[A-Za-z0-9_-]{1,64}$/;
const PROVIDER_CODE = /^\d{4,8}$/;

/** Answers that end a check without an error. 700 and 800 leave the code unusable, so they never approve. */
const VERDICTS: Readonly<Record<number, HostedVerdict>> = {
  702: 'wrong_code',
  700: 'wrong_code',
  703: 'already_verified',
  705: 'expired',
  800: 'expired',
  505: 'unknown',
};

/** Failures, in our own words: `configuration` when our setup is wrong, `fallback` when the next channel may do better. */
const FAILURES: Readonly<Record<number, [ChannelError['details']['kind'], string]>> = {
  400: ['configuration', 'rejected the request as malformed'],
  409: ['fallback', 'reported a duplicate request'],
  500: ['fallback', 'reported an internal error'],
  501: ['configuration', 'does not know this customer id: check `customerId`'],
  505: ['fallback', 'does not know this verification id'],
  511: ['configuration', 'refused the country code: the destination country may not be enabled for this account'],
  800: ['fallback', 'reports a limit reached'],
};

interface Answer {
  http: number;
  code: number | undefined;
  data: Record<string, unknown>;
  headers: Headers;
}

/**
 * A hosted channel on Message Central Verify Now: the provider makes, sends and checks the
 * code; `send` returns its verification id and `check` asks it for a verdict. The core still
 * counts attempts and consumes once. No secret (password, its base64, a token) ever enters an
 * error message.
 *
 * @example
 * const whatsapp = messageCentralChannel({ customerId: 'C-0123456789ABCDE', password: process.env.MC_PASSWORD!, flowType: 'WHATSAPP' });
 * const sms = messageCentralChannel({ customerId: 'C-0123456789ABCDE', password: process.env.MC_PASSWORD!, flowType: 'SMS' });
 * const stepup = createStepUp({ channels: [whatsapp, sms], ... });
 */
export function messageCentralChannel(options: MessageCentralChannelOptions): HostedChannel {
  const config = parseOptions(options);
  const { baseUrl, clock, timeoutMs } = config;
  const tokens = new TokenCache(
    config.authToken ?? { url: `${baseUrl}/auth/v1/authentication/token?${tokenQuery(config)}`, timeoutMs },
    clock,
    config.tokenTtlMs,
  );
  /** E.164 → epoch ms until which the provider keeps its code active (for 506's retryAfter). */
  const active = new Map<string, number>();

  async function call(method: 'GET' | 'POST', path: string, query: Record<string, string>, signal: AbortSignal): Promise<Answer> {
    const url = `${baseUrl}${path}?${new URLSearchParams(query).toString()}`;
    const attempt = (token: string) =>
      callProvider({ method, url, headers: { authToken: token, accept: 'application/json' }, signal, timeoutMs });
    let token = await tokens.get(signal);
    let response = await attempt(token);
    if (unauthorized(response)) {
      if (!tokens.refreshable) {
        throw new ChannelError('Message Central refused the auth token (401): renew `authToken`, or give `password` so the channel fetches tokens.', {
          kind: 'configuration',
          providerCode: 401,
        });
      }
      tokens.invalidate(token);
      token = await tokens.get(signal);
      response = await attempt(token);
      if (unauthorized(response)) {
        throw new ChannelError('Message Central refused a freshly issued auth token (401): check that this account may use Verify Now.', {
          kind: 'configuration',
          providerCode: 401,
        });
      }
    }
    return read(response);
  }

  return Object.freeze({
    name: config.name,
    transport: TRANSPORTS[config.flowType],
    hosted: true as const,

    // message.code is empty for hosted channels: the provider makes the code.
    async send(message: OutgoingMessage, signal: AbortSignal): Promise<SendReceipt> {
      const { countryCode, mobileNumber } = splitNumber(message.to);
      const answer = await call(
        'POST',
        '/verification/v3/send',
        { countryCode, customerId: config.customerId, flowType: config.flowType, mobileNumber, otpLength: String(config.otpLength) },
        signal,
      );
      const now = clock();
      if (answer.code === 200 && answer.http < 300) {
        const id = answer.data.verificationId;
        if ((typeof id === 'string' || typeof id === 'number') && VERIFICATION_ID.test(String(id))) {
          remember(active, message.to, now + (seconds(answer.data.timeout) ?? DEFAULT_ACTIVE_SECONDS) * 1000, now);
          return { messageId: String(id) };
        }
        throw new ChannelError('Message Central accepted the send but returned no verification id.', { kind: 'fallback', providerCode: 200 });
      }
      if (answer.code === 506) {
        // Their docs give no wait with 506: a Retry-After or a timeout if one comes, else what the last send said.
        const until = active.get(message.to) ?? 0;
        const retryAfter =
          retryAfterSeconds(answer.headers, now) ||
          seconds(answer.data.timeout) ||
          (until > now ? Math.ceil((until - now) / 1000) : DEFAULT_ACTIVE_SECONDS);
        throw new ChannelError(`Message Central already has an active code for this number (responseCode 506); retry after ${retryAfter} s.`, {
          kind: 'fallback',
          providerCode: 506,
          retryAfter,
        });
      }
      throw failure(answer);
    },

    async check(messageId: string, code: string, signal: AbortSignal): Promise<HostedVerdict> {
      if (typeof messageId !== 'string' || !VERIFICATION_ID.test(messageId)) return 'unknown';
      // Their codes are 4 to 8 digits: anything else cannot be right, and is not worth a call.
      if (typeof code !== 'string' || !PROVIDER_CODE.test(code)) return 'wrong_code';
      const answer = await call('GET', '/verification/v3/validateOtp', { verificationId: messageId, code }, signal);
      if (answer.code === 200) {
        const sameId = answer.data.verificationId === undefined || String(answer.data.verificationId) === messageId;
        if (answer.http < 300 && sameId && answer.data.verificationStatus === 'VERIFICATION_COMPLETED') return 'approved';
        return 'wrong_code';
      }
      const verdict = answer.code === undefined ? undefined : VERDICTS[answer.code];
      if (verdict) return verdict;
      throw failure(answer);
    },
  });
}

function parseOptions(options: MessageCentralChannelOptions) {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new TypeError('`messageCentralChannel` needs an options object.');
  rejectUnknown(options, KNOWN, '`messageCentralChannel`');

  const customerId = requireText(options.customerId, 'customerId', "give your Message Central customer id, such as 'C-0123456789ABCDE'");
  if (!/^[\x21-\x7e]{1,128}$/.test(customerId)) throw new TypeError('`customerId` must be the customer id as the console shows it, without spaces.');
  if (typeof options.flowType !== 'string' || !Object.hasOwn(TRANSPORTS, options.flowType)) {
    throw new TypeError(`\`flowType\` must be 'WHATSAPP', 'SMS' or 'RCS' (received ${describe(options.flowType)}).`);
  }
  const flowType = options.flowType;
  if ((options.authToken === undefined) === (options.password === undefined)) {
    throw new TypeError('Give exactly one of `authToken` (a token from the console, used as is) or `password` (the account password: the channel fetches and refreshes tokens).');
  }
  let authToken: string | undefined;
  if (options.authToken !== undefined) {
    authToken = requireText(options.authToken, 'authToken', 'give the token from the Message Central console, or `password` instead');
    if (!/^[\x21-\x7e]+$/.test(authToken)) throw new TypeError('`authToken` must be the token exactly as issued, without spaces or line breaks.');
    if (options.tokenTtl !== undefined || options.country !== undefined) {
      throw new TypeError('`tokenTtl` and `country` apply only to fetched tokens: give `password` instead of `authToken`, or omit them.');
    }
  }
  const password = options.password === undefined ? undefined : requireText(options.password, 'password', 'give the Message Central account password');
  if (options.country !== undefined && (typeof options.country !== 'string' || !/^\d{1,4}$/.test(options.country))) {
    throw new TypeError(`\`country\` must be a calling code in digits, such as '91' (received ${describe(options.country)}). Omit it to leave it out of token requests.`);
  }
  const otpLength = integerIn(options.otpLength ?? undefined, 4, 8, 6, 'otpLength', "an integer from 4 to 8, Message Central's bounds");
  const timeoutMs = integerIn(options.timeoutMs ?? undefined, 100, 60_000, 10_000, 'timeoutMs');
  if (options.clock !== undefined && typeof options.clock !== 'function') throw new TypeError('`clock` must be a function returning epoch milliseconds. Omit it to use Date.now.');
  return Object.freeze({
    customerId,
    flowType,
    authToken,
    password,
    country: options.country,
    otpLength,
    name: checkChannelName(options.name, `mc-${TRANSPORTS[flowType]}`),
    baseUrl: checkBaseUrl(options.baseUrl, DEFAULT_BASE_URL, 'baseUrl'),
    timeoutMs,
    tokenTtlMs: (options.tokenTtl === undefined ? 55 * 60 : parseDuration(options.tokenTtl, 'tokenTtl')) * 1000,
    clock: options.clock ?? Date.now,
  });
}

function tokenQuery(config: { customerId: string; password?: string | undefined; country?: string | undefined }): string {
  const query = new URLSearchParams({ customerId: config.customerId, key: Buffer.from(config.password ?? '', 'utf8').toString('base64'), scope: 'NEW' });
  if (config.country !== undefined) query.set('country', config.country);
  return query.toString();
}

/** E.164 → the calling code's digits and the national number, as their send wants them. */
function splitNumber(to: string): { countryCode: string; mobileNumber: string } {
  try {
    const parsed = parsePhoneNumber(to);
    return { countryCode: parsed.countryCallingCode, mobileNumber: parsed.nationalNumber };
  } catch {
    throw new ChannelError('The destination is not a phone number this channel can read.', { kind: 'fallback', providerCode: 'invalid_number' });
  }
}

function unauthorized(response: ProviderResponse): boolean {
  const body = asRecord(response.json);
  return response.status === 401 || body.status === 401 || responseCode(body.responseCode) === 401;
}

function read(response: ProviderResponse): Answer {
  const body = asRecord(response.json);
  return { http: response.status, code: responseCode(body.responseCode), data: asRecord(body.data), headers: response.headers };
}

/** A provider failure: its message holds the validated responseCode and our words, never body text. */
function failure(answer: Answer): ChannelError {
  if (answer.code === undefined) {
    return new ChannelError(`Message Central answered HTTP ${answer.http} without a responseCode.`, { kind: 'fallback', providerCode: `http_${answer.http}` });
  }
  const [kind, words] = FAILURES[answer.code] ?? ['fallback', 'gave an unexpected answer'];
  return new ChannelError(`Message Central ${words} (responseCode ${answer.code}, HTTP ${answer.http}).`, { kind, providerCode: answer.code });
}

function responseCode(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < 10_000) return value;
  if (typeof value === 'string' && /^\d{1,4}$/.test(value)) return Number(value);
  return undefined;
}

/** A positive whole number of seconds, given as a number or a numeric string. */
function seconds(value: unknown): number | undefined {
  const number = typeof value === 'string' && /^\d{1,6}$/.test(value) ? Number(value) : value;
  return typeof number === 'number' && Number.isInteger(number) && number > 0 && number < 1_000_000 ? number : undefined;
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function remember(active: Map<string, number>, to: string, until: number, now: number): void {
  active.delete(to);
  active.set(to, until);
  for (const [key, expires] of active) {
    if (expires > now && active.size <= ACTIVE_LIMIT) break;
    active.delete(key);
  }
}
