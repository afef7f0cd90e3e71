import type { Transport } from '../../channels/channel.js';
import type {
  ChallengeOwner, ChallengeRecord, ClosedChallenge, CounterState, DeliveryRecord, FailureLimit, HostedSend, LockedOut, VerifiedChallenge, VerifiedOutcome, VerifyOutcome, VerifyReceipt,
} from '../store.js';
import { OMITTED_DEFAULTS } from './scripts/index.js';

/**
 * How the RedisStore writes a challenge and reads the scripts' replies. A challenge is one
 * hash with short field names, its lists space-separated (hosted sends as `channel=id`), a
 * missing value as '' and flags as '0'/'1'; the Lua scripts read it in that form. Nothing
 * outside this store sees the encoding: the core gets the records the contract types.
 */

/** A reply the scripts do not give: the store fails closed. */
export class UnexpectedReply extends Error {
  constructor(what: string) {
    super(`Redis answered ${what} in an unexpected form`);
    this.name = 'UnexpectedReply';
  }
}

/** Short hash field names (the id is in the key's name). */
const FIELDS = {
  subject: 'sub', purpose: 'pur', binding: 'bnd', txn: 'txn', channel: 'chn', transport: 'trp', digests: 'dig', hosted: 'hid',
  attempts: 'att', maxAttempts: 'max', sends: 'snd', maxSends: 'msnd', createdAt: 'cre', expiresAt: 'exp', nextSendAt: 'nxt',
  messageId: 'mid', sentAt: 'sat', deliveryStatus: 'dst', sealedPhone: 'phn', sealedPayment: 'pay', to: 'to', locale: 'loc',
  otherFactors: 'ofa', testNumber: 'tst', locked: 'lck',
} as const satisfies Record<Exclude<keyof ChallengeRecord, 'id'>, string>;

type Property = Exclude<keyof ChallengeRecord, 'id'>;

const FIELD_ENTRIES = Object.entries(FIELDS) as [Property, string][];
const NUMBER_FIELDS = new Set<Property>(['attempts', 'maxAttempts', 'sends', 'maxSends', 'createdAt', 'expiresAt', 'nextSendAt', 'sentAt']);
const OPTIONAL_FIELDS = new Set<Property>(['binding', 'txn', 'messageId', 'deliveryStatus', 'sealedPayment']);

/** A list as one argument or field: its items may hold no whitespace (digests, hashes and ids never do). */
export function spaced(items: readonly string[], what: string): string {
  for (const item of items) if (item === '' || /\s/.test(item)) throw new TypeError(`${what} must be non-empty strings without whitespace (the RedisStore keeps them space-separated).`);
  return items.join(' ');
}

/**
 * Candidates the scripts compare with what the challenge holds (binding hashes, digests): as
 * one space-separated argument. One that is empty or holds whitespace cannot equal a stored
 * value (none does), so it is left out rather than split into others.
 */
export function candidates(items: readonly string[]): string {
  return items.filter((item) => item !== '' && !/\s/.test(item)).join(' ');
}

const words = (text: string): string[] => (text === '' ? [] : text.split(' '));

/** `channel=id`: a channel name holds no '=' (its first one splits). */
function hostedEntry({ channel, id }: HostedSend): string {
  if (channel.includes('=')) throw new TypeError("A hosted channel's name may not hold '=' in the RedisStore.");
  return `${channel}=${id}`;
}

function hostedSend(entry: string): HostedSend {
  const at = entry.indexOf('=');
  return { channel: entry.slice(0, at), id: entry.slice(at + 1) };
}

function encoded(property: Property, record: ChallengeRecord): string {
  switch (property) {
    case 'digests':
      return spaced(record.digests, 'Digests');
    case 'hosted':
      return spaced(record.hosted.map(hostedEntry), 'Hosted sends');
    case 'otherFactors':
      return record.otherFactors.join(',');
    case 'testNumber':
    case 'locked':
      return record[property] ? '1' : '0';
    default:
      return String(record[property] ?? '');
  }
}

/** A record as the hash's field/value pairs, without the fields that hold their default. */
export function challengeFields(record: ChallengeRecord): string[] {
  const fields: string[] = [];
  for (const [property, field] of FIELD_ENTRIES) {
    const text = encoded(property, record);
    if (OMITTED_DEFAULTS[field] !== text) fields.push(field, text);
  }
  return fields;
}

