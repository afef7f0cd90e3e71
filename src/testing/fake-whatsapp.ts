import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { metaSignature } from '../channels/whatsapp-webhook.js';

/**
 * Checks a body against Meta's schemas and returns what is wrong (empty when valid):
 * `request` is a send (`TemplateMessage`), `response` an answer (`MessageResponsePayload`,
 * or `GraphAPIError` when it has `error`), `webhook` a status callback (`WebhookPayload`).
 * Injected, so that the fake itself needs no schema library.
 */
export type FakeWhatsAppValidator = (kind: 'request' | 'response' | 'webhook', body: unknown) => string[];

export interface FakeWhatsAppOptions {
  validate?: FakeWhatsAppValidator;
  /** Default: a free port on 127.0.0.1. */
  port?: number;
  /** Default: a random token, readable as `fake.accessToken`. */
  accessToken?: string;
  /** Default `'106540352242922'`. */
  phoneNumberId?: string;
}

export interface FakeWhatsAppFailure {
  /** The Graph API error code to answer, such as 131026 or 190. */
  code?: number;
  /** Default: Meta's status for that code (401 for 0 and 190, 403 for permissions, 500 for 131000, else 400). */
  httpStatus?: number;
  /** Answer this text instead of a Graph API error body (a proxy's error page, say). */
  rawBody?: string;
  /** Replaces the error's `message` and `error_data.details` (Meta's may repeat the recipient's number). */
  message?: string;
  details?: string;
}

/** One request the fake received, with its answer. It never holds the access token. */
export interface FakeWhatsAppRequest {
  method: string;
  path: string;
  /** Whether `Authorization: Bearer <accessToken>` was present and right. */
  authorized: boolean;
  /** The parsed JSON body, or undefined. */
  body: unknown;
  /** The recipient as sent (`to`) and the code found in the body parameter. */
  to?: string;
  code?: string;
  status: number;
  /** The JSON answered, or the raw text of a `rawBody` failure. */
  response: unknown;
  /** The `wamid` of an accepted message. */
  messageId?: string;
  /** What the validator found wrong with this request or its answer. */
  problems: string[];
}

export interface FakeWhatsApp {
  /** Give it to the channel as `baseUrl`. */
  readonly baseUrl: string;
  readonly phoneNumberId: string;
  readonly accessToken: string;
  /** Every request, oldest first. */
  readonly requests: readonly FakeWhatsAppRequest[];
  /** Every validator complaint so far, prefixed by the request's position. */
  problems(): string[];
  /** The code in the last accepted message to `to` (`'+34600111222'` or `'34600111222'`). */
  lastCode(to: string): string | undefined;
  /** The `wamid` of the last accepted message to `to`. */
  lastMessageId(to: string): string | undefined;
  /** The next send to `to` (or to anyone, `'*'`) fails this way; failures queue. */
  failNext(to: string, failure: FakeWhatsAppFailure): void;
  /** Every send to `to` (or `'*'`) fails this way until `reset()`. */
  failAlways(to: string, failure: FakeWhatsAppFailure): void;
  /** Answer every following request after `ms` milliseconds (0 to stop). */
  delay(ms: number): void;
  /** Forgets failures and delay (requests stay). */
  reset(): void;
  /** A `messages` webhook body (Meta's `WebhookPayload`) reporting a status of a message this fake accepted. */
  statusPayload(input: { messageId: string; status: 'sent' | 'delivered' | 'read' | 'failed'; errorCode?: number; timestamp?: number }): unknown;
  close(): Promise<void>;
}

const TITLES: Record<number, string> = {
  0: 'AuthException', 4: 'Application request limit reached', 10: 'Permission denied', 100: 'Invalid parameter',
  190: 'Access token has expired', 80007: 'Rate limit issues', 130429: 'Rate limit hit', 130472: "User's number is part of an experiment",
  131000: 'Something went wrong', 131026: 'Message undeliverable', 131048: 'Spam rate limit hit',
  131049: 'This message was not delivered to maintain healthy ecosystem engagement.', 131056: '(Business Account, Consumer Account) pair rate limit hit',
  132000: 'Number of parameters does not match the expected number of params', 132001: 'Template does not exist',
};

