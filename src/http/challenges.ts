import type { IncomingMessage } from 'node:http';
import { stepUpError } from '../core/errors.js';
import { rejectUnknown } from '../lib/validate.js';
import type { StepUp } from '../core/stepup.js';
import type { Transaction } from '../core/types.js';
import { parseBodyLimit, readJsonBody, requireJsonContentType } from './body.js';
import { createWebhookHandler, type WebhookOptions } from './webhooks.js';
import { jsonResponse, toHttpError, type HttpResponse, type MaybePromise } from './responses.js';

/** The user a challenge is for, as the app knows them: never taken from the request body. */
export interface ResolvedSubject {
  /** Stable, non-personal user id. */
  id: string;
  /** The phone number on file. */
  phone: string;
  /** Factors already checked in this event, such as `['pwd']` after a password step (adds `mfa` to `amr`). */
  otherFactors?: string[];
}

/** Options shared by the Express and Koa routers; `Req` is the framework's request (or context). */
export interface ChallengeRouterOptions<Req> {
  /** The signed-in (or half-signed-in) user and the number on file; `undefined` answers 401 `unauthenticated`. */
  resolveSubject: (req: Req) => MaybePromise<ResolvedSubject | null | undefined>;
  /** Ties challenges to the session that asked for them, such as the session id. */
  binding?: (req: Req) => MaybePromise<string | undefined>;
  /**
   * The transaction a challenge approves, read from the server's own record. When set,
   * any `transaction` in the body is ignored.
   */
  transaction?: (req: Req, purpose: string) => MaybePromise<Transaction | undefined>;
  /** Purposes this router may start. Default: every configured purpose. */
  purposes?: string[];
  /** Delivery-status webhooks to mount under `/webhooks/...`; see the README's Channels section. */
  webhooks?: WebhookOptions;
  /** Largest JSON body accepted. Default `'8kb'`. */
  bodyLimit?: string | number;
  /**
   * Path the routes sit under when the router sees full paths, such as `'/stepup'` for a Koa
   * app that uses it directly. Default: none (Express's `app.use('/stepup', ...)` or koa-mount
   * strip their own prefix).
   */
  prefix?: string;
  /** Called with unexpected errors (the client only sees a bare 500). Default: console.error. */
  onError?: (error: unknown) => void;
}

/** One request as an adapter hands it over: enough to route it and read its body. */
export interface IncomingRequest<Req> {
  /** The framework's request (or context), handed to the app's callbacks. */
  req: Req;
  method: string;
  /** The path below the adapter's mount point, not decoded and without the query. */
  path: string;
  /** Node's request, whose stream holds the body. */
  message: IncomingMessage;
  /** What an earlier body parser left on the request, read only when it consumed the stream. */
  parsedBody: () => unknown;
  /** The client's address, read only for requests that are ours (the framework may parse forwarding headers for it). */
  ip: () => string | undefined;
}

interface RequestFacts {
  body: unknown;
  ip: string | undefined;
}

const ROUTER_OPTIONS = ['resolveSubject', 'binding', 'transaction', 'purposes', 'bodyLimit', 'prefix', 'webhooks', 'onError'];
// Like Express's defaults: case-insensitive, an optional trailing slash, `:id` one path segment.
const ROUTE = /^\/challenges(?:\/([^/]+)\/(resend|verify))?\/?$/i;

/**
 * The three challenge routes of DESIGN §4 as one function from a request to an
 * {@link HttpResponse}: routing, body, id and every answer are decided here, so that the
 * adapters only hand the request over and copy the answer back.
 */
