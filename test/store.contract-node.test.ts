// The store contract belongs to no runner: node's own (node --test), with jest's standalone
// `expect`, runs the suite on the MemoryStore (test/node/store-contract.node.ts), as a store
// author without vitest would, and every one of its tests passes there.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../src/index.js';
import { describeStoreContract, type StoreContractHooks } from '../src/testing/index.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const NODE_FILE = 'test/node/store-contract.node.ts';

/** The names of the tests the suite registers, read through hooks that run none of them. */
function registeredTests(): string[] {
  const names: string[] = [];
  const counting: StoreContractHooks = {
    describe: (_name, body) => body(),
    it: (name) => names.push(name),
    beforeEach: () => undefined,
    afterEach: () => undefined,
    expect: () => {
      throw new Error('no test runs while the suite is counted');
    },
  };
  describeStoreContract('MemoryStore', () => new MemoryStore(), counting);
  return names;
}

/** Node's TAP report: the `# name N` summary counts, and the names of the passing and failing entries (suites among them). */
function readTap(tap: string): { summary: Record<string, number>; passed: string[]; failed: string[] } {
  const summary: Record<string, number> = {};
  for (const [, name, count] of tap.matchAll(/^# (\w+) (\d+)$/gm)) summary[name!] = Number(count);
  const entries = (ok: string) => [...tap.matchAll(new RegExp(`^\\s*${ok} \\d+ - (.*)$`, 'gm'))].map(([, name]) => name!.replace(/\\([\\#])/g, '$1'));
  return { summary, passed: entries('ok'), failed: entries('not ok') };
}

describe('the store contract under node --test', () => {
  it('registers its tests through the hooks it is given, under unique names, running none of them', () => {
    const names = registeredTests();
    expect(names.length).toBeGreaterThan(50);
    // Names stay unique, so that node's report below names each test once.
    expect(new Set(names).size).toBe(names.length);
  });

  it(`runs every test of the MemoryStore's contract and passes them all (node --import tsx --test ${NODE_FILE})`, { timeout: 90_000 }, async () => {
    const expected = registeredTests();
    const env = { ...process.env };
    // A node started by node's own runner would report to it instead of printing TAP.
    delete env.NODE_TEST_CONTEXT;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', NODE_FILE], { cwd: ROOT, env, timeout: 80_000 })
      .catch((error: { stdout?: string; stderr?: string }) => {
        throw new Error(`node --test failed:\n${error.stdout ?? ''}\n${error.stderr ?? ''}`);
      });
    const { summary, passed, failed } = readTap(stdout);
    expect(summary).toMatchObject({ tests: expected.length, pass: expected.length, fail: 0, cancelled: 0, skipped: 0, todo: 0 });
    expect(failed).toEqual([]);
    for (const name of expected) expect(passed, name).toContain(name);
  });
});
