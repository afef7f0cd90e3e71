import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { stepUpError } from '../core/errors.js';
import type { HeaderReader } from './guard.js';

const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2 };
// Decoding without `stream` keeps no state between calls: one decoder serves every request.
const UTF8 = new TextDecoder('utf-8');

/** `'8kb'`, `'1mb'` or a number of bytes, to bytes; a TypeError that names the option otherwise. */
export function parseBodyLimit(limit: string | number | undefined): number {
  if (limit === undefined) return 8 * 1024;
  const match = typeof limit === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb)?\s*$/i.exec(limit) : null;
  const bytes = typeof limit === 'number' ? limit : match ? Math.floor(Number(match[1]) * UNITS[(match[2] ?? 'b').toLowerCase()]!) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new TypeError(`\`bodyLimit\` must be a positive number of bytes or a string such as '8kb' (received ${JSON.stringify(limit)}). Omit it to use 8kb.`);
  }
  return bytes;
}

/** Reads request headers by lower-case name, repeated headers joined as Node joins them. */
export function headersOf(headers: IncomingHttpHeaders): HeaderReader {
  return (name) => {
    const value = headers[name.toLowerCase()];
    return Array.isArray(value) ? value.join(', ') : value;
  };
}

/**
 * Refuses, with `unsupported_media_type` (415), a request whose `Content-Type` is anything
 * but `application/json`, or that carries a body without one. It reads the header alone, never
 * what an earlier parser (`express.urlencoded()`, `express.text()`, a Koa body parser) made of
 * the stream: the types a browser may send cross-site without a CORS preflight (form-encoded,
 * multipart, text/plain) then never reach a route. A request without a body or Content-Type passes.
 */
export function requireJsonContentType(headers: IncomingHttpHeaders): void {
  const type = headers['content-type'];
  if (type === undefined) {
    const length = headers['content-length'];
    if (headers['transfer-encoding'] === undefined && (length === undefined || Number(length) === 0)) return;
  } else if (type.split(';')[0]!.trim().toLowerCase() === 'application/json') {
    return;
  }
  throw stepUpError('unsupported_media_type');
}

/**
 * The JSON body of a request, read from the Node stream by both adapters so that they
 * answer alike (and as `express.json({ strict: true })` did): `undefined` without a body
 * or with another media type, `{}` for an empty one, `invalid_request` for malformed JSON, a charset other than UTF-8 or a
 * `Content-Encoding` (a step-up body is tiny: inflating it only adds a zip-bomb surface),
 * `request_too_large` past `limit` bytes (at once when `Content-Length` says so).
 * A stream some earlier middleware already consumed yields what that parser left:
 * `alreadyParsed()` (then that parser's limit applied).
 */
export async function readJsonBody(message: IncomingMessage, limit: number, alreadyParsed: () => unknown): Promise<unknown> {
  if (message.readableEnded || (message.complete && !message.readable)) return alreadyParsed();
  const length = message.headers['content-length'];
  if (message.headers['transfer-encoding'] === undefined && (length === undefined || Number.isNaN(Number(length)))) return undefined;
  const [mediaType = '', ...params] = (message.headers['content-type'] ?? '').split(';');
  if (mediaType.trim().toLowerCase() !== 'application/json') return undefined;
  const charset = params.map((param) => param.trim().toLowerCase()).find((param) => param.startsWith('charset='));
  if (charset !== undefined && charset.replace(/^charset="?|"$/g, '') !== 'utf-8') throw notJson('The request body must be UTF-8 JSON.');
  if ((message.headers['content-encoding'] ?? 'identity').toLowerCase() !== 'identity') throw notJson('The request body must not be compressed.');
  if (length !== undefined && Number(length) > limit) throw tooLarge(message);

  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const finish = (error?: Error) => {
      message.off('data', onData).off('end', onEnd).off('error', onFailure).off('aborted', onFailure);
      if (error) return reject(error);
      resolve(UTF8.decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) return finish(tooLarge(message));
      chunks.push(chunk);
    };
    const onEnd = () => finish();
    const onFailure = () => finish(notJson('The request body was not received completely.'));
    message.on('data', onData).on('end', onEnd).on('error', onFailure).on('aborted', onFailure);
  });
  // As express.json(): an empty body is an empty object, a blank one is not JSON.
  if (text === '') return {};
  // Strict, as express.json(): an object or an array at the top, not a bare string or number.
  if (!/^[\x20\x09\x0a\x0d]*[{[]/.test(text)) throw notJson();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw notJson();
  }
}

function notJson(message = 'The request body must be JSON.') {
  return stepUpError('invalid_request', {}, message);
}

/** Answers at once; the rest of the body is read off and dropped so that the connection stays usable. */
function tooLarge(message: IncomingMessage) {
  message.resume();
  return stepUpError('request_too_large');
}

/**
 * The raw bytes of a request body, for webhooks whose signature covers them exactly.
 * A stream that an earlier body parser consumed cannot be checked: that is a setup
 * error the caller reports, never a pass.
 */
export async function readRawBody(message: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  if (message.readableEnded || (message.complete && !message.readable)) return undefined;
  const length = message.headers['content-length'];
  if (length !== undefined && Number(length) > limit) throw tooLarge(message);
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    message.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) return reject(tooLarge(message));
      chunks.push(chunk);
    });
    message.on('end', () => resolve(Buffer.concat(chunks)));
    message.on('error', () => reject(notJson('The request body was not received completely.')));
  });
}