export function createChallengeRouter<Req>(stepup: StepUp, options: ChallengeRouterOptions<Req>) {
  if (!stepup || typeof stepup.start !== 'function') throw new TypeError('stepUpRouter needs the service from createStepUp(...) as its first argument.');
  if (!options || typeof options.resolveSubject !== 'function') {
    throw new TypeError('stepUpRouter needs `resolveSubject: (req) => ({ id, phone })`: codes go to the number on file, never to one from the request.');
  }
  rejectUnknown(options, ROUTER_OPTIONS, 'stepUpRouter');
  for (const name of ['binding', 'transaction', 'onError'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') throw new TypeError(`\`${name}\` must be a function.`);
  }
  const allowed = new Set(options.purposes ?? []);
  for (const purpose of allowed) {
    if (!stepup.purpose(purpose)) throw new TypeError(`\`purposes\` names '${purpose}', which createStepUp does not know; configure it in createStepUp({ purposes }).`);
  }
  const bodyLimit = parseBodyLimit(options.bodyLimit);
  const prefix = parsePrefix(options.prefix);
  const webhooks = createWebhookHandler(stepup, options.webhooks);
  const report = options.onError ?? ((error: unknown) => console.error('[whatsapp-stepup] unexpected error', error));


  const subjectOf = async (req: Req): Promise<ResolvedSubject> => {
    const subject = await options.resolveSubject(req);
    if (!subject) throw stepUpError('unauthenticated');
    return subject;
  };
  const bindingOf = async (req: Req) => (options.binding ? await options.binding(req) : undefined);

  const start = async (req: Req, facts: RequestFacts): Promise<HttpResponse> => {
    const body = readBody(facts.body, ['purpose', 'channel', 'transaction', 'locale']);
    const purpose = body.purpose;
    if (typeof purpose !== 'string' || !stepup.purpose(purpose) || (allowed.size > 0 && !allowed.has(purpose))) {
      throw stepUpError('invalid_request', {}, 'Unknown purpose.');
    }
    const subject = await subjectOf(req);
    const transaction = options.transaction ? await options.transaction(req, purpose) : (body.transaction as Transaction | undefined);
    const view = await stepup.start({
      subject: subject.id,
      phone: subject.phone,
      purpose,
      ...optionalFields({
        transaction,
        channel: optionalString(body.channel, 'channel'),
        locale: optionalString(body.locale, 'locale'),
        binding: await bindingOf(req),
        ip: facts.ip,
        otherFactors: subject.otherFactors,
      }),
    });
    return jsonResponse(201, view);
  };

  const resend = async (req: Req, challengeId: string, facts: RequestFacts): Promise<HttpResponse> => {
    const body = readBody(facts.body ?? {}, ['channel']);
    const subject = await subjectOf(req);
    const view = await stepup.resend(challengeId, {
      subject: subject.id,
      ...optionalFields({ channel: optionalString(body.channel, 'channel'), binding: await bindingOf(req), ip: facts.ip }),
    });
    return jsonResponse(200, view);
  };

  const verify = async (req: Req, challengeId: string, facts: RequestFacts): Promise<HttpResponse> => {
    const body = readBody(facts.body, ['code']);
    if (typeof body.code !== 'string') throw stepUpError('invalid_request', {}, 'The body must be { "code": "123456" }.');
    const subject = await subjectOf(req);
    const result = await stepup.verify(challengeId, body.code, {
      subject: subject.id,
      ...optionalFields({ binding: await bindingOf(req), ip: facts.ip }),
      // A router limited to some purposes completes only those.
      ...(allowed.size > 0 ? { purpose: [...allowed] } : {}),
    });
    return jsonResponse(200, { token: result.token, tokenType: 'step-up', expiresIn: result.expiresIn, purpose: result.claims.purpose });
  };

  /**
   * Routes one request: the answer, or `undefined` when it is not one of ours (the adapter
   * passes it on, its body unread). Every outcome, a bad body or id included, is decided here.
   */
  return async (incoming: IncomingRequest<Req>): Promise<HttpResponse | undefined> => {
    const route = incoming.method === 'POST' ? matchRoute(incoming.path, prefix) : undefined;
    if (!route) {
      const below = belowPrefix(incoming.path, prefix);
      if (below === undefined || !below.toLowerCase().startsWith('/webhooks/')) return undefined;
      try {
        return await webhooks({ method: incoming.method, path: below, message: incoming.message });
      } catch (error) {
        report(error);
        return toHttpError(error);
      }
    }
    try {
      const challengeId = route.id === undefined ? '' : decodeId(route.id);
      requireJsonContentType(incoming.message.headers);
      const facts = { body: await readJsonBody(incoming.message, bodyLimit, incoming.parsedBody), ip: incoming.ip() };
      if (route.action === 'start') return await start(incoming.req, facts);
      return await (route.action === 'resend' ? resend : verify)(incoming.req, challengeId, facts);
    } catch (error) {
      const response = toHttpError(error);
      if (response.status === 500) report(error);
      return response;
    }
  };
}

export type ChallengeRouter<Req> = ReturnType<typeof createChallengeRouter<Req>>;

function parsePrefix(prefix: string | undefined): string {
  if (prefix === undefined) return '';
  if (typeof prefix !== 'string' || !/^(\/[\w.~-]+)*\/?$/.test(prefix)) {
    throw new TypeError(`\`prefix\` must be a path such as '/stepup' (received ${JSON.stringify(prefix)}).`);
  }
  return prefix.replace(/\/$/, '').toLowerCase();
}

/** The path below the router's prefix, or undefined when the request is not under it. */
function belowPrefix(path: string, prefix: string): string | undefined {
  if (prefix !== '' && !(path.toLowerCase().startsWith(prefix) && (path.length === prefix.length || path[prefix.length] === '/'))) return undefined;
  return path.slice(prefix.length);
}

function matchRoute(path: string, prefix: string): { action: 'start' | 'resend' | 'verify'; id?: string } | undefined {
  const below = belowPrefix(path, prefix);
  if (below === undefined) return undefined;
  const match = ROUTE.exec(below);
  if (!match) return undefined;
  if (match[1] === undefined) return { action: 'start' };
  return { action: match[2]!.toLowerCase() as 'resend' | 'verify', id: match[1] };
}

function decodeId(id: string): string {
  try {
    return decodeURIComponent(id);
  } catch {
    // Not valid percent-encoding: such an id names no challenge, as any other malformed id.
    throw stepUpError('challenge_not_found');
  }
}

function readBody(body: unknown, known: string[]): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw stepUpError('invalid_request', {}, 'The request body must be a JSON object.');
  }
  const unknown = Object.keys(body).find((key) => !known.includes(key));
  if (unknown) throw stepUpError('invalid_request', {}, `Unknown field "${unknown.slice(0, 32)}". Allowed: ${known.join(', ')}.`);
  return body as Record<string, unknown>;
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw stepUpError('invalid_request', {}, `"${name}" must be a string.`);
  return value;
}

/** Drops undefined members, so that the core sees an absent option rather than an explicit undefined. */
function optionalFields<T extends Record<string, unknown>>(fields: T): Partial<T> {
  const present: Partial<T> = {};
  for (const key in fields) if (fields[key] !== undefined) present[key] = fields[key];
  return present;
}
