import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { addressMatches, channelOf, codeIn, isJsonObject, parseForm, readBody, safeEqual, signature, type FakeTwilioMessage } from './fake-twilio-parts.js';

/** Checks a body against Twilio's spec; returns the violations (none: valid). Injected so that this module needs no dev dependency. */
export type TwilioSpecValidator = (kind: 'request' | 'response' | 'error', body: unknown) => string[];

export interface FakeTwilioOptions {
  validate?: TwilioSpecValidator;
  /** Default: a random `AC…`. */
  accountSid?: string;
  /** Default: 32 random hex digits. */
  authToken?: string;
  /** An API key the fake also accepts. Default: a random `SK…` and secret. */
  apiKey?: { sid: string; secret: string };
}

/** A request as the fake received it. The Authorization header is not kept: it holds a secret. */
export interface FakeTwilioRequest {
  method: string;
  path: string;
  contentType: string;
  /** Form parameters; a repeated name gives an array. */
  params: Record<string, string | string[]>;
  /** Who authenticated: the account (auth token), an API key, or nobody. */
  auth: 'account' | 'api-key' | 'invalid' | 'none';
}

export type { FakeTwilioMessage };

export interface FakeTwilioFailure {
  httpStatus: number;
  /** Twilio error code for the JSON error body. */
  code?: number;
  /** Error text. Default: Twilio-like text that repeats the recipient, as Twilio's own does. */
  message?: string;
  /** Answer this raw text (as HTML) instead of a JSON body. */
  raw?: string;
  /** Seconds for a `Retry-After` header. */
  retryAfter?: number;
}

export interface FakeTwilio {
  /** Pass as the channel's `baseUrl`. */
  readonly baseUrl: string;
  readonly accountSid: string;
  readonly authToken: string;
  readonly apiKey: { sid: string; secret: string };
  /** Every request received, oldest first. */
  readonly requests: FakeTwilioRequest[];
  /** Every message accepted, oldest first. */
  readonly messages: FakeTwilioMessage[];
  /** Spec violations found in requests and in the fake's own answers. A test should expect none. */
  readonly violations: string[];
  /** The code in the newest message to `to` (`+E164` matches any channel; `whatsapp:+E164` only WhatsApp). */
  lastCode(to: string): string | undefined;
  /** The `Body` of the newest message to `to`. */
  lastBody(to: string): string | undefined;
  lastMessage(to: string): FakeTwilioMessage | undefined;
  /** The next send to `to` (or to anyone: `'*'`) fails this way. */
  failNext(to: string, failure: FakeTwilioFailure): void;
  /** Answer every following request after `ms` milliseconds (0: at once). */
  delay(ms: number): void;
  /** The form parameters Twilio would post to a status callback for this message. */
  statusCallbackParams(input: { messageSid: string; status: string; errorCode?: number }): Record<string, string>;
  /** `X-Twilio-Signature` for a callback to `url` with these parameters, signed with the fake's auth token. */
  sign(url: string, params: Record<string, string>): string;
  /** Posts a signed status callback to the message's `StatusCallback` URL, as Twilio would. */
  sendStatusCallback(input: { messageSid: string; status: string; errorCode?: number }): Promise<Response>;
  /** Forgets requests, messages, violations and pending failures, and answers at once again. */
  reset(): void;
  close(): Promise<void>;
}

const MESSAGES_PATH = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/;

/**
 * A local stand-in for Twilio's Messages API, on a free port of 127.0.0.1: Basic auth
 * with the account's auth token or an API key, form-encoded requests, the spec's
 * message resource and error bodies. Nothing leaves the machine.
 *
 * @example
 * const twilio = await startFakeTwilio();
 * const sms = twilioChannel({ kind: 'sms', baseUrl: twilio.baseUrl, accountSid: twilio.accountSid, authToken: twilio.authToken, from: '+15005550006' });
 * // … start a challenge …
 * twilio.lastCode('+34612345678'); // '123456'
 */
