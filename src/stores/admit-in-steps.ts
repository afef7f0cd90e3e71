import { slotTagOf, type Admission, type AdmissionOutcome, type ChallengeRecord, type ChallengeStore, type CounterState } from './store.js';

const NO_COUNT: CounterState = { count: 0, resetInMs: 0 };

/** Whether counted hits and the subject's failures let a challenge be stored. */
function admits(admission: Admission, hits: readonly CounterState[], failed: CounterState): boolean {
  const { max } = admission.failures;
  return (max === 0 || failed.count < max) && admission.hits.every((hit, index) => !hit.max || hits[index]!.count <= hit.max);
}

/**
 * {@link ChallengeStore.admit} from the store's other methods: the counters, the failure
 * count and the facts together, then the challenge. For a store that cannot do it in one step.
 */
export async function admitInSteps(store: ChallengeStore, record: ChallengeRecord, ttlMs: number, admission: Admission): Promise<AdmissionOutcome> {
  const { failures } = admission;
  const [failed, hits, reads, facts] = await Promise.all([
    failures.max === 0 ? NO_COUNT : store.readFailures(slotTagOf(record.id), failures),
    admission.hits.length === 0 ? [] : store.countHits(admission.hits),
    admission.reads.length === 0 ? [] : store.readHits(admission.reads),
    Promise.all(admission.facts.map((key) => store.getFact(key))),
  ]);
  const created = admits(admission, hits, failed);
  if (created) await store.create(record, ttlMs, failures);
  return { created, hits, reads, facts, failures: failed };
}
