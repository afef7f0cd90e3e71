import type { LimitsOptions } from '../../src/index.js';

const OFF = { phone: false, phoneDaily: false, subject: false, ip: false, session: false, prefix: false, country: false, failures: false } as const;

/** Every send and failure limit off, of both budgets: for suites that start many challenges for one user. */
export const NO_LIMITS: LimitsOptions = { ...OFF, purpose: false, conversion: false, anonymous: OFF };
