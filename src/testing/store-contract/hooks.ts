import type { ChallengeRecord, ChallengeStore, DeliveryRecord, ResendInput } from '../../stores/store.js';

/**
 * The matchers the store contract uses, and nothing more: vitest's `expect`, jest's and the
 * standalone `expect` package (jest's, for node:test) all have them.
 */
export interface StoreContractMatchers {
  /** `Object.is` equality. */
  toBe(expected: unknown): void;
  /** Deep equality; a property holding `undefined` counts as absent. */
  toEqual(expected: unknown): void;
  /** Deep equality on the properties `expected` names (recursively); others are ignored. */
  toMatchObject(expected: object): void;
  toBeUndefined(): void;
  toHaveLength(expected: number): void;
  toBeGreaterThan(expected: number): void;
  toBeLessThanOrEqual(expected: number): void;
}

/** An `expect(actual)` whose matchers throw when the check fails. */
export type StoreContractExpect = (actual: unknown) => StoreContractMatchers;

/**
 * The test functions {@link describeStoreContract} registers its tests with: those of vitest,
 * of jest, or of `node:test` with the `expect` package. Only these five are used (no
 * `beforeAll`, no mocks, no timers), and every test and hook is an async function of no
 * arguments, so any runner with nested suites and per-test hooks will do.
 */
export interface StoreContractHooks {
  /** Groups tests; the body registers them synchronously. */
  describe: (name: string, body: () => void) => unknown;
  /** One test: fails when its body rejects. */
  it: (name: string, body: () => Promise<void>) => unknown;
  /** Runs before each test of the enclosing `describe` (and of its nested ones), outer hooks first. */
  beforeEach: (body: () => Promise<void>) => unknown;
  /** Runs after each test of the enclosing `describe`. */
  afterEach: (body: () => Promise<void>) => unknown;
  expect: StoreContractExpect;
}

/** What every topic of the suite takes: the runner's functions, bound to the store of the running test. */
export interface ContractKit {
  describe: (name: string, body: () => void) => void;
  /** A test of the store the suite's `beforeEach` made for it. */
  it: (name: string, body: (store: ChallengeStore) => Promise<void>) => void;
  beforeEach: (body: (store: ChallengeStore) => Promise<void>) => void;
  expect: StoreContractExpect;
  /** Creates `challengeRecord(overrides)` in the test's store (with the suite's TTL) and returns it. */
  created: (overrides?: Partial<ChallengeRecord>) => Promise<ChallengeRecord>;
  /** Reads a whole record back through a hosted check's first step (by the system owner): the store counts an attempt, the copy returned does not. */
  take: (id: string) => Promise<ChallengeRecord>;
  resendInput: (digest: string, keepEarlier: boolean) => ResendInput;
  delivery: (messageId: string, extra?: Partial<DeliveryRecord>) => DeliveryRecord;
}
