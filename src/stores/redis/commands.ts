import {
  ADMIT_SCRIPT, APPLY_STATUS_SCRIPT, BEGIN_HOSTED_SCRIPT, CLAIM_DUE_SCRIPT, COUNT_HIT_SCRIPT, CREATE_SCRIPT, DISCARD_CODE_SCRIPT, FINISH_HOSTED_SCRIPT, KEEP_FAILURES_SCRIPT,
  READ_FAILURES_SCRIPT, READ_HIT_SCRIPT, RECORD_DELIVERY_SCRIPT, RECORD_SENT_SCRIPT, RESEND_SCRIPT, SCHEDULE_DUE_SCRIPT, VERIFY_SCRIPT,
} from './scripts/index.js';

type Command = { lua: string; keys: number | 'given'; alone?: true };

/**
 * The store's scripts as ioredis commands. `keys`: how many of the arguments are keys
 * ('given': the caller says, as a start counts as many counters as its limits name).
 * `alone`: the only command of its step (the verify steps, a start's admission, a delivery
 * record), with nothing to auto-pipeline it with. `stepupAdmit` and `stepupRecordSent` take
 * keys of many slots: for a standalone Redis only.
 */
export const COMMANDS = {
  stepupVerify: { lua: VERIFY_SCRIPT, keys: 2, alone: true },
  stepupBeginHosted: { lua: BEGIN_HOSTED_SCRIPT, keys: 2, alone: true },
  stepupFinishHosted: { lua: FINISH_HOSTED_SCRIPT, keys: 2, alone: true },
  stepupAdmit: { lua: ADMIT_SCRIPT, keys: 'given', alone: true },
  stepupRecordSent: { lua: RECORD_SENT_SCRIPT, keys: 2, alone: true },
  stepupCreate: { lua: CREATE_SCRIPT, keys: 1 },
  stepupKeepFailures: { lua: KEEP_FAILURES_SCRIPT, keys: 1 },
  stepupReadFailures: { lua: READ_FAILURES_SCRIPT, keys: 1 },
  stepupResend: { lua: RESEND_SCRIPT, keys: 1 },
  stepupRecordDelivery: { lua: RECORD_DELIVERY_SCRIPT, keys: 1 },
  stepupDiscardCode: { lua: DISCARD_CODE_SCRIPT, keys: 1 },
  stepupCountHit: { lua: COUNT_HIT_SCRIPT, keys: 1 },
  stepupReadHit: { lua: READ_HIT_SCRIPT, keys: 1 },
  stepupApplyStatus: { lua: APPLY_STATUS_SCRIPT, keys: 1 },
  stepupClaimDue: { lua: CLAIM_DUE_SCRIPT, keys: 1 },
  stepupScheduleDue: { lua: SCHEDULE_DUE_SCRIPT, keys: 1 },
} as const satisfies Record<string, Command>;

export type CommandName = keyof typeof COMMANDS;
