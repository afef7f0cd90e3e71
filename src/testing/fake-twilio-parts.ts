// Pieces of the fake Twilio that need no server: form parsing, addresses, codes, signatures.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** A message the fake accepted. */
export interface FakeTwilioMessage {
  sid: string;
  to: string;
  from: string | null;
  messagingServiceSid: string | null;
  body: string | null;
  contentSid: string | null;
  /** The raw `ContentVariables` JSON string. */
  contentVariables: string | null;
  statusCallback: string | null;
}

/** Twilio's webhook signature, written out on its own so that tests do not check our verifier against itself. */
export function signature(authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((text, key) => text + key + params[key], url);
  return createHmac('sha1', authToken).update(Buffer.from(data, 'utf8')).digest('base64');
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > 65_536) req.destroy(new Error('body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function parseForm(raw: string): Record<string, string | string[]> {
  const params: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    const existing = params[key];
    params[key] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  return params;
}

export function channelOf(address: string): string {
  return /^([a-z]+):/.exec(address)?.[1] ?? 'sms';
}

/** `'*'` matches all; an address with a channel prefix matches exactly; a bare number matches it on any channel. */
export function addressMatches(address: string, wanted: string): boolean {
  if (wanted === '*') return true;
  if (wanted.includes(':')) return address === wanted;
  return address.replace(/^[a-z]+:/, '') === wanted;
}

/** The code from the template's variables (`"1"` first), else the SMS's origin-bound line (`@domain #code`), else the first 4 to 10 digit run. */
export function codeIn(message: FakeTwilioMessage): string | undefined {
  if (message.contentVariables) {
    const variables = JSON.parse(message.contentVariables) as Record<string, unknown>;
    const values = [variables['1'], ...Object.values(variables)];
    const code = values.find((value): value is string => typeof value === 'string' && /^\d{4,10}$/.test(value));
    if (code) return code;
  }
  const body = message.body ?? '';
  return /#(\d{4,10})\s*$/m.exec(body)?.[1] ?? /(?<![\d.,])\d{4,10}(?![\d]|[.,]\d)/.exec(body)?.[0];
}

export function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
