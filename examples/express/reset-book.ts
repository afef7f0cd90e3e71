/**
 * The demo's record of outstanding password resets, framework-free: which challenge a
 * browser's reset handle stands for, and every outstanding reset challenge per account,
 * so that a completed reset can end the others. Only accounts that exist ever get an
 * entry: for an unknown account nothing is stored, here or in the challenge store.
 */
import type { ChallengeView, StepUp } from '../../src/index.js';

export interface PendingReset {
  userId: string;
  challengeId: string;
  /** Epoch ms: the code's end; the entry is useless afterwards. */
  expiresAt: number;
}

export class ResetBook {
  readonly #byHandle = new Map<string, PendingReset>();
  /** Account id → the handles of its outstanding reset challenges. */
  readonly #byAccount = new Map<string, Set<string>>();

  /** Remembers the challenge started for `handle` (the random value kept in the requester's session). */
  add(handle: string, userId: string, challenge: ChallengeView): void {
    this.#sweep();
    this.#byHandle.set(handle, { userId, challengeId: challenge.challengeId, expiresAt: Date.parse(challenge.expiresAt) });
    const handles = this.#byAccount.get(userId) ?? new Set<string>();
    this.#byAccount.set(userId, handles.add(handle));
  }

  /** The live reset behind a handle; `undefined` for an unknown account, an expired code or no handle. */
  find(handle: unknown): PendingReset | undefined {
    const entry = typeof handle === 'string' ? this.#byHandle.get(handle) : undefined;
    return entry && entry.expiresAt > Date.now() ? entry : undefined;
  }

  /** Drops one handle (its challenge was used). */
  forget(handle: string): void {
    const entry = this.#byHandle.get(handle);
    if (!entry) return;
    this.#byHandle.delete(handle);
    const handles = this.#byAccount.get(entry.userId);
    handles?.delete(handle);
    if (handles?.size === 0) this.#byAccount.delete(entry.userId);
  }

  /** Ends every outstanding reset challenge of the account (`stepup.cancel`): their codes stop working. */
  async cancelAll(stepup: StepUp, userId: string): Promise<void> {
    const handles = [...(this.#byAccount.get(userId) ?? [])];
    const challengeIds = handles.map((handle) => this.#byHandle.get(handle)?.challengeId);
    for (const handle of handles) this.forget(handle);
    await Promise.all(challengeIds.map((challengeId) => (challengeId === undefined ? undefined : stepup.cancel(challengeId))));
  }

  /** Entries whose code has expired: nothing left to cancel. */
  #sweep(): void {
    const now = Date.now();
    for (const [handle, entry] of this.#byHandle) if (entry.expiresAt <= now) this.forget(handle);
  }
}
