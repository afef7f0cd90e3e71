import { withTimeout } from '../lib/timeout.js';
import { ChannelError } from './channel.js';

/** One call to a provider's HTTP API. */
export interface ProviderRequest {
  method: 'GET' | 'POST';
  url: string;
  headers?: Record<string, string>;
  body?: string;
  /** The core's signal (aborted when the send is too slow). */
  signal: AbortSignal;
  /** This call's own limit, in ms. Default 10 000. */
  timeoutMs?: number;
}

export interface ProviderResponse {
  status: number;
  /** The parsed body, or undefined when it is not JSON. */
  json: unknown;
  /** The response headers (a rate limit's `Retry-After`, for one). */
  headers: Headers;
}

/**
 * `fetch` with a timeout joined to the caller's signal. A network failure or a timeout
 * becomes a `fallback` ChannelError whose message names neither the URL's secrets nor
 * the recipient. HTTP error statuses are returned, not thrown: each provider reads its
 * own error bodies.
 */
export function callProvider(request: ProviderRequest): Promise<ProviderResponse> {
  // The timer joins the caller's signal; the aborted fetch answers for itself (no race).
  return withTimeout(
    async (signal) => {
      let response: Response;
      try {
        response = await fetch(request.url, {
          method: request.method,
          headers: request.headers ?? {},
          ...(request.body === undefined ? {} : { body: request.body }),
          signal,
          redirect: 'error',
        });
      } catch {
        throw new ChannelError(signal.aborted ? 'The provider did not answer in time.' : 'The provider could not be reached.', {
          kind: 'fallback',
          providerCode: signal.aborted ? 'timeout' : 'network',
        });
      }
      // The body is read under the same timer: a provider that stalls mid-body is a timeout too.
      const text = await response.text().catch(() => '');
      let json: unknown;
      try {
        json = text === '' ? undefined : JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.status, json, headers: response.headers };
    },
    request.timeoutMs ?? 10_000,
    undefined,
    { reason: new Error('provider timeout'), signal: request.signal },
  );
}

/**
 * Seconds from a `Retry-After` header (delay-seconds or an HTTP date), or undefined when
 * it is absent or unreadable. Capped at a day so a wild value cannot park a channel.
 */
export function retryAfterSeconds(headers: Headers, now: number = Date.now()): number | undefined {
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Math.min(Number(value), 86_400);
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, Math.ceil((at - now) / 1000)), 86_400);
}

/** Validates a `baseUrl` option: http(s), no query or fragment; returned without a trailing slash. */
export function checkBaseUrl(value: unknown, fallback: string, option: string): string {
  const candidate = value ?? fallback;
  let url: URL;
  try {
    url = new URL(String(candidate));
  } catch {
    throw new TypeError(`\`${option}\` must be an http(s) URL such as '${fallback}'.`);
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash || url.username || url.password) {
    throw new TypeError(`\`${option}\` must be an http(s) URL without query, fragment or credentials, such as '${fallback}'.`);
  }
  return url.toString().replace(/\/+$/, '');
}

/** Validates a channel `name` option. */
export function checkChannelName(value: unknown, fallback: string): string {
  const name = value ?? fallback;
  if (typeof name !== 'string' || !/^[a-z][a-z0-9_-]{0,31}$/.test(name)) {
    throw new TypeError("`name` must be lower-case letters, digits, '-' or '_', starting with a letter, such as 'whatsapp' or 'sms'.");
  }
  return name;
}
