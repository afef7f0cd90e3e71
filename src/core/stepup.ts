import { isChallengeId } from './codes.js';
import { checkToken, tokenCheck, type TokenCheck } from './check-token.js';
import { handleDeliveryStatus, runDueFallbacks, startFallbackWorker, type DeliveryStatusReport, type DeliveryStatusResult } from './fallback.js';
import type { ResolvedPurpose } from './config.js';
import { resolveOptions } from './options/index.js';
import { resend } from './resend.js';
import { start } from './start.js';
import { verify } from './verify.js';
import type { ChallengeView, CheckTokenInput, ResendInput, StartInput, StepUpClaims, StepUpOptions, TokenPolicy, VerifyInput, VerifyResult } from './types.js';

/** What `createStepUp` returns: the four operations of DESIGN §3. */
export interface StepUp {
  /** Sends a code to the number on file and returns what the client may see of the challenge. */
  start(input: StartInput): Promise<ChallengeView>;
  /** Sends a new code for a challenge (the earlier one stops working), after the cooldown. */
  resend(challengeId: string, input: ResendInput): Promise<ChallengeView>;
  /**
   * Checks a code; on success consumes the challenge and issues a step-up token. The same right
   * code again, from the same subject and binding while the challenge lives, gets that token
   * again (same `jti`): an answer lost to a timeout can be retried. Anything else on a consumed
   * challenge is `challenge_not_found`.
   */
  verify(challengeId: string, code: unknown, input: VerifyInput): Promise<VerifyResult>;
  /** The guard's check of a step-up token; resolves to its claims or rejects with `step_up_required`. */
  checkToken(token: unknown, input: CheckTokenInput): Promise<StepUpClaims>;
  /**
   * `checkToken` for one policy, validated now: the check a guard runs on every request,
   * given the token and the request's facts (`subject`, `transaction`, `binding`, `ip`).
   */
  tokenCheck(policy: TokenPolicy): TokenCheck;
  /** The policy of a configured purpose, for adapters that validate their own options. */
  purpose(name: string): Readonly<ResolvedPurpose> | undefined;
  /**
   * Ends a challenge now, whatever its state: its codes stop working. For example every
   * outstanding password-reset challenge of an account once its password was reset.
   * Resolves also when the challenge no longer exists.
   */
  cancel(challengeId: string): Promise<void>;
  /** Applies a provider's delivery status (from a webhook); a first `failed` sends by the next channel. */
  handleDeliveryStatus(report: DeliveryStatusReport): Promise<DeliveryStatusResult>;
  /** Falls back for sends whose `sends.fallbackAfter` passed without `delivered`; a timer calls it when that option is set. */
  runDueFallbacks(): Promise<number>;
  /** Stops the fallback timer. */
  close(): void;
}

const FALLBACK_POLL_MS = 1000;

/**
 * Validates every option now (bad options throw a TypeError that says how to fix them)
 * and returns the step-up service.
 *
 * @example
 * import { createStepUp, OutboxChannel, RedisStore } from 'whatsapp-stepup';
 *
 * const store = new RedisStore({ url: process.env.REDIS_URL! });
 * const stepup = createStepUp({
 *   store,
 *   // Development: codes show in the outbox. In production, whatsappCloudChannel({ ... }) and an SMS fallback.
 *   channels: [new OutboxChannel()],
 *   tokens: { issuer: 'https://app.example.com', audience: 'https://app.example.com', secret: process.env.STEPUP_SECRET! },
 *   pepper: process.env.STEPUP_PEPPER!,
 * });
 * await store.ready(); // before serving: until then every operation answers store_unavailable
 */
export function createStepUp(options: StepUpOptions): StepUp {
  const config = resolveOptions(options);
  const stopWorker = config.fallbackAfterMs === undefined ? () => {} : startFallbackWorker(config, FALLBACK_POLL_MS);
  return Object.freeze({
    start: (input: StartInput) => start(config, input),
    resend: (challengeId: string, input: ResendInput) => resend(config, challengeId, input),
    verify: (challengeId: string, code: unknown, input: VerifyInput) => verify(config, challengeId, code, input),
    checkToken: (token: unknown, input: CheckTokenInput) => checkToken(config, token, input),
    tokenCheck: (policy: TokenPolicy) => tokenCheck(config, policy),
    purpose: (name: string) => config.purposes.get(name),
    cancel: async (challengeId: string) => {
      if (isChallengeId(challengeId)) await config.store.delete(challengeId);
    },
    handleDeliveryStatus: (report: DeliveryStatusReport) => handleDeliveryStatus(config, report),
    runDueFallbacks: () => runDueFallbacks(config),
    close: stopWorker,
  });
}
