import { derivePepperKeys, type PepperKeys } from '../codes.js';
import { GENERATE_SECRET, readSecret, type SeenSecrets } from '../secret-strength.js';
import type { Secret } from '../types.js';

/** One pepper or a list (the first current, the rest for challenges made before a rotation), each reduced to its derived keys. */
export function resolvePeppers(pepper: Secret | { id: string; secret: Secret }[] | undefined, seen: SeenSecrets): PepperKeys[] {
  const list = Array.isArray(pepper) ? pepper : pepper === undefined ? [] : [{ id: 'p1', secret: pepper }];
  if (list.length === 0) {
    throw new TypeError(
      `\`pepper\` is required: a server secret of at least 32 random bytes that keys the codes' hashes, kept out of Redis. ${GENERATE_SECRET}`,
    );
  }
  const ids = new Set<string>();
  return list.map((entry, index) => {
    const option = Array.isArray(pepper) ? `pepper[${index}]` : 'pepper';
    if (!entry || typeof entry !== 'object' || typeof entry.id !== 'string' || !/^[A-Za-z0-9_-]{1,16}$/.test(entry.id)) {
      throw new TypeError(`\`${option}.id\` must be 1 to 16 letters, digits, '-' or '_'.`);
    }
    if (ids.has(entry.id)) throw new TypeError(`\`${option}.id\` repeats '${entry.id}'; pepper ids must be unique.`);
    ids.add(entry.id);
    return derivePepperKeys(entry.id, readSecret(entry.secret, Array.isArray(pepper) ? `${option}.secret` : option, seen));
  });
}