/** Starts a local WhatsApp Cloud API (`POST /{version}/{phone-number-id}/messages`) for tests. */
export async function startFakeWhatsApp(options: FakeWhatsAppOptions = {}): Promise<FakeWhatsApp> {
  const accessToken = options.accessToken ?? `EAAfake${randomBytes(24).toString('hex')}`;
  const phoneNumberId = options.phoneNumberId ?? '106540352242922';
  const requests: FakeWhatsAppRequest[] = [];
  const once = new Map<string, FakeWhatsAppFailure[]>();
  const always = new Map<string, FakeWhatsAppFailure>();
  const timers = new Set<NodeJS.Timeout>();
  let delayMs = 0;

  const nextFailure = (to: string): FakeWhatsAppFailure | undefined => {
    for (const key of [to, '*']) {
      const queued = once.get(key)?.shift();
      if (queued) return queued;
    }
    return always.get(to) ?? always.get('*');
  };

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string): void => {
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    const record: FakeWhatsAppRequest = {
      method: req.method ?? '', path, authorized: req.headers.authorization === `Bearer ${accessToken}`,
      body: parseJson(raw), status: 0, response: undefined, problems: [],
    };
    requests.push(record);
    const answer = (status: number, body: unknown): void => {
      record.status = status;
      record.response = body;
      if (options.validate) record.problems.push(...options.validate('response', body).map((problem) => `response: ${problem}`));
      const reply = (): void => {
        if (res.destroyed) return;
        res.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8', ...(status === 401 ? { 'WWW-Authenticate': 'OAuth "Facebook Platform" "invalid_token"' } : {}) });
        res.end(JSON.stringify(body));
      };
      if (delayMs === 0) return reply();
      const timer = setTimeout(() => (timers.delete(timer), reply()), delayMs);
      timers.add(timer);
    };

    const route = /^\/(v[0-9]+\.[0-9]+)\/([^/]+)\/messages$/.exec(path);
    if (!route) return answer(400, graphError(2500, { message: 'Unknown path components' }));
    if (!record.authorized) return answer(401, graphError(190, { message: 'Invalid OAuth access token - Cannot parse access token' }));
    if (req.method !== 'POST') return answer(400, graphError(100, { message: `Unsupported ${String(req.method).toLowerCase()} request.` }));
    if (route[2] !== phoneNumberId) {
      return answer(400, graphError(100, { message: 'Unsupported post request. Object does not exist, cannot be loaded due to missing permissions, or does not support this operation.' }));
    }
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) return answer(400, graphError(100, { details: 'Content-Type must be application/json.' }));
    const problems = [...(options.validate?.('request', record.body) ?? [])];
    const message = readTemplateMessage(record.body);
    if (typeof message === 'string') problems.push(message);
    record.problems.push(...problems.map((problem) => `request: ${problem}`));
    if (problems.length > 0 || typeof message === 'string') return answer(400, graphError(100, { details: problems.join('; ').slice(0, 500) }));
    record.to = message.to;
    record.code = message.code;

    const failure = nextFailure(digits(message.to));
    if (failure?.rawBody !== undefined) {
      record.status = failure.httpStatus ?? 502;
      record.response = failure.rawBody;
      res.writeHead(record.status, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(failure.rawBody);
      return;
    }
    if (failure) return answer(failure.httpStatus ?? httpStatusFor(failure.code ?? 131000), graphError(failure.code ?? 131000, failure));
    record.messageId = `wamid.${randomBytes(30).toString('base64url')}`;
    answer(200, {
      messaging_product: 'whatsapp',
      contacts: [{ input: message.to, wa_id: digits(message.to) }],
      messages: [{ id: record.messageId, message_status: 'accepted' }],
    });
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= 65_536) chunks.push(chunk);
    });
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const accepted = (to: string): FakeWhatsAppRequest | undefined =>
    [...requests].reverse().find((request) => request.messageId !== undefined && request.to !== undefined && digits(request.to) === digits(to));

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    phoneNumberId,
    accessToken,
    requests,
    problems: () => requests.flatMap((request, index) => request.problems.map((problem) => `#${index} ${problem}`)),
    lastCode: (to) => accepted(to)?.code,
    lastMessageId: (to) => accepted(to)?.messageId,
    failNext(to, failure) {
      const key = to === '*' ? to : digits(to);
      once.set(key, [...(once.get(key) ?? []), failure]);
    },
    failAlways(to, failure) {
      always.set(to === '*' ? to : digits(to), failure);
    },
    delay(ms) {
      delayMs = ms;
    },
    reset() {
      once.clear();
      always.clear();
      delayMs = 0;
    },
    statusPayload({ messageId, status, errorCode, timestamp }) {
      const sent = requests.find((request) => request.messageId === messageId);
      if (!sent?.to) throw new Error('statusPayload: this fake accepted no message with that id.');
      const code = errorCode ?? (status === 'failed' ? 131026 : undefined);
      const payload = {
        object: 'whatsapp_business_account',
        entry: [{
          id: '419561257915477',
          changes: [{
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550783881', phone_number_id: phoneNumberId },
              statuses: [{
                id: messageId,
                status,
                timestamp: String(timestamp ?? Math.floor(Date.now() / 1000)),
                recipient_id: digits(sent.to),
                ...(code === undefined ? {} : {
                  errors: [{ code, title: TITLES[code] ?? 'Error', message: TITLES[code] ?? 'Error', error_data: { details: TITLES[code] ?? 'Error' } }],
                }),
              }],
            },
          }],
        }],
      };
      const problems = options.validate?.('webhook', payload) ?? [];
      if (problems.length > 0) throw new Error(`statusPayload does not match WebhookPayload: ${problems.join('; ')}`);
      return payload;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The `X-Hub-Signature-256` header Meta would send with `rawBody`. */
