import { isStepUpError, stepUpError, type StepUpError } from '../core/errors.js';

/** A framework-neutral HTTP answer; each adapter only copies it onto its response object. */
export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export type MaybePromise<T> = T | Promise<T>;

const NO_STORE = { 'Cache-Control': 'no-store' };

export function jsonResponse(status: number, body: unknown): HttpResponse {
  return { status, headers: { ...NO_STORE, 'Content-Type': 'application/json; charset=utf-8' }, body };
}

/** `{ error: { code, message, ...details } }` with `Retry-After` where a wait applies (DESIGN §4). */
export function errorResponse(error: StepUpError): HttpResponse {
  const { attemptsLeft, retryAfter } = error.details;
  const body = {
    error: {
      code: error.code,
      message: error.message,
      ...(attemptsLeft === undefined ? {} : { attemptsLeft }),
      ...(retryAfter === undefined ? {} : { retryAfter }),
    },
  };
  const response = jsonResponse(error.status, body);
  if (retryAfter !== undefined) response.headers['Retry-After'] = String(retryAfter);
  return response;
}

/**
 * Any thrown value to a safe answer: our errors as they are, body-parser errors as
 * 400/413, everything else as a 500 that reveals nothing (no message, no stack).
 */
export function toHttpError(error: unknown): HttpResponse {
  if (isStepUpError(error)) return errorResponse(error);
  const parserType = typeof error === 'object' && error !== null ? (error as { type?: unknown }).type : undefined;
  if (parserType === 'entity.too.large') return errorResponse(stepUpError('request_too_large'));
  if (typeof parserType === 'string' && parserType.startsWith('entity.') || parserType === 'charset.unsupported' || parserType === 'encoding.unsupported') {
    return errorResponse(stepUpError('invalid_request', {}, 'The request body must be JSON.'));
  }
  return jsonResponse(500, { error: { code: 'internal_error', message: 'Something went wrong.' } });
}

/** The bytes an adapter writes: text answers (the webhook handshake) as they are, everything else as JSON. */
export function bodyText(answer: HttpResponse): string {
  return typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
}
