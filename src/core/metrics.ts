import type { StepUpEvent } from './events.js';
import { unknownKey } from '../lib/validate.js';

/*
 * Prometheus metrics, derived from the event stream and from nothing else: what a
 * dashboard counts is exactly what the audit trail says. prom-client is not imported
 * here (it is an optional peer): the app hands over its own module, so the metrics are
 * made by the same copy of prom-client as its registry, whatever its node_modules hold.
 */

/** The part of a prom-client `Registry` the library uses. */
export interface PromRegistry {
  getSingleMetric(name: string): unknown;
  registerMetric(metric: never): void;
}

export interface PromCounter {
  inc(labels: Partial<Record<string, string | number>>, value?: number): void;
}

export interface PromHistogram {
  observe(labels: Partial<Record<string, string | number>>, value: number): void;
}

interface MetricConfiguration {
  name: string;
  help: string;
  labelNames: string[];
  registers: PromRegistry[];
}

/**
 * The part of the prom-client module the library uses: `import * as client from 'prom-client'`.
 * The constructors take `never` so that prom-client's own classes fit (their configuration
 * names prom-client's Registry class); they are called with prom-client's documented
 * `{ name, help, labelNames, registers, buckets? }`.
 */
export interface PromClient {
  Counter: new (configuration: never) => PromCounter;
  Histogram: new (configuration: never) => PromHistogram;
  register: PromRegistry;
}

type Constructor<T, C> = new (configuration: C) => T;

export interface MetricsOptions {
  /** The prom-client module: `import * as client from 'prom-client'`. */
  client: PromClient;
  /** The registry to export from. Default: prom-client's global `client.register`. */
  registry?: PromRegistry;
}

/** Seconds: a provider answers in well under one; a `read` may come minutes later. */
export const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];

/** Names, help and labels of every metric. Labels never hold a number, subject, code or id. */
export const METRICS = {
  challenges: { name: 'stepup_challenges_started_total', help: 'Step-up challenges started, by purpose and first channel used.', labelNames: ['purpose', 'channel'] },
  sends: { name: 'stepup_sends_total', help: 'Code sends by channel and outcome: sent (provider accepted), failed, fallback (the code moved to this channel).', labelNames: ['channel', 'outcome'] },
  verifications: { name: 'stepup_verifications_total', help: 'Code verifications by purpose, channel that carried the code, and outcome: success, invalid_code, locked, expired, not_found, other.', labelNames: ['purpose', 'channel', 'outcome'] },
  rateLimited: { name: 'stepup_rate_limited_total', help: 'Requests refused by a rate limit, by reason.', labelNames: ['reason'] },
  tokens: { name: 'stepup_tokens_total', help: 'Step-up tokens checked by guards, by purpose and outcome: accepted or the refusal reason.', labelNames: ['purpose', 'outcome'] },
  latency: { name: 'stepup_delivery_latency_seconds', help: "Delivery latency by channel: kind 'send' is the provider's answer to a send; 'sent', 'delivered', 'read', 'failed' the time from the send to that status report.", labelNames: ['channel', 'kind'] },
} as const;

/** A label value we made ourselves from configured names and fixed reasons; anything else is `other`. */
const LABEL = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;
const label = (value: string | undefined, absent = 'unknown'): string => (value === undefined ? absent : LABEL.test(value) ? value : 'other');

const VERIFY_OUTCOMES: Record<string, string> = {
  invalid_code: 'invalid_code',
  too_many_attempts: 'locked',
  challenge_expired: 'expired',
  challenge_not_found: 'not_found',
};

/**
 * The limits an event names (`limit: 'phone,subject'`, from the send limits), each counted;
 * else its reason (`rate_limited`: a resend within the cooldown or past the send cap).
 */
function limitsHit(event: StepUpEvent): string[] {
  const named = (event as { limit?: unknown }).limit;
  if (typeof named === 'string' && named !== '') return named.split(',');
  return [event.reason ?? 'rate_limited'];
}

export type MetricsSink = (event: StepUpEvent) => void;

