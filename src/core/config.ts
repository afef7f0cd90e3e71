// The parsed configuration (types only): options are parsed once, by options/, into a
// frozen StepUpConfig; nothing downstream re-validates.
import type { KeyObject } from 'node:crypto';
import type { PepperKeys } from './codes.js';
import type { EventSink } from './event-sink.js';
import type { StepUpLogger } from './logger.js';
import type { PhoneRules } from './phone.js';
import type { Channel, HostedChannel } from '../channels/channel.js';
import type { ChallengeStore } from '../stores/store.js';
import type { StepUpOptions, TokenAlgorithm } from './types.js';
import type { LimitsConfig } from './options/limits.js';

// The budgets and limits as parsed; their types live with their parser.
export type { Budget, LimitName, LimitsConfig, ResolvedLimit } from './options/limits.js';

export interface ResolvedPurpose {
  name: string;
  tokenTtlSec: number;
  maxAttempts: number;
  requireTransaction: boolean;
  oneTime: boolean;
  /** Anyone may start it by naming an account: its challenges spend the anonymous budgets. */
  anonymous: boolean;
}

/** Options parsed once into a frozen config; nothing downstream re-validates. */
export interface StepUpConfig {
  store: ChallengeStore;
  channels: readonly Channel[];
  /** The channels whose provider makes and checks the code; verify asks them, when any. */
  hostedChannels: readonly HostedChannel[];
  tokens: TokenConfig;
  /** The first is current; the rest still verify challenges made before a rotation. */
  peppers: readonly PepperKeys[];
  codeLength: number;
  codeTtlMs: number;
  /** Waits after the 1st, 2nd, ... send of a challenge; the last repeats. */
  sendCooldownsMs: readonly number[];
  sendsPerChallenge: number;
  sendTimeoutMs: number;
  keepEarlierCodes: boolean;
  fallbackAfterMs: number | undefined;
  rememberNotOnWhatsAppMs: number;
  /** E.164 → fixed code. */
  testNumbers: ReadonlyMap<string, string>;
  purposes: ReadonlyMap<string, ResolvedPurpose>;
  phone: PhoneRules;
  brand: string;
  webOtpDomain: string | undefined;
  limits: LimitsConfig;
  beforeSend: StepUpOptions['beforeSend'];
  emit: EventSink;
  /** Problems that are not events (a misconfigured channel): the app's logger, else the console. */
  log: Pick<StepUpLogger, 'error'>;
  clock: () => number;
}

/** One key and the one algorithm it serves. */
export interface TokenKey {
  algorithm: TokenAlgorithm;
  key: KeyObject;
}

export interface TokenConfig {
  issuer: string;
  audience: string;
  type: string;
  clockToleranceSec: number;
  keyId: string;
  signing: TokenKey;
  /** Keys by `kid`; the only place a token's `kid` is looked up. */
  verification: ReadonlyMap<string, TokenKey>;
  algorithms: TokenAlgorithm[];
}
