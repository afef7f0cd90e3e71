/**
 * `npm run bench` in its smoke mode (issue #8): a fraction of a second per figure, so that
 * the suite cannot rot. It checks that the table and results.json come out with every
 * figure for both adapters, not the ratios (those are for the real run, by hand).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'stepup-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Row {
  figure: string;
  framework: string;
  ours: number | string;
  ratio?: number;
}

describe('npm run bench -- --smoke', () => {
  it('prints the table and writes results.json with every figure', { timeout: 90_000 }, async () => {
    const out = join(dir, 'results.json');
    const { stdout } = await run('npx', ['tsx', 'bench/perf.ts', '--smoke'], { env: { ...process.env, BENCH_OUT: out }, maxBuffer: 10 * 1024 * 1024 });
    expect(stdout).toMatch(/\| figure +\| adapter +\| ours +\| baseline +\| ratio \(rounds\) +\| target +\| met\? +\|/);
    expect(stdout).toMatch(/cores: /);
    const results = JSON.parse(readFileSync(out, 'utf8')) as { smoke: boolean; rows: Row[]; problems: string[] };
    expect(results.smoke).toBe(true);
    expect(results.problems).toEqual([]);
    for (const framework of ['express', 'koa']) {
      for (const figure of ['1 verify / floor', '2 start (outbox) / floor', '3 guard / floor', '3 guard / passport-jwt', '4 guard oneTime / floor', "2 start / floor doing start's duties", "2 floor doing start's duties / floor"]) {
        const row = results.rows.find((r) => r.framework === framework && r.figure === figure);
        expect(row, `${framework}: ${figure}`).toBeDefined();
        expect(row!.ratio).toBeGreaterThan(0);
      }
      expect(results.rows.some((r) => r.framework === framework && r.figure.startsWith('7 verify p99'))).toBe(true);
    }
    expect(results.rows.find((r) => r.framework === 'express' && r.figure === '3 guard / express-jwt')!.ratio).toBeGreaterThan(0);
    const trips = Object.fromEntries(results.rows.filter((r) => r.figure.startsWith('5 ')).map((r) => [r.figure.replace('5 Redis round trips: ', ''), r.ours]));
    expect(Object.keys(trips).sort()).toEqual(['guard', 'guard oneTime', 'start', 'verify']);
    expect(trips.guard).toBe(0);
    expect(results.rows.find((r) => r.figure === '6 Redis memory per pending challenge')!.ours).toBeGreaterThan(0);
    expect(results.rows.find((r) => r.figure === "6 Redis memory, floor doing start's duties")!.ours).toBeGreaterThan(0);
  });
});