/** A record from HGETALL's flat reply (fields left out hold their default). */
export function parseRecord(id: string, flat: string[]): ChallengeRecord {
  const byField = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) byField.set(flat[i]!, flat[i + 1]!);
  const record: Record<string, unknown> = { id };
  for (const [property, field] of FIELD_ENTRIES) {
    const value = byField.get(field) ?? OMITTED_DEFAULTS[field] ?? '';
    if (OPTIONAL_FIELDS.has(property)) {
      if (value !== '') record[property] = value;
    } else if (NUMBER_FIELDS.has(property)) {
      record[property] = Number(value);
    } else if (property === 'testNumber' || property === 'locked') {
      record[property] = value === '1';
    } else if (property === 'digests') {
      record[property] = words(value);
    } else if (property === 'hosted') {
      record[property] = words(value).map(hostedSend);
    } else if (property === 'otherFactors') {
      record[property] = value === '' ? [] : value.split(',');
    } else {
      record[property] = value;
    }
  }
  return record as unknown as ChallengeRecord;
}

/** The verified reply of the scripts, in its order: the receipt, then the challenge. */
function parseVerified(id: string, [jti, at, subject, purpose, txn, channel, transport, to, otherFactors, testNumber]: string[], repeated: boolean): VerifiedOutcome {
  const verifiedAt = Number(at);
  if (jti === undefined || !Number.isFinite(verifiedAt) || subject === undefined || testNumber === undefined) throw new UnexpectedReply('a verify');
  const record: VerifiedChallenge = {
    id, subject, purpose: purpose!, ...(txn ? { txn } : {}), channel: channel!, transport: transport as Transport, to: to!,
    otherFactors: otherFactors ? otherFactors.split(',') : [], testNumber: testNumber === '1',
  };
  return { status: 'ok', record, receipt: { jti, verifiedAt }, repeated };
}

const testMark = (flag: string | undefined) => (flag === '1' ? { testNumber: true } : {});
const failedChallenge = (purpose: string | undefined, channel: string | undefined) => (purpose === undefined || channel === undefined ? {} : { purpose, channel });

export function verifyOutcome(id: string, [status, ...rest]: string[]): VerifyOutcome {
  switch (status) {
    case 'ok':
    case 'again':
      return parseVerified(id, rest, status === 'again');
    case 'invalid':
      return { status, attemptsLeft: Number(rest[0]), ...testMark(rest[1]), ...failedChallenge(rest[2], rest[3]) };
    case 'locked_now':
      return { status, ...testMark(rest[0]), ...failedChallenge(rest[1], rest[2]) };
    default:
      return refused(status, rest);
  }
}

export function closed(status: string | undefined): ClosedChallenge {
  if (status === 'not_found' || status === 'expired' || status === 'locked') return { status };
  throw new UnexpectedReply('a challenge step');
}

/** A closed challenge, or a subject past its failure limit (with the ms until it may try again). */
function refused(status: string | undefined, [left]: string[]): ClosedChallenge | LockedOut {
  if (status !== 'locked_out') return closed(status);
  const retryAfterMs = Number(left);
  if (!Number.isFinite(retryAfterMs)) throw new UnexpectedReply('a failure limit');
  return { status, retryAfterMs };
}

export function counterState(reply: string[]): CounterState {
  const [count, left] = reply.map(Number);
  if (!Number.isFinite(count) || !Number.isFinite(left)) throw new UnexpectedReply('a counter');
  return { count: count!, resetInMs: Math.max(0, left!) };
}

/** The owner as the scripts take it: now, subject ('' for the library itself), binding hashes. */
export function ownerArguments(owner: ChallengeOwner): (string | number)[] {
  return [owner.now, owner.subject, candidates(owner.bindingHashes)];
}

/** The subject's failure limit as the scripts take it: max (0 for none) and window in ms. */
export function failureArguments(failures: FailureLimit | undefined): number[] {
  return failures && failures.max > 0 ? [failures.max, Math.max(1, Math.ceil(failures.windowMs))] : [0, 0];
}

/** The receipt as the scripts take it: token id and ms; without one (a store used directly), no token id and the caller's clock. */
export function receiptArguments(receipt: VerifyReceipt | undefined, now: number): (string | number)[] {
  return [receipt?.jti ?? '', receipt?.verifiedAt ?? now];
}

/** A delivery as RECORD_DELIVERY takes it: channel, transport, message id, sent at, hosted send, digest to drop, keep. */
export function deliveryArguments(delivery: DeliveryRecord): (string | number)[] {
  const hosted = delivery.hostedId === undefined ? '' : spaced([hostedEntry({ channel: delivery.channel, id: delivery.hostedId })], 'A hosted send');
  return [delivery.channel, delivery.transport, delivery.messageId ?? '', delivery.sentAt, hosted, delivery.dropDigest ?? '', delivery.keepEarlier ? '1' : '0'];
}
