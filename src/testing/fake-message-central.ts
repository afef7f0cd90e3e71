import { createHmac, randomBytes, randomInt } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getCountries, getCountryCallingCode, parsePhoneNumber } from 'libphonenumber-js/max';

/**
 * A local stand-in for Message Central Verify Now, speaking what DESIGN §8.1 and their API
 * pages describe: parameters in the query string, an `authToken` header, bodies
 * `{ responseCode, message, data }` (tokens: `{ status, token }`). It makes the codes itself
 * and keeps verifications as the provider does: a wrong code is 702, an expired one 705, a
 * second success 703, an unknown id 505, a send while a code is active for the number 506.
 * For tests only: it answers on 127.0.0.1 and keeps codes in memory.
 */

export interface FakeMessageCentralOptions {
  /** Default `'C-FAKE00000000001'`. */
  customerId?: string;
  /** The account password the token endpoint expects (base64 in `key`). Default: random. */
  password?: string;
  /** Lifetime of issued tokens; after it they answer 401. Default 3600. */
  tokenTtlSeconds?: number;
  /** `'jwt'` (their example tokens are HS512 JWTs with `exp`) or `'opaque'`. Default `'jwt'`. */
  tokenFormat?: 'jwt' | 'opaque';
  /** How long a code stays active, answered as `data.timeout`. Default 60, as in their docs' example. */
  codeTtlSeconds?: number;
}

export interface FakeMessageCentralRequest {
  method: string;
  /** `'token'`, `'send'`, `'validate'`, or the raw path of anything else. */
  path: string;
  query: Record<string, string>;
  authToken: string | undefined;
}

export interface FakeMessageCentral {
  /** Give this as the channel's `baseUrl`. */
  baseUrl: string;
  customerId: string;
  password: string;
  /** Every request received, oldest first. */
  requests: FakeMessageCentralRequest[];
  /** The code of the newest verification sent to `to` (E.164), if any. */
  lastCode(to: string): string | undefined;
  /** The id of the newest verification sent to `to` (E.164), if any: what `expire` takes. */
  lastVerificationId(to: string): string | undefined;
  /** The next request to `path` (after the token check) answers `responseCode` (in `status` for tokens) instead. Queued. */
  respondNext(path: 'send' | 'validate' | 'token', answer: { responseCode: number; httpStatus?: number }): void;
  /** The tokens issued so far answer 401 from now on, as expired ones would: the next call sees one 401. */
  expireToken(): void;
  /** Makes a verification expired (705 from then on). */
  expire(verificationId: string): void;
  /** Holds every later answer back by `ms` (0 to stop). */
  delay(ms: number): void;
  close(): Promise<void>;
}

const NAMES: Record<number, string> = {
  200: 'SUCCESS', 400: 'BAD_REQUEST', 401: 'UNAUTHORIZED', 409: 'DUPLICATE_RESOURCE', 500: 'SERVER_ERROR',
  501: 'INVALID_CUSTOMER_ID', 505: 'INVALID_VERIFICATION_ID', 506: 'REQUEST_ALREADY_EXISTS', 511: 'INVALID_COUNTRY_CODE',
  700: 'VERIFICATION_FAILED', 702: 'WRONG_OTP_PROVIDED', 703: 'ALREADY_VERIFIED', 705: 'VERIFICATION_EXPIRED', 800: 'MAXIMUM_LIMIT_REACHED',
};
const PATHS: Record<string, 'token' | 'send' | 'validate'> = {
  '/auth/v1/authentication/token': 'token',
  '/verification/v3/send': 'send',
  '/verification/v3/validateOtp': 'validate',
};
const FLOW_TYPES = new Set(['SMS', 'WHATSAPP', 'RCS', 'SAUTH']);
const CALLING_CODES = new Set(getCountries().map((country) => getCountryCallingCode(country)));

interface Verification {
  id: string;
  number: string;
  mobileNumber: string;
  code: string;
  verified: boolean;
  expiresAt: number;
  attempts: number;
}

interface Reply {
  http: number;
  body: unknown;
}

