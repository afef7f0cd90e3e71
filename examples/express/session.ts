/** What the demo keeps per browser session, and small helpers the routes share. */
import type { NextFunction, Request, Response } from 'express';
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
}

// Typed views of express-session's and Passport's request fields, without global type augmentation.
export const state = (req: Request) => req.session as unknown as DemoSession;
export const currentUser = (req: Request) => req.user as DemoUser | undefined;

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
