import { randomFillSync } from 'node:crypto';
import { startupSnapshot } from 'node:v8';

// Codes, ids and IVs come from one pool of CSPRNG bytes: one randomFillSync per 4 kB, where
// a call into the CSPRNG per value costs more than the rest of an id's work (5 µs on a small
// VM, a pooled draw 0.1). Each byte is handed out once (the tail too short for a draw is
// skipped); a process (fork, cluster worker) or worker thread has its own pool.
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

// A startup snapshot (node --build-snapshot) would carry the pool's unused bytes into every
// process started from it, and they would all hand out the same codes, ids and IVs. The pool
// is emptied before it is written. (Node's own randomInt and randomUUID keep caches that a
// snapshot carries the same way, which is why codes are not drawn with randomInt.)
try {
  if (startupSnapshot.isBuildingSnapshot()) {
    startupSnapshot.addSerializeCallback(() => {
      pool.fill(0);
      poolOffset = pool.length;
    });
  }
} catch {
  // A runtime without the snapshot API (Bun's throws) builds no Node snapshot.
}

/** The offset of `length` fresh bytes in the pool, refilling it first when too few are left. */
function draw(length: number): number {
  if (poolOffset + length > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const offset = poolOffset;
  poolOffset += length;
  return offset;
}

/** A uniform 48-bit draw (0 .. 2^48 - 1) from the CSPRNG. */
export function randomUint48(): number {
  return pool.readUIntBE(draw(6), 6);
}

const ID_BYTES = 16;

/** 128 random bits from the CSPRNG, base64url: an opaque handle nobody can guess. */
export function randomId(): string {
  const offset = draw(ID_BYTES);
  return pool.toString('base64url', offset, offset + ID_BYTES);
}

/** `length` random bytes from the CSPRNG, a copy of their own (the pool's are never handed out twice). */
export function randomBuffer(length: number): Buffer {
  const offset = draw(length);
  return Buffer.from(pool.subarray(offset, offset + length));
}
