import { createHmac, timingSafeEqual } from 'node:crypto';

export type WhatsAppDeliveryState = 'sent' | 'delivered' | 'read' | 'failed';

/** One status from Meta's `messages` webhook. */
export interface WhatsAppStatusUpdate {
  /** The `wamid` that the send returned as `messageId`. */
  messageId: string;
  status: WhatsAppDeliveryState;
  /** Codes of `errors[]` (on `failed`), such as 131026 or 131049; empty otherwise. */
  errorCodes: number[];
  /** Seconds since the epoch, as Meta sent it; absent when missing or unreadable. */
  timestamp?: number;
}

const STATES: readonly string[] = ['sent', 'delivered', 'read', 'failed'];
/** A wamid as Meta writes it (base64 text): no spaces, bounded, safe inside store keys. */
export const WAMID = /^[A-Za-z0-9._=+\/-]{1,256}$/;

/**
 * The delivery statuses in a WhatsApp webhook body (`entry[].changes[].value.statuses[]`),
 * in the order they appear. Other changes (incoming messages, group events) and malformed
 * parts are skipped; it never throws. Meta does not promise order: the caller must let a
 * status never undo a later one (`delivered` after `failed` must not send twice).
 *
 * Check the signature first ({@link verifyMetaSignature}), on the raw body.
 */
export function parseWhatsAppStatusWebhook(body: unknown): WhatsAppStatusUpdate[] {
  const updates: WhatsAppStatusUpdate[] = [];
  if (!isObject(body) || body.object !== 'whatsapp_business_account') return updates;
  for (const entry of arrayOf(body.entry)) {
    for (const change of arrayOf(isObject(entry) ? entry.changes : undefined)) {
      const value = isObject(change) ? change.value : undefined;
      for (const status of arrayOf(isObject(value) ? value.statuses : undefined)) {
        const update = readStatus(status);
        if (update) updates.push(update);
      }
    }
  }
  return updates;
}

function readStatus(status: unknown): WhatsAppStatusUpdate | undefined {
  if (!isObject(status)) return undefined;
  const { id, status: state, timestamp, errors } = status;
  if (typeof id !== 'string' || !WAMID.test(id) || typeof state !== 'string' || !STATES.includes(state)) return undefined;
  const errorCodes = arrayOf(errors)
    .map((error) => (isObject(error) ? error.code : undefined))
    .filter((code): code is number => typeof code === 'number' && Number.isInteger(code));
  const seconds = typeof timestamp === 'string' && /^[0-9]{1,12}$/.test(timestamp) ? Number(timestamp) : undefined;
  return { messageId: id, status: state as WhatsAppDeliveryState, errorCodes, ...(seconds === undefined ? {} : { timestamp: seconds }) };
}

/**
 * Checks Meta's `X-Hub-Signature-256` header (`sha256=<hex HMAC-SHA256 of the raw body
 * keyed by the app secret>`) in constant time. False when the header is missing or
 * malformed; a TypeError when the body is not raw bytes or the secret is empty, because
 * those are setup mistakes (a parsed JSON body cannot be verified).
 *
 * @example
 * app.post('/webhooks/whatsapp', express.raw({ type: 'application/json' }), (req, res) => {
 *   if (!verifyMetaSignature(req.body, req.get('x-hub-signature-256'), process.env.META_APP_SECRET!)) return res.sendStatus(401);
 *   const updates = parseWhatsAppStatusWebhook(JSON.parse(req.body.toString('utf8')));
 * });
 */
export function verifyMetaSignature(rawBody: Uint8Array | string, header: string | undefined, appSecret: string): boolean {
  const expected = Buffer.from(metaSignature(rawBody, appSecret), 'hex');
  if (typeof header !== 'string') return false;
  const match = /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim());
  if (!match) return false;
  return timingSafeEqual(Buffer.from(match[1]!, 'hex'), expected);
}

/** Hex HMAC-SHA256 of the raw body with the app secret: what Meta puts after `sha256=`. */
export function metaSignature(rawBody: Uint8Array | string, appSecret: string): string {
  if (typeof appSecret !== 'string' || appSecret === '') {
    throw new TypeError('`appSecret` is required: the App Secret from the Meta app dashboard (App settings → Basic).');
  }
  if (typeof rawBody !== 'string' && !(rawBody instanceof Uint8Array)) {
    throw new TypeError('The webhook body must be the raw bytes as received (for Express, `express.raw({ type: "application/json" })`), not parsed JSON.');
  }
  return createHmac('sha256', appSecret).update(rawBody).digest('hex');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function arrayOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