export function signMetaWebhook(rawBody: string | Uint8Array, appSecret: string): string {
  return `sha256=${metaSignature(rawBody, appSecret)}`;
}

function graphError(code: number, { message, details }: { message?: string; details?: string }): unknown {
  const title = TITLES[code] ?? 'Error';
  return {
    error: {
      message: message ?? `(#${code}) ${title}`,
      type: 'OAuthException',
      code,
      error_data: { messaging_product: 'whatsapp', details: details ?? title },
      fbtrace_id: randomBytes(12).toString('base64url'),
    },
  };
}

function httpStatusFor(code: number): number {
  if (code === 0 || code === 190) return 401;
  if (code === 10 || code === 368 || (code >= 200 && code <= 299)) return 403;
  if (code === 131000) return 500;
  return 400;
}

/** The recipient and the code of an authentication template send, or what is missing. */
function readTemplateMessage(body: unknown): { to: string; code: string } | string {
  const message = body as { to?: unknown; type?: unknown; template?: { components?: unknown } } | undefined;
  if (typeof message?.to !== 'string' || !/^\+?[1-9][0-9]{6,14}$/.test(message.to)) return '`to` must be a phone number';
  if (message.type !== 'template') return '`type` must be template';
  const components = Array.isArray(message.template?.components) ? (message.template.components as { type?: unknown; parameters?: unknown }[]) : [];
  const parameters = components.find((component) => component?.type === 'body')?.parameters;
  const code = Array.isArray(parameters) ? (parameters[0] as { text?: unknown } | undefined)?.text : undefined;
  if (typeof code !== 'string') return 'the body component needs a text parameter (the code)';
  return { to: message.to, code };
}

function parseJson(raw: string): unknown {
  try {
    return raw === '' ? undefined : JSON.parse(raw);
  } catch {
    return undefined;
  }
}

function digits(phone: string): string {
  return phone.replace(/^\+/, '');
}
