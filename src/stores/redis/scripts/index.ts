/**
 * Lua for the RedisStore: one script per state change. Each touches exactly the keys in KEYS
 * (one key, or a challenge and its subject's failure counter, which share a hash tag: one
 * Cluster slot; the standalone ADMIT and RECORD_SENT scripts excepted), opens by naming its
 * keys and arguments as locals, does every check before its first write (Redis does not roll
 * back a script's earlier writes on error), and is O(1) in the number of challenges.
 */
export { OMITTED_DEFAULTS } from './challenge.js';
export { BEGIN_HOSTED_SCRIPT, FINISH_HOSTED_SCRIPT, VERIFY_SCRIPT } from './verify.js';
export { ADMIT_SCRIPT, COUNT_HIT_SCRIPT, CREATE_SCRIPT, KEEP_FAILURES_SCRIPT, READ_FAILURES_SCRIPT, READ_HIT_SCRIPT } from './start.js';
export { APPLY_STATUS_SCRIPT, CLAIM_DUE_SCRIPT, DISCARD_CODE_SCRIPT, RECORD_DELIVERY_SCRIPT, RECORD_SENT_SCRIPT, RESEND_SCRIPT, SCHEDULE_DUE_SCRIPT } from './delivery.js';
