export { createStepUp, type StepUp } from './core/stepup.js';
export type { TokenCheck } from './core/check-token.js';
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
export type { StepUpLogger } from './core/logger.js';
export type { MetricsOptions, PromClient, PromCounter, PromHistogram, PromRegistry } from './core/metrics.js';
export type { LimitName, ResolvedPurpose } from './core/config.js';
export type { AnonymousLimitsOptions, LimitRule, LimitsOptions } from './core/options/limits.js';
export { canonicalTransaction, currencyMinorUnits, hashTransaction, normalizeTransaction } from './core/transaction.js';
export type {
  AsymmetricAlgorithm,
  BeforeSendContext,
  ChallengeView,
  ChannelView,
  CheckTokenInput,
  CodeOptions,
  Duration,
  JsonValue,
  NumberTypeName,
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
  TokenFacts,
  TokenOptions,
  TokenPolicy,
  Transaction,
  VerificationKey,
  VerifyInput,
  VerifyResult,
} from './core/types.js';
export { MemoryStore, type MemoryStoreOptions } from './stores/memory.js';
export { RedisStore, type RedisStoreOptions } from './stores/redis.js';
export { admitInSteps } from './stores/store.js';
export type {
  Admission,
  AdmissionOutcome,
  ChallengeOwner,
  ChallengeRecord,
  ChallengeStore,
  ClosedChallenge,
  FailedChallenge,
  FailureLimit,
  HostedCheckOutcome,
  LimitedHit,
  LockedOut,
  ResendOutcome,
  VerifiedChallenge,
  VerifiedOutcome,
  VerifyOutcome,
  VerifyReceipt,
} from './stores/store.js';
export {
  ChannelError,
  isHostedChannel,
  type Channel,
  type ChannelErrorDetails,
  type HostedChannel,
  type HostedVerdict,
  type OutgoingMessage,
  type SendReceipt,
  type Transport,
} from './channels/channel.js';
export { whatsappCloudChannel, type WhatsAppCloudChannelOptions, type WhatsAppCloudTemplate } from './channels/whatsapp-cloud.js';
export { authenticationTemplateDefinition, type AuthenticationTemplateDefinition, type AuthenticationTemplateInput } from './channels/whatsapp-template.js';
export { parseWhatsAppStatusWebhook, verifyMetaSignature, type WhatsAppStatusUpdate } from './channels/whatsapp-webhook.js';
export { twilioChannel, type TwilioChannelOptions } from './channels/twilio.js';
export { parseTwilioStatusCallback, verifyTwilioSignature, type TwilioStatusUpdate } from './channels/twilio-signature.js';
export { messageCentralChannel, type MessageCentralChannelOptions, type MessageCentralFlowType } from './channels/message-central.js';
export type { DeliveryStatusReport, DeliveryStatusResult } from './core/fallback.js';
export { OutboxChannel, type OutboxChannelOptions, type OutboxMessage } from './channels/outbox.js';
