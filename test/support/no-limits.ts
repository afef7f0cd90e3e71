import type { LimitsOptions } from '../../src/index.js';

/** Every send and failure limit off: for suites that start many challenges for one user. */
export const NO_LIMITS: LimitsOptions = {
  phone: false, phoneDaily: false, subject: false, ip: false, session: false, prefix: false, country: false, purpose: false, failures: false,
  conversion: false,
};
