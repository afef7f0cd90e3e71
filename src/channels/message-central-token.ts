import { ChannelError } from './channel.js';
import { callProvider } from './provider-http.js';

/**
 * Message Central Verify Now auth tokens.
 *
 * Their docs (messagecentral.com/product/verify-now/api, "Generate Token"): `GET
 * /auth/v1/authentication/token` with `customerId` and `key` (the base64 of the account
 * password) required, `scope` ("use 'NEW' for first time") and `country` optional, answers
 * `{ "status": Integer, "token": "String" }`; the token then goes in an `authToken` header.
 * The docs state no lifetime. Their example token is an HS512 JWT (`sub`, `iat`, `exp`),
 * so we read `exp` when there is one, only to schedule the refresh (never to trust the
 * token: the provider decides), and otherwise use `tokenTtl`. A failure can come as HTTP
 * 200 with `{ "status": 400, "error": ... }`, so a token counts only when it is present.
 */

/** Refresh this long before a JWT's `exp`, so a call never leaves with a token about to lapse. */
const REFRESH_MARGIN_MS = 60_000;

export interface TokenFetch {
  /** Full token URL, secrets in the query string: never put it in a message. */
  url: string;
  timeoutMs: number;
}

/**
 * Hands out one token at a time: cached until it is due for refresh; callers that arrive
 * while a fetch is running share it; `invalidate` drops a token the provider refused.
 */
export class TokenCache {
  readonly #fetch: TokenFetch | undefined;
  readonly #clock: () => number;
  readonly #ttlMs: number;
  #current: { token: string; useUntil: number } | undefined;
  #inflight: Promise<string> | undefined;

  /** `source` is a static token (never refreshed) or how to fetch one. */
  constructor(source: string | TokenFetch, clock: () => number, ttlMs: number) {
    this.#clock = clock;
    this.#ttlMs = ttlMs;
    if (typeof source === 'string') this.#current = { token: source, useUntil: Number.POSITIVE_INFINITY };
    else this.#fetch = source;
  }

  /** False for a static token: a 401 then means the token itself is wrong. */
  get refreshable(): boolean {
    return this.#fetch !== undefined;
  }

  async get(signal: AbortSignal): Promise<string> {
    const current = this.#current;
    if (current && (!this.#fetch || this.#clock() < current.useUntil)) return current.token;
    this.#inflight ??= this.#fetchToken(this.#fetch!).finally(() => {
      this.#inflight = undefined;
    });
    // The shared fetch has its own timeout; one caller giving up must not fail the others.
    return whileNotAborted(this.#inflight, signal);
  }

  /** Forget `token` if it is still the cached one (a concurrent caller may have replaced it already). */
  invalidate(token: string): void {
    if (this.#fetch && this.#current?.token === token) this.#current = undefined;
  }

  async #fetchToken(fetch: TokenFetch): Promise<string> {
    const fetchedAt = this.#clock();
    const response = await callProvider({
      method: 'GET',
      url: fetch.url,
      headers: { accept: 'application/json' },
      signal: new AbortController().signal,
      timeoutMs: fetch.timeoutMs,
    });
    const body = (typeof response.json === 'object' && response.json !== null ? response.json : {}) as Record<string, unknown>;
    const status = typeof body.status === 'number' ? body.status : undefined;
    const token = typeof body.token === 'string' && body.token.trim() !== '' ? body.token : undefined;
    if (response.status >= 500 || response.status === 429 || (status !== undefined && status >= 500)) {
      throw new ChannelError(`Message Central could not issue an auth token (HTTP ${response.status}); try again later.`, {
        kind: 'fallback',
        providerCode: 'token_unavailable',
      });
    }
    if (response.status !== 200 || token === undefined || (status !== undefined && status !== 200)) {
      const why = status !== undefined && status !== 200 ? `status ${status}` : `HTTP ${response.status}${token ? '' : ', no token'}`;
      throw new ChannelError(`Message Central refused to issue an auth token (${why}): check \`customerId\` and \`password\` (and \`baseUrl\`, if set).`, {
        kind: 'configuration',
        providerCode: 'token_refused',
      });
    }
    this.#current = { token, useUntil: useUntil(token, fetchedAt, this.#ttlMs) };
    return token;
  }
}

/** When to stop using a token: its JWT `exp` less a margin when that lies ahead, else `ttlMs` after the fetch. */
function useUntil(token: string, fetchedAt: number, ttlMs: number): number {
  const exp = jwtExpiry(token);
  if (exp !== undefined && exp - REFRESH_MARGIN_MS > fetchedAt) return exp - REFRESH_MARGIN_MS;
  return fetchedAt + ttlMs;
}

/** A JWT's `exp` in epoch ms, read without verifying anything; undefined for anything else. */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown;
    const exp = typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>).exp : undefined;
    return typeof exp === 'number' && Number.isFinite(exp) && exp > 0 ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** The same timeout error `callProvider` raises, for a caller whose own signal ends the wait. */
export function timedOut(): ChannelError {
  return new ChannelError('The provider did not answer in time.', { kind: 'fallback', providerCode: 'timeout' });
}

function whileNotAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(timedOut());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(timedOut());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