export async function startFakeMessageCentral(options: FakeMessageCentralOptions = {}): Promise<FakeMessageCentral> {
  const customerId = options.customerId ?? 'C-FAKE00000000001';
  const password = options.password ?? randomBytes(12).toString('base64url');
  const tokenTtlMs = (options.tokenTtlSeconds ?? 3600) * 1000;
  const codeTtlSeconds = options.codeTtlSeconds ?? 60;
  const signingKey = randomBytes(32);
  const tokens = new Map<string, number>();
  const verifications = new Map<string, Verification>();
  const forced: Record<'token' | 'send' | 'validate', { responseCode: number; httpStatus?: number }[]> = { token: [], send: [], validate: [] };
  const requests: FakeMessageCentralRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let delayMs = 0;

  const issueToken = (): string => {
    const now = Date.now();
    let token: string;
    if (options.tokenFormat === 'opaque') token = randomBytes(24).toString('base64url');
    else {
      const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const unsigned = `${part({ alg: 'HS512' })}.${part({ sub: customerId, iat: Math.floor(now / 1000), exp: Math.floor((now + tokenTtlMs) / 1000), jti: randomBytes(8).toString('hex') })}`;
      token = `${unsigned}.${createHmac('sha512', signingKey).update(unsigned).digest('base64url')}`;
    }
    tokens.set(token, now + tokenTtlMs);
    return token;
  };

  const answer = (responseCode: number, http: number, data: unknown = null): Reply => ({
    http,
    body: { responseCode, message: NAMES[responseCode] ?? 'ERROR', data },
  });
  const failure = (responseCode: number, httpStatus?: number): Reply =>
    answer(responseCode, httpStatus ?? (responseCode === 500 ? 500 : responseCode === 401 ? 401 : 400));

  function handle(kind: 'token' | 'send' | 'validate', method: string, query: Record<string, string>, authToken: string | undefined): Reply {
    if (kind === 'token') {
      if (method !== 'GET') return { http: 405, body: { status: 405, error: 'Method Not Allowed' } };
      const next = forced.token.shift();
      if (next && next.responseCode !== 200) return { http: next.httpStatus ?? 200, body: { status: next.responseCode, error: 'FORCED' } };
      // Their failures come as HTTP 200 with { status: 400, error }.
      if (query.customerId !== customerId || query.key !== Buffer.from(password).toString('base64')) {
        return { http: 200, body: { status: 400, error: 'Invalid credentials' } };
      }
      return { http: next?.httpStatus ?? 200, body: { status: 200, token: issueToken() } };
    }
    const expiresAt = authToken === undefined ? undefined : tokens.get(authToken);
    if (expiresAt === undefined || expiresAt <= Date.now()) return answer(401, 401);
    const next = forced[kind].shift();
    if (next && next.responseCode !== 200) return failure(next.responseCode, next.httpStatus);
    const reply = kind === 'send' ? send(method, query) : validate(method, query);
    return next?.httpStatus === undefined ? reply : { ...reply, http: next.httpStatus };
  }

  function send(method: string, query: Record<string, string>): Reply {
    if (method !== 'POST') return failure(400);
    if (query.customerId !== customerId) return failure(501);
    const countryCode = query.countryCode ?? '';
    if (!CALLING_CODES.has(countryCode)) return failure(511);
    const mobileNumber = query.mobileNumber ?? '';
    const otpLength = query.otpLength === undefined ? 4 : Number(query.otpLength);
    if (!/^\d{4,17}$/.test(mobileNumber) || !FLOW_TYPES.has(query.flowType ?? '') || !Number.isInteger(otpLength) || otpLength < 4 || otpLength > 8) {
      return failure(400);
    }
    const number = `+${countryCode}${mobileNumber}`;
    const now = Date.now();
    for (const verification of verifications.values()) {
      if (verification.number === number && !verification.verified && verification.expiresAt > now) return failure(506);
    }
    let id: string;
    do id = String(randomInt(10_000_000, 100_000_000));
    while (verifications.has(id));
    const code = randomInt(0, 10 ** otpLength).toString().padStart(otpLength, '0');
    verifications.set(id, { id, number, mobileNumber, code, verified: false, expiresAt: now + codeTtlSeconds * 1000, attempts: 0 });
    return answer(200, 200, {
      verificationId: id, mobileNumber, responseCode: '200', errorMessage: null, timeout: String(codeTtlSeconds), smsCLI: null, transactionId: null,
    });
  }

  function validate(method: string, query: Record<string, string>): Reply {
    if (method !== 'GET') return failure(400);
    const verification = verifications.get(query.verificationId ?? '');
    if (!verification) return failure(505);
    if (verification.verified) return failure(703);
    if (verification.expiresAt <= Date.now()) return failure(705);
    if (query.code !== verification.code) {
      verification.attempts++;
      return failure(702);
    }
    verification.verified = true;
    return answer(200, 200, {
      verificationId: verification.id, mobileNumber: verification.mobileNumber, verificationStatus: 'VERIFICATION_COMPLETED',
      responseCode: '200', errorMessage: null, transactionId: null, authToken: null,
    });
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const kind = PATHS[url.pathname];
    const authToken = typeof req.headers.authtoken === 'string' ? req.headers.authtoken : undefined;
    const query = Object.fromEntries(url.searchParams);
    requests.push({ method: req.method ?? '', path: kind ?? url.pathname, query, authToken });
    const reply = kind ? handle(kind, req.method ?? '', query, authToken) : { http: 404, body: { status: 404, error: 'Not Found' } };
    const write = () => {
      if (res.destroyed) return;
      res.writeHead(reply.http, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reply.body));
    };
    req.resume();
    if (delayMs <= 0) return write();
    const timer = setTimeout(() => {
      timers.delete(timer);
      write();
    }, delayMs);
    timers.add(timer);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const newest = (to: string): Verification | undefined => {
    let number: string;
    try {
      const parsed = parsePhoneNumber(to);
      number = `+${parsed.countryCallingCode}${parsed.nationalNumber}`;
    } catch {
      return undefined;
    }
    return [...verifications.values()].reverse().find((verification) => verification.number === number);
  };

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    customerId,
    password,
    requests,
    lastCode: (to) => newest(to)?.code,
    lastVerificationId: (to) => newest(to)?.id,
    respondNext(path, reply) {
      forced[path].push({ ...reply });
    },
    expireToken() {
      for (const token of tokens.keys()) tokens.set(token, 0);
    },
    expire(verificationId) {
      const verification = verifications.get(verificationId);
      if (!verification) throw new Error(`The fake has no verification ${verificationId}.`);
      verification.expiresAt = 0;
    },
    delay(ms) {
      delayMs = ms;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
