/**
 * Every error the library raises on purpose. `code` is stable and safe to switch on;
 * `message` is safe to show to an end user (it never holds a code, a secret or a
 * full phone number).
 */
export type StepUpErrorCode =
  | 'invalid_request'
  | 'unauthenticated'
  | 'invalid_code'
  | 'challenge_not_found'
  | 'challenge_expired'
  | 'too_many_attempts'
  | 'rate_limited'
  | 'request_too_large'
  | 'unsupported_media_type'
  | 'step_up_required'
  | 'delivery_failed'
  | 'store_unavailable';

/** Why a guard refused a step-up token (DESIGN §5). */
export type StepUpRejectionReason =
  | 'missing'
  | 'invalid'
  | 'expired'
  | 'wrong_purpose'
  | 'wrong_subject'
  | 'wrong_session'
  | 'wrong_method'
  | 'transaction_mismatch'
  | 'replayed'
  | 'too_old';

/** The RFC 6750 / RFC 9470 error class a refusal belongs to. */
export type TokenErrorClass = 'invalid_token' | 'insufficient_user_authentication';

export const STATUS_BY_CODE: Readonly<Record<StepUpErrorCode, number>> = Object.freeze({
  invalid_request: 400,
  unauthenticated: 401,
  invalid_code: 400,
  challenge_not_found: 404,
  challenge_expired: 410,
  too_many_attempts: 429,
  rate_limited: 429,
  request_too_large: 413,
  unsupported_media_type: 415,
  step_up_required: 401,
  delivery_failed: 502,
  store_unavailable: 503,
});

export interface StepUpErrorDetails {
  attemptsLeft?: number;
  /** Seconds until the operation may be tried again. */
  retryAfter?: number;
  reason?: StepUpRejectionReason;
  errorClass?: TokenErrorClass;
  purpose?: string;
  maxAge?: number;
}

// A global symbol rather than class identity: the ESM and CommonJS builds, and each
// subpath entry, carry their own copy of this class, and errors must be recognized across them.
const BRAND = Symbol.for('whatsapp-stepup/StepUpError');

function branded(value: unknown): value is StepUpError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/**
 * Base class. Two branches map onto Passport: {@link StepUpRejectedError} is the
 * caller's fault (4xx, Passport `fail`), {@link StepUpUnavailableError} is ours (5xx,
 * Passport `error`).
 */
export class StepUpError extends Error {
  readonly code: StepUpErrorCode;
  readonly status: number;
  readonly details: Readonly<StepUpErrorDetails>;

  static override [Symbol.hasInstance](value: unknown): boolean {
    return branded(value);
  }

  constructor(code: StepUpErrorCode, message: string, details: StepUpErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.status = STATUS_BY_CODE[code];
    this.details = Object.freeze({ ...details });
    Object.defineProperty(this, BRAND, { value: true });
  }

  get retryAfter(): number | undefined {
    return this.details.retryAfter;
  }

  get attemptsLeft(): number | undefined {
    return this.details.attemptsLeft;
  }

  get reason(): StepUpRejectionReason | undefined {
    return this.details.reason;
  }
}

/** The caller's fault: 4xx, Passport `fail`. */
export class StepUpRejectedError extends StepUpError {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return branded(value) && value.status < 500;
  }
}

/** Our side (store or every channel down): 5xx, Passport `error`. */
export class StepUpUnavailableError extends StepUpError {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return branded(value) && value.status >= 500;
  }
}

const MESSAGES: Readonly<Record<StepUpErrorCode, string>> = {
  invalid_request: 'The request is not valid.',
  unauthenticated: 'Sign in first.',
  invalid_code: 'The code is not correct.',
  challenge_not_found: 'There is no such verification. Request a new code.',
  challenge_expired: 'The code has expired. Request a new code.',
  too_many_attempts: 'Too many wrong codes. Request a new code later.',
  rate_limited: 'Too many requests. Wait before trying again.',
  request_too_large: 'The request body is too large.',
  unsupported_media_type: 'The request body must be JSON, sent with Content-Type: application/json.',
  step_up_required: 'This action needs a fresh verification.',
  delivery_failed: 'The code could not be delivered. Try again later.',
  store_unavailable: 'Verification is unavailable right now. Try again shortly.',
};

/** Builds the right branch for a code, with the default safe message unless one is given. */
export function stepUpError(
  code: StepUpErrorCode,
  details: StepUpErrorDetails = {},
  message: string = MESSAGES[code],
  cause?: unknown,
): StepUpError {
  const status = STATUS_BY_CODE[code];
  const Branch = status >= 500 ? StepUpUnavailableError : StepUpRejectedError;
  return new Branch(code, message, details, cause === undefined ? undefined : { cause });
}

export function isStepUpError(value: unknown): value is StepUpError {
  return branded(value);
}
