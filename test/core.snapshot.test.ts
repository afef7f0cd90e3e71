// Codes, ids and the IVs that seal numbers come from a pool of CSPRNG bytes. A Node startup
// snapshot (node --build-snapshot) carries a process's heap into every process started from
// it: a pool filled before the snapshot must not hand the same bytes to each of them (R-C1
// codes nobody can predict, R-C6 a fresh IV per seal).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'tsup';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'stepup-snapshot-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ENTRY = `
import { startupSnapshot } from 'node:v8';
import { derivePepperKeys, generateCode, sealText } from ${JSON.stringify(resolve('src/core/codes.ts'))};
import { randomId } from ${JSON.stringify(resolve('src/lib/random.ts'))};

// Drawn while the snapshot is built: the pool is full of bytes from here on.
const drawnBefore = [randomId(), generateCode(6), generateCode(10)];
const keys = derivePepperKeys('p1', Buffer.alloc(32, 1));
startupSnapshot.setDeserializeMainFunction(() => {
  process.stdout.write(JSON.stringify({
    drawnBefore,
    id: randomId(),
    code: generateCode(10),
    iv: sealText(keys, 'challenge', '+34612345678').split('.')[1],
  }));
});
`;

describe('a startup snapshot taken after codes and ids were drawn', () => {
  it('R-C1 R-C6 two processes started from it draw different codes, ids and IVs (the pool is emptied before the snapshot is written)', { timeout: 60_000 }, async () => {
    writeFileSync(join(dir, 'entry.ts'), ENTRY);
    await build({
      entry: { entry: join(dir, 'entry.ts') }, format: ['cjs'], platform: 'node', target: 'node20', outDir: dir,
      dts: false, sourcemap: false, splitting: false, silent: true, config: false,
    });
    const blob = join(dir, 'snapshot.blob');
    await run(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', join(dir, 'entry.cjs')]);
    const started = await Promise.all([1, 2].map(async () => JSON.parse((await run(process.execPath, ['--snapshot-blob', blob])).stdout) as Record<string, unknown>));
    const [first, second] = started as [Record<string, unknown>, Record<string, unknown>];
    // The snapshot itself is shared: what was drawn before it is the same in both.
    expect(first.drawnBefore).toEqual(second.drawnBefore);
    expect(first.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(first.code).toMatch(/^\d{10}$/);
    expect(first.id).not.toBe(second.id);
    expect(first.code).not.toBe(second.code);
    expect(first.iv).not.toBe(second.iv);
  });
});
