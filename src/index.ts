// What an application uses (DESIGN §3): the service, its errors, the stores and channels to
// give it, and the types of its inputs and answers. Store authors: `whatsapp-stepup/store`.
export { createStepUp, type StepUp } from './core/stepup.js';
export { StepUpError, StepUpRejectedError, StepUpUnavailableError, isStepUpError, type StepUpErrorCode } from './core/errors.js';
export type { StepUpEvent } from './core/events.js';
export type { LimitsOptions } from './core/options/limits.js';
export { canonicalTransaction, currencyMinorUnits, hashTransaction, normalizeTransaction } from './core/transaction.js';
export type {
  ChallengeView,
  CheckTokenInput,
  Duration,
  ResendInput,
  StartInput,
  StepUpClaims,
  StepUpOptions,
  Transaction,
  VerifyInput,
  VerifyResult,
} from './core/types.js';
export { MemoryStore } from './stores/memory.js';
export { RedisStore } from './stores/redis/store.js';
export type { ChallengeStore } from './stores/store.js';
export { ChannelError, type Channel } from './channels/channel.js';
export { whatsappCloudChannel, type WhatsAppCloudChannelOptions } from './channels/whatsapp-cloud.js';
export { authenticationTemplateDefinition } from './channels/whatsapp-template.js';
export { parseWhatsAppStatusWebhook, verifyMetaSignature } from './channels/whatsapp-webhook.js';
export { twilioChannel } from './channels/twilio.js';
export { parseTwilioStatusCallback, verifyTwilioSignature } from './channels/twilio-signature.js';
export { messageCentralChannel } from './channels/message-central.js';
export type { DeliveryStatusReport } from './core/fallback.js';
export { OutboxChannel, type OutboxMessage } from './channels/outbox.js';