export async function startFakeTwilio(options: FakeTwilioOptions = {}): Promise<FakeTwilio> {
  const accountSid = options.accountSid ?? `AC${randomBytes(16).toString('hex')}`;
  const authToken = options.authToken ?? randomBytes(16).toString('hex');
  const apiKey = options.apiKey ?? { sid: `SK${randomBytes(16).toString('hex')}`, secret: randomBytes(16).toString('base64url') };
  const validate = options.validate ?? (() => []);
  const requests: FakeTwilioRequest[] = [];
  const messages: FakeTwilioMessage[] = [];
  const violations: string[] = [];
  const failures: { to: string; failure: FakeTwilioFailure }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let delayMs = 0;

  function respond(res: ServerResponse, status: number, contentType: string, text: string, headers: Record<string, string>): void {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (res.destroyed) return;
      res.writeHead(status, { 'Content-Type': contentType, ...headers });
      res.end(text);
    }, delayMs);
    timers.add(timer);
  }

  function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const kind = status >= 200 && status < 300 ? 'response' : 'error';
    for (const problem of validate(kind, body)) violations.push(`${kind}: ${problem}`);
    respond(res, status, 'application/json', JSON.stringify(body), headers);
  }

  function error(res: ServerResponse, status: number, code: number, message: string, headers?: Record<string, string>): void {
    reply(res, status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }, headers);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    const contentType = String(req.headers['content-type'] ?? '');
    const raw = await readBody(req);
    const params = contentType.startsWith('application/x-www-form-urlencoded') ? parseForm(raw) : {};
    const auth = authenticate(req.headers.authorization);
    requests.push({ method: req.method ?? '', path, contentType, params, auth });
    const match = MESSAGES_PATH.exec(path);
    if (!match || req.method !== 'POST') return error(res, 404, 20404, 'The requested resource was not found');
    if (auth === 'none' || auth === 'invalid') return error(res, 401, 20003, 'Authenticate');
    if (match[1] !== accountSid) return error(res, 404, 20404, `The requested resource ${path} was not found`);
    for (const problem of validate('request', params)) violations.push(`request: ${problem}`);
    const field = (name: string) => (typeof params[name] === 'string' ? (params[name] as string) : undefined);
    const to = field('To');
    if (!to) return error(res, 400, 21604, "A 'To' phone number is required.");
    if (!field('From') && !field('MessagingServiceSid')) return error(res, 400, 21603, "A 'From' phone number is required.");
    if (!field('Body') && !field('ContentSid') && params.MediaUrl === undefined) return error(res, 400, 21602, 'Message body is required.');
    if (field('From') && channelOf(field('From')!) !== channelOf(to)) return error(res, 400, 21910, 'Invalid From and To pair. From and To should be of the same channel');
    if (field('ContentVariables') !== undefined && !isJsonObject(field('ContentVariables')!)) return error(res, 400, 21656, 'The ContentVariables Parameter is invalid.');
    const index = failures.findIndex((entry) => addressMatches(to, entry.to));
    if (index >= 0) {
      const { failure } = failures.splice(index, 1)[0]!;
      const headers: Record<string, string> = failure.retryAfter === undefined ? {} : { 'Retry-After': String(failure.retryAfter) };
      if (failure.raw !== undefined) return respond(res, failure.httpStatus, 'text/html', failure.raw, headers);
      const code = failure.code ?? 20500;
      return error(res, failure.httpStatus, code, failure.message ?? `Fake Twilio error ${code} for ${to}`, headers);
    }
    const sid = `SM${randomBytes(16).toString('hex')}`;
    const message: FakeTwilioMessage = {
      sid,
      to,
      from: field('From') ?? null,
      messagingServiceSid: field('MessagingServiceSid') ?? null,
      body: field('Body') ?? null,
      contentSid: field('ContentSid') ?? null,
      contentVariables: field('ContentVariables') ?? null,
      statusCallback: field('StatusCallback') ?? null,
    };
    messages.push(message);
    const now = new Date().toUTCString().replace('GMT', '+0000');
    const uri = `/2010-04-01/Accounts/${accountSid}/Messages/${sid}`;
    reply(res, 201, {
      account_sid: accountSid,
      api_version: '2010-04-01',
      body: message.body ?? '',
      date_created: now,
      date_sent: null,
      date_updated: now,
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from: message.from,
      messaging_service_sid: message.messagingServiceSid,
      num_media: '0',
      num_segments: '1',
      price: null,
      price_unit: 'USD',
      sid,
      status: message.messagingServiceSid ? 'accepted' : 'queued',
      subresource_uris: { media: `${uri}/Media.json` },
      to,
      uri: `${uri}.json`,
    });
  }

  function authenticate(header: string | undefined): FakeTwilioRequest['auth'] {
    if (!header) return 'none';
    const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header);
    if (!match) return 'invalid';
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    if (safeEqual(decoded, `${accountSid}:${authToken}`)) return 'account';
    if (safeEqual(decoded, `${apiKey.sid}:${apiKey.secret}`)) return 'api-key';
    return 'invalid';
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const newest = (to: string) => [...messages].reverse().find((message) => addressMatches(message.to, to));

  const fake: FakeTwilio = {
    baseUrl: `http://127.0.0.1:${port}`,
    accountSid,
    authToken,
    apiKey,
    requests,
    messages,
    violations,
    lastCode: (to) => {
      const message = newest(to);
      return message && codeIn(message);
    },
    lastBody: (to) => newest(to)?.body ?? undefined,
    lastMessage: (to) => {
      const message = newest(to);
      return message && { ...message };
    },
    failNext: (to, failure) => {
      failures.push({ to, failure });
    },
    delay: (ms) => {
      delayMs = ms;
    },
    statusCallbackParams: ({ messageSid, status, errorCode }) => {
      const message = messages.find((candidate) => candidate.sid === messageSid);
      const to = message?.to ?? '+15005550006';
      const params: Record<string, string> = {
        AccountSid: accountSid,
        ApiVersion: '2010-04-01',
        From: message?.from ?? '+15005550001',
        To: to,
        MessageSid: messageSid,
        SmsSid: messageSid,
        MessageStatus: status,
        SmsStatus: status,
      };
      if (message?.messagingServiceSid) params.MessagingServiceSid = message.messagingServiceSid;
      if (channelOf(to) === 'whatsapp') params.ChannelPrefix = 'whatsapp';
      if (errorCode !== undefined) params.ErrorCode = String(errorCode);
      return params;
    },
    sign: (url, params) => signature(authToken, url, params),
    sendStatusCallback: async (input) => {
      const url = messages.find((candidate) => candidate.sid === input.messageSid)?.statusCallback;
      if (!url) throw new Error('That message was sent without a StatusCallback URL.');
      const params = fake.statusCallbackParams(input);
      return fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Twilio-Signature': signature(authToken, url, params) },
        body: new URLSearchParams(params).toString(),
      });
    },
    reset: () => {
      requests.length = 0;
      messages.length = 0;
      violations.length = 0;
      failures.length = 0;
      delayMs = 0;
    },
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}
