/**
 * `whatsapp-stepup/store`: for store authors. The {@link ChallengeStore} contract that
 * `createStepUp({ store })` takes, the records and outcomes its methods pass and return,
 * {@link admitInSteps} (a start's admission in steps, for a store that cannot run it in one),
 * and the option types of the two stores the package ships.
 *
 * @example
 * import { admitInSteps, type ChallengeStore } from 'whatsapp-stepup/store';
 * class DynamoStore implements ChallengeStore { ... }
 */
export { admitInSteps } from '../stores/admit-in-steps.js';
export type {
  Admission,
  AdmissionOutcome,
  ChallengeOwner,
  ChallengeRecord,
  ChallengeStore,
  ClosedChallenge,
  CounterHit,
  CounterState,
  DeliveryRecord,
  DeliveryStatus,
  FailedChallenge,
  FailureLimit,
  HostedSend,
  HostedCheckOutcome,
  LimitedHit,
  LockedOut,
  ResendInput,
  ResendOutcome,
  StatusOutcome,
  VerifiedChallenge,
  VerifiedOutcome,
  VerifyOutcome,
  VerifyReceipt,
} from '../stores/store.js';
export type { MemoryStoreOptions } from '../stores/memory.js';
export type { RedisClient, RedisNode, RedisStoreOptions } from '../stores/redis/store.js';
