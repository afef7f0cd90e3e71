// The source stays readable as DESIGN §2 draws it: imports run one way, so no file imports
// another that imports it back (type imports included), and no file grows past 300 lines.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const SRC = join(import.meta.dirname, '..', 'src');
const MAX_LINES = 300;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('the layout of src/', () => {
  it('has no import cycle between files, type imports included (madge)', { timeout: 60_000 }, async () => {
    const cli = createRequire(import.meta.url).resolve('madge/bin/cli.js');
    const { stdout } = await run(process.execPath, [cli, '--circular', '--json', '--extensions', 'ts', '--ts-config', 'tsconfig.json', 'src'], {
      cwd: join(SRC, '..'),
    });
    expect(JSON.parse(stdout)).toEqual([]);
  });

  it(`has no file over ${MAX_LINES} lines`, () => {
    const files = sourceFiles(SRC);
    expect(files.length).toBeGreaterThan(50);
    const long = files
      .map((file) => ({ file: relative(SRC, file), lines: readFileSync(file, 'utf8').split('\n').length - 1 }))
      .filter(({ file, lines }) => lines > MAX_LINES);
    expect(long).toEqual([]);
  });
});
