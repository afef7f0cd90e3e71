export { createStepUp, type StepUp } from './core/stepup.js';
export {
  StepUpError,
  StepUpRejectedError,
  StepUpUnavailableError,
  isStepUpError,
  type StepUpErrorCode,
  type StepUpErrorDetails,
  type StepUpRejectionReason,
  type TokenErrorClass,
} from './core/errors.js';
export type { StepUpEvent, StepUpEventType } from './core/events.js';
export type { ResolvedPurpose } from './core/options.js';
export { canonicalTransaction, hashTransaction } from './core/transaction.js';
export type {
  AsymmetricAlgorithm,
  ChallengeView,
  CheckTokenInput,
  CodeOptions,
  Duration,
  JsonValue,
  PepperKey,
  PhoneOptions,
  PurposePolicy,
  ResendInput,
  Secret,
  SendOptions,
  StartInput,
  StepUpClaims,
  StepUpOptions,
  TokenAlgorithm,
  TokenOptions,
  Transaction,
  VerificationKey,
  VerifyInput,
  VerifyResult,
} from './core/types.js';
export { MemoryStore, type MemoryStoreOptions } from './stores/memory.js';
export { RedisStore, type RedisStoreOptions } from './stores/redis.js';
export type {
  ChallengeOwner,
  ChallengeRecord,
  ChallengeStore,
  ClosedChallenge,
  ResendOutcome,
  VerifyOutcome,
} from './stores/store.js';
export type { Channel, OutgoingMessage, SendReceipt, Transport } from './channels/channel.js';
export { OutboxChannel, type OutboxChannelOptions, type OutboxMessage } from './channels/outbox.js';
