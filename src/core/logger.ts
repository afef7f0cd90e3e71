import type { StepUpEvent, StepUpEventType } from './events.js';

/**
 * Anything with pino's `info`/`warn`/`error`: called as `logger.warn(object, message)`,
 * pino's signature (pino, its child loggers, and `console` all fit).
 */
export interface StepUpLogger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

export type LogLevel = 'info' | 'warn' | 'error';

const MESSAGES: Record<StepUpEventType, string> = {
  'challenge.started': 'step-up challenge started',
  'delivery.sent': 'step-up code sent',
  'delivery.failed': 'step-up code not delivered',
  'delivery.fallback': 'step-up code falling back to the next channel',
  'delivery.status': 'step-up delivery status',
  'verify.succeeded': 'step-up code verified',
  'verify.failed': 'step-up code refused',
  'challenge.locked': 'step-up challenge locked after too many wrong codes',
  'rate.limited': 'step-up rate limit hit',
  'token.accepted': 'step-up token accepted',
  'token.rejected': 'step-up token refused',
};

/**
 * Successes are `info`; failures, locks, fallbacks and limits `warn`; a misconfigured
 * channel (it fails every user until someone fixes it) `error`. A guard's request without
 * a token is the normal first step of every step-up, so it is `info`.
 */
export function levelOf(event: StepUpEvent): LogLevel {
  switch (event.type) {
    case 'challenge.started':
    case 'delivery.sent':
    case 'verify.succeeded':
    case 'token.accepted':
      return 'info';
    case 'delivery.status':
      return event.status === 'failed' ? 'warn' : 'info';
    case 'token.rejected':
      return event.reason === 'missing' ? 'info' : 'warn';
    case 'delivery.failed':
      return event.reason === 'channel_misconfigured' ? 'error' : 'warn';
    default:
      return 'warn';
  }
}

export const messageOf = (event: StepUpEvent): string => MESSAGES[event.type];

/** Checked once at construction: a logger that cannot log must not pass silently. */
export function resolveLogger(value: unknown): StepUpLogger | undefined {
  if (value === undefined) return undefined;
  const candidate = value as Partial<Record<LogLevel, unknown>> | null;
  const missing = (['info', 'warn', 'error'] as const).filter((level) => typeof candidate?.[level] !== 'function');
  if (!candidate || (typeof candidate !== 'object' && typeof candidate !== 'function') || missing.length > 0) {
    throw new TypeError(
      `\`logger\` must have info, warn and error methods called as logger.warn(object, message), such as a pino logger (missing: ${missing.join(', ') || 'an object'}). Omit it to log nothing but misconfigurations, on the console.`,
    );
  }
  return value as StepUpLogger;
}

/** Writes one event to the app's logger; a logger that throws never decides an authentication. */
export function logEvent(logger: StepUpLogger, event: StepUpEvent): void {
  try {
    logger[levelOf(event)](event, messageOf(event));
  } catch {
    // The logger is the app's; its failure must not decide an authentication.
  }
}

/**
 * The operator's channel for problems that are not events (a misconfigured channel):
 * the app's logger when one is given, else the console as before.
 */
export function operatorLogger(logger: StepUpLogger | undefined): Pick<StepUpLogger, 'error'> {
  if (!logger) return { error: (_object, message) => console.error(`[whatsapp-stepup] ${message ?? ''}`) };
  return {
    error: (object, message) => {
      try {
        logger.error(object, `[whatsapp-stepup] ${message ?? ''}`);
      } catch {
        // As for events: the app's logger never decides an authentication.
      }
    },
  };
}
