/** What the demo keeps per browser session, and small helpers the routes share. */
import type { NextFunction, Request, Response } from 'express';
import type { MemoryStore } from 'express-session';
import type { ChallengeView } from '../../src/index.js';
import type { DemoUser } from './users.js';

/** What this app keeps in express-session's session object. */
export interface DemoSession {
  /** Set by the password step: this user still owes the code and is NOT signed in yet. */
  pendingUserId?: string;
  pendingSince?: number;
  /** The pending user's login challenge, as the page may show it. */
  loginChallenge?: ChallengeView;
  /** After sign-in, from the login step-up token: when and how (`amr`). */
  signedInAt?: number;
  amr?: string[];
  /** The payment being approved in this session. */
  paymentId?: string;
  /**
   * A password reset in this session: first the random `handle` of the request (the same
   * whether or not the account exists), then, once the code was verified, the one-time
   * password-reset step-up `token`, kept here and never shown to the page.
   */
  passwordReset?: { handle: string } | { token: string };
  /**
   * A change of the phone number waiting for the code sent to the CURRENT number: `id` is
   * random (the code approves this change and no other), `phone` the new number (E.164).
   */
  phoneChange?: { id: string; phone: string; challenge: ChallengeView };
}

// Typed views of express-session's and Passport's request fields, without global type augmentation.
export const state = (req: Request) => req.session as unknown as DemoSession;
export const currentUser = (req: Request) => req.user as DemoUser | undefined;

/**
 * Ends every session of the user, signed in or half-way through the sign-in, but `keep`:
 * after a password reset (R-G4), and on request after a change of the phone number (R-H4).
 * Answers how many ended. The demo reads its memory store; an app with Redis or a database
 * keeps an index of sessions per user for this.
 */
export async function endSessionsOf(sessions: MemoryStore, userId: string, keep?: string): Promise<number> {
  const all = await new Promise<Record<string, unknown>>((resolve, reject) => sessions.all((error, found) => (error ? reject(error) : resolve(found ?? {}))));
  const owned = Object.entries(all).filter(([sid, data]) => {
    const session = data as DemoSession & { passport?: { user?: unknown } };
    return sid !== keep && (session.passport?.user === userId || session.pendingUserId === userId);
  });
  await Promise.all(owned.map(([sid]) => new Promise<void>((resolve, reject) => sessions.destroy(sid, (error) => (error ? reject(error) : resolve())))));
  return owned.length;
}

/** Pages for signed-in users only. */
export function requireUser(req: Request, res: Response, next: NextFunction): void {
  if (currentUser(req)) return next();
  res.redirect(303, '/login');
}

/** A refusal as one sentence, with the attempts left or the wait where they apply. */
export function describe(failure: { message?: string; attemptsLeft?: number; retryAfter?: number } | undefined): string {
  let text = failure?.message ?? 'The code could not be checked.';
  if (failure?.attemptsLeft !== undefined) text += ` ${failure.attemptsLeft} attempt${failure.attemptsLeft === 1 ? '' : 's'} left.`;
  if (failure?.retryAfter !== undefined) text += ` Try again in ${failure.retryAfter} s.`;
  return text;
}
