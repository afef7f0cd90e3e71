// Every relative link in the Markdown a reader meets (README, docs/, bench/README.md and the
// project files) leads somewhere: the file exists, and an anchor names a heading of it (as
// GitHub writes heading anchors). Links inside code blocks are code, not links.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');

function markdownUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return markdownUnder(path);
    return entry.name.endsWith('.md') ? [path] : [];
  });
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
const slug = (heading: string): string => heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(join(ROOT, file), 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#+ (.*)$/gm)].map(([, heading]) => slug(heading!)));
}

const FILES = ['README.md', 'CHANGELOG.md', 'CONTRIBUTING.md', 'SECURITY.md', 'bench/README.md', ...markdownUnder('docs')];

/** The relative links of `text` (read as the file `file`) that lead nowhere. */
function brokenLinks(file: string, text: string): { broken: string[]; checked: number } {
  const broken: string[] = [];
  let checked = 0;
  for (const [, link] of text.replace(/```[\s\S]*?```/g, '').matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^(https?:|mailto:)/.test(link!)) continue;
    checked++;
    const [path, anchor] = link!.split('#') as [string, string | undefined];
    const target = path === '' ? file : relative(ROOT, normalize(join(ROOT, dirname(file), path)));
    if (!existsSync(join(ROOT, target))) broken.push(`${file}: ${link} (no ${target})`);
    else if (anchor && target.endsWith('.md') && !anchorsOf(target).has(anchor)) broken.push(`${file}: ${link} (no heading #${anchor} in ${target})`);
  }
  return { broken, checked };
}

describe('the Markdown links', () => {
  it('every relative link names a file that exists, and every anchor a heading in it', () => {
    const results = FILES.map((file) => brokenLinks(file, readFileSync(join(ROOT, file), 'utf8')));
    expect(results.flatMap(({ broken }) => broken)).toEqual([]);
    expect(results.reduce((sum, { checked }) => sum + checked, 0)).toBeGreaterThan(20);
  });

  it('the check finds a missing file and a missing heading, and leaves code blocks and web links alone', () => {
    const text = [
      '[ok](docs/guides/koa.md) [ok anchor](README.md#documentation) [web](https://example.com/x)',
      '[gone](docs/guides/no-such-guide.md) [bad anchor](README.md#no-such-heading)',
      '```md\n[inside code](nowhere.md)\n```',
    ].join('\n');
    const { broken, checked } = brokenLinks('README.md', text);
    expect(checked).toBe(4);
    expect(broken).toEqual([
      'README.md: docs/guides/no-such-guide.md (no docs/guides/no-such-guide.md)',
      'README.md: README.md#no-such-heading (no heading #no-such-heading in README.md)',
    ]);
  });
});