/** Checks the option and makes (or finds, in a shared registry) the metrics, at construction. */
export function resolveMetrics(value: unknown): MetricsSink | undefined {
  if (value === undefined) return undefined;
  const usage = "`metrics` must be { client, registry? }: import * as client from 'prom-client' and pass { client } (the global registry) or { client, registry: new client.Registry() }.";
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new TypeError(usage);
  if (typeof (value as Partial<PromRegistry>).getSingleMetric === 'function') {
    throw new TypeError(`\`metrics\` takes { client, registry }, not the registry itself. ${usage}`);
  }
  const unknown = unknownKey(value, ['client', 'registry']);
  if (unknown) throw new TypeError(`\`metrics\` has no option \`${unknown}\`. ${usage}`);
  const { client, registry: given } = value as Partial<MetricsOptions>;
  if (!client || (typeof client !== 'object' && typeof client !== 'function') || typeof client.Counter !== 'function' || typeof client.Histogram !== 'function') {
    throw new TypeError(`\`metrics.client\` is not the prom-client module. ${usage}`);
  }
  const registry = given ?? client.register;
  if (!registry || typeof registry.getSingleMetric !== 'function' || typeof registry.registerMetric !== 'function') {
    throw new TypeError(`\`metrics.registry\` is not a prom-client Registry. ${usage}`);
  }

  /** Several services on one registry share its metrics, as several processes share a dashboard. */
  const make = <M>(spec: { name: string; help: string; labelNames: readonly string[] }, kind: 'Counter' | 'Histogram'): M => {
    const existing = registry.getSingleMetric(spec.name) as { labelNames?: unknown } | undefined;
    if (existing !== undefined) {
      const same = existing instanceof client[kind] && JSON.stringify(existing.labelNames) === JSON.stringify(spec.labelNames);
      if (!same) throw new TypeError(`\`metrics.registry\` already holds a metric '${spec.name}' that is not this library's ${kind} with labels ${spec.labelNames.join(', ')}; use another registry.`);
      return existing as M;
    }
    const configuration = { name: spec.name, help: spec.help, labelNames: [...spec.labelNames], registers: [registry] };
    if (kind === 'Histogram') return new (client.Histogram as Constructor<PromHistogram, MetricConfiguration & { buckets: number[] }>)({ ...configuration, buckets: LATENCY_BUCKETS }) as M;
    return new (client.Counter as Constructor<PromCounter, MetricConfiguration>)(configuration) as M;
  };
  const challenges = make<PromCounter>(METRICS.challenges, 'Counter');
  const sends = make<PromCounter>(METRICS.sends, 'Counter');
  const verifications = make<PromCounter>(METRICS.verifications, 'Counter');
  const rateLimited = make<PromCounter>(METRICS.rateLimited, 'Counter');
  const tokens = make<PromCounter>(METRICS.tokens, 'Counter');
  const latency = make<PromHistogram>(METRICS.latency, 'Histogram');

  const observe = (event: StepUpEvent, kind: string) => {
    if (event.latencyMs !== undefined) latency.observe({ channel: label(event.channel), kind }, event.latencyMs / 1000);
  };

  return (event) => {
    try {
      switch (event.type) {
        case 'challenge.started':
          challenges.inc({ purpose: label(event.purpose), channel: label(event.channel) });
          break;
        case 'delivery.sent':
        case 'delivery.failed':
          // A test number's "send" reached no provider: it is neither traffic nor latency.
          if (event.testNumber) break;
          sends.inc({ channel: label(event.channel), outcome: event.type === 'delivery.sent' ? 'sent' : 'failed' });
          observe(event, 'send');
          break;
        case 'delivery.fallback':
          sends.inc({ channel: label(event.channel), outcome: 'fallback' });
          break;
        case 'delivery.status':
          observe(event, label(event.status));
          break;
        case 'verify.succeeded':
          verifications.inc({ purpose: label(event.purpose), channel: label(event.channel), outcome: 'success' });
          break;
        case 'verify.failed':
          verifications.inc({ purpose: label(event.purpose), channel: label(event.channel), outcome: VERIFY_OUTCOMES[event.reason ?? ''] ?? 'other' });
          break;
        case 'rate.limited':
          for (const reason of limitsHit(event)) rateLimited.inc({ reason: label(reason) });
          break;
        case 'token.accepted':
          tokens.inc({ purpose: label(event.purpose), outcome: 'accepted' });
          break;
        case 'token.rejected':
          tokens.inc({ purpose: label(event.purpose), outcome: label(event.reason) });
          break;
        case 'challenge.locked':
          // Counted once already, as the verification whose outcome is `locked`.
          break;
      }
    } catch {
      // Metrics are the app's; their failure must not decide an authentication.
    }
  };
}
