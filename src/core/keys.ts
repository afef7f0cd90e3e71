import { createHmac } from 'node:crypto';
import type { PepperKeys } from './codes.js';
import type { Budget, LimitName, StepUpConfig } from './config.js';
import type { FailureLimit } from '../stores/store.js';

// Every name the core gives a store key: keyed hashes, so that no number, user id or address
// is readable in the store (R-J12). A challenge's slot tag is the first characters of its
// subject's hash (slotTagOf, in the store contract).

/**
 * Store keys of the counters: keyed hashes, so that no number, user id or address is
 * readable in the store (R-J12), each its own key (one Cluster slot each).
 */
export function counterKey(config: StepUpConfig, name: LimitName | 'sentTo' | 'verifiedIn', value: string, budget: Budget): string {
  return `${BUDGET_PREFIX[budget]}${name}:${keyedName(config.peppers[0]!, `limit:${name}:${value}`)}`;
}

/** Counters of the anonymous budget are other keys than the user's: nothing anonymous fills a user's. */
export const BUDGET_PREFIX: Record<Budget, string> = { user: '', anonymous: 'anon.' };

/**
 * 128 bits of an HMAC under the pepper's binding key, base64url: a key name that tells
 * nothing of what it counts and cannot collide, 32 B smaller in Redis than the whole HMAC.
 */
function keyedName(keys: PepperKeys, input: string): string {
  return createHmac('sha256', keys.binding).update(input).digest().toString('base64url', 0, 16);
}

/** A keyed hash of a number (E.164): the name of its send counters and of what is known of it. */
export function numberName(config: StepUpConfig, phone: string): string {
  return keyedName(config.peppers[0]!, `phone:${phone}`);
}

/**
 * A keyed hash of the subject under one pepper. Its first characters are the slot tag of the
 * subject's challenges (their ids start with it); the whole names its failure counter and
 * its send counter.
 */
export function subjectHash(keys: PepperKeys, subject: string): string {
  return keyedName(keys, `subject:${subject}`);
}

/**
 * The subject's limit of wrong codes across its challenges (R-D2), for the store. Without
 * the limit, max 0: the store counts nothing but still keeps the record beside the challenges.
 */
export function failureLimit(config: StepUpConfig, hash: string, now: number, budget: Budget): FailureLimit {
  const limit = config.limits[budget].failures;
  return { key: `${BUDGET_PREFIX[budget]}failures:${hash}`, max: limit?.max ?? 0, windowMs: limit?.windowMs ?? 0, now };
}

/** Facts kept in the store, under keys that hold no number in clear (R-J12). */
export const factKeys = {
  message: (messageId: string) => `msg:${messageId}`,
  /** Under the number's {@link numberName}; `number` when the caller has it already. */
  notOnWhatsApp: (config: StepUpConfig, phone: string, number = numberName(config, phone)) => `nowa:${number}`,
};

/** The store key of what is known of the number, when it matters: with a WhatsApp channel. */
export function numberFactKey(config: StepUpConfig, phone: string, number?: string): string | undefined {
  return config.channels.some((channel) => channel.transport === 'whatsapp') ? factKeys.notOnWhatsApp(config, phone, number) : undefined;
}
