import type { IncomingMessage, ServerResponse } from 'node:http';
import { TRANSPORTS, type Channel, type OutgoingMessage, type SendReceipt, type Transport } from './channel.js';
import { randomId } from '../lib/random.js';
import { integerIn } from '../lib/validate.js';
import { renderOutboxPage } from './outbox-page.js';

/** A message the outbox "sent". It holds the code: this channel exists for development and tests only. */
export interface OutboxMessage {
  id: string;
  to: string;
  channel: string;
  transport: Transport;
  text: string;
  code: string;
  purpose: string;
  challengeId: string;
  /** ISO 8601 instant. */
  sentAt: string;
}

export interface OutboxChannelOptions {
  /** Channel name. Default `'outbox'`. */
  name?: string;
  /** Which transport this outbox stands in for (decides `amr`). Default `'whatsapp'`. */
  transport?: Transport;
  /** Messages kept, oldest dropped first. Default 200. */
  limit?: number;
}

type NextFunction = (error?: unknown) => void;

/**
 * A channel that delivers nowhere: it keeps messages in memory so that a developer
 * sees the code without a phone, through `messages()` or the page that `router()` serves.
 */
export class OutboxChannel implements Channel {
  readonly name: string;
  readonly transport: Transport;
  /** Marks it for `createStepUp`, which refuses it under NODE_ENV=production unless `allowOutboxInProduction`. */
  readonly keepsCodes = true;
  readonly #limit: number;
  readonly #messages: OutboxMessage[] = [];

  constructor(options: OutboxChannelOptions = {}) {
    const { name = 'outbox', transport = 'whatsapp', limit = 200 } = options;
    if (!TRANSPORTS.includes(transport)) throw new TypeError(`\`transport\` must be one of ${TRANSPORTS.join(', ')}.`);
    integerIn(limit, 1, 10_000, 200, 'limit');
    this.name = name;
    this.transport = transport;
    this.#limit = limit;
  }

  async send(message: OutgoingMessage): Promise<SendReceipt> {
    const id = randomId();
    this.#messages.push({
      id,
      to: message.to,
      channel: this.name,
      transport: this.transport,
      text: message.text,
      code: message.code,
      purpose: message.purpose,
      challengeId: message.challengeId,
      sentAt: new Date().toISOString(),
    });
    if (this.#messages.length > this.#limit) this.#messages.shift();
    return { messageId: `outbox.${id}` };
  }

  /**
   * Wraps a real channel so that what it sends also shows in this outbox (under the real
   * channel's name): for a demo against sandbox or fake providers. Hosted channels are
   * not mirrored (their provider makes the code). Development only, like `router()`.
   */
  mirror(channel: Channel): Channel {
    if (process.env.NODE_ENV === 'production') {
      throw new Error('The outbox keeps one-time codes and may not mirror a channel when NODE_ENV=production.');
    }
    const record = (message: OutgoingMessage) => {
      this.#messages.push({
        id: randomId(), to: message.to, channel: channel.name, transport: channel.transport, text: message.text || `Your code is ${message.code}.`,
        code: message.code, purpose: message.purpose, challengeId: message.challengeId, sentAt: new Date().toISOString(),
      });
      if (this.#messages.length > this.#limit) this.#messages.shift();
    };
    return {
      name: channel.name,
      transport: channel.transport,
      keepsCodes: true,
      async send(message, signal) {
        const receipt = await channel.send(message, signal);
        if (message.code !== '') record(message);
        return receipt;
      },
    };
  }

  /** Sent messages, oldest first. */
  messages(): OutboxMessage[] {
    return this.#messages.map((message) => ({ ...message }));
  }

  /** The newest message sent to `to` (E.164), if any. */
  latest(to?: string): OutboxMessage | undefined {
    const found = [...this.#messages].reverse().find((message) => to === undefined || message.to === to);
    return found && { ...found };
  }

  clear(): void {
    this.#messages.length = 0;
  }

  /**
   * A request handler for Express (or any Node HTTP stack) that serves the messages as
   * JSON (`/messages.json`) and as a page (`/`). It throws under NODE_ENV=production:
   * the page shows live codes.
   */
  router(): (req: IncomingMessage, res: ServerResponse, next?: NextFunction) => void {
    if (process.env.NODE_ENV === 'production') {
      throw new Error('The outbox shows one-time codes and may not be mounted when NODE_ENV=production.');
    }
    return (req, res, next) => {
      const path = new URL(req.url ?? '/', 'http://outbox').pathname;
      if (req.method !== 'GET' && req.method !== 'HEAD') return next ? next() : notFound(res);
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('X-Content-Type-Options', 'nosniff');
      if (path === '/messages.json') {
        res.setHeader('Content-Type', 'application/json; charset=utf-8');
        res.end(JSON.stringify({ messages: this.messages().reverse() }));
        return;
      }
      if (path === '/' || path === '') {
        res.setHeader('Content-Type', 'text/html; charset=utf-8');
        res.setHeader('Content-Security-Policy', "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'");
        res.end(renderOutboxPage(this.messages().reverse()));
        return;
      }
      return next ? next() : notFound(res);
    };
  }
}

function notFound(res: ServerResponse): void {
  res.statusCode = 404;
  res.end();
}
