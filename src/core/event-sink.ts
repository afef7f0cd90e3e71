import type { StepUpEvent } from './events.js';
import { logEvent, type StepUpLogger } from './logger.js';
import type { MetricsSink } from './metrics.js';

export type EventSink = (event: Omit<StepUpEvent, 'at'>) => void;

/** Where every event goes: the app's hook, its logger, its metrics. */
export interface EventOutlets {
  onEvent?: ((event: StepUpEvent) => void) | undefined;
  logger?: StepUpLogger | undefined;
  metrics?: MetricsSink | undefined;
}

/**
 * One event stream feeds the audit hook, the logger and the metrics, so that they never
 * disagree. Each outlet is guarded: an audit failure never breaks authentication.
 */
export function createEventSink({ onEvent, logger, metrics }: EventOutlets, clock: () => number): EventSink {
  if (!onEvent && !logger && !metrics) return () => {};
  return (event) => {
    const complete: StepUpEvent = { ...event, at: new Date(clock()).toISOString() };
    for (const key of Object.keys(complete) as (keyof StepUpEvent)[]) {
      if (complete[key] === undefined) delete complete[key];
    }
    if (onEvent) {
      try {
        onEvent({ ...complete });
      } catch {
        // The audit hook is the app's; its failure must not decide an authentication.
      }
    }
    if (logger) logEvent(logger, { ...complete });
    if (metrics) metrics(complete);
  };
}
