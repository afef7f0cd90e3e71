// The RedisStore's Lua as Redis runs it: every script's expanded text is held in
// test/__snapshots__/redis-scripts/<NAME>.lua, so that a change to a script shows in a diff as
// the real Lua, not as the TypeScript that assembles it. Each script opens by naming its keys
// and arguments as locals, and the body uses only those names (R-J1: keys come from KEYS).
import { describe, expect, it } from 'vitest';
import * as scripts from '../src/stores/redis/scripts/index.js';

const ALL = Object.entries(scripts).filter(([name]) => name.endsWith('_SCRIPT')) as [string, string][];
/** A start's admission and a delivery record with its message fact, in one script each: for a standalone Redis, their keys are of many slots. */
const STANDALONE = ['ADMIT_SCRIPT', 'RECORD_SENT_SCRIPT'];
/** The verify steps take the challenge and its subject's failure record, which share a slot. */
const TWO_KEYS = ['VERIFY_SCRIPT', 'BEGIN_HOSTED_SCRIPT', 'FINISH_HOSTED_SCRIPT'];

/** The leading `local … = KEYS[…]/ARGV[…]` lines, and the names they bind to keys. */
function header(lua: string): { lines: string[]; keyNames: string[]; body: string } {
  const all = lua.split('\n');
  const count = all.findIndex((line) => !/^local [\w, ]+ = .*\b(KEYS|ARGV)\[\d\]/.test(line));
  const lines = all.slice(0, count);
  const keyNames: string[] = [];
  for (const line of lines) {
    const [, names, values] = /^local ([\w, ]+) = (.*)$/.exec(line)!;
    const bound = names!.split(',').map((name) => name.trim());
    values!.split(/,\s*(?![^(]*\))/).forEach((value, index) => {
      if (/^KEYS\[\d\]$/.test(value.trim())) keyNames.push(bound[index]!);
    });
  }
  return { lines, keyNames, body: all.slice(count).join('\n') };
}

describe('the Redis scripts', () => {
  it('there is one per state change, and each is held as the Lua Redis runs', async () => {
    expect(ALL.map(([name]) => name).sort()).toMatchInlineSnapshot(`
      [
        "ADMIT_SCRIPT",
        "APPLY_STATUS_SCRIPT",
        "BEGIN_HOSTED_SCRIPT",
        "CLAIM_DUE_SCRIPT",
        "COUNT_HIT_SCRIPT",
        "CREATE_SCRIPT",
        "DISCARD_CODE_SCRIPT",
        "FINISH_HOSTED_SCRIPT",
        "KEEP_FAILURES_SCRIPT",
        "READ_FAILURES_SCRIPT",
        "READ_HIT_SCRIPT",
        "RECORD_DELIVERY_SCRIPT",
        "RECORD_SENT_SCRIPT",
        "RESEND_SCRIPT",
        "SCHEDULE_DUE_SCRIPT",
        "VERIFY_SCRIPT",
      ]
    `);
    for (const [name, lua] of ALL) await expect(lua).toMatchFileSnapshot(`./__snapshots__/redis-scripts/${name}.lua`);
  });

  it('each opens by naming its keys and arguments as locals; below that, no KEYS[n] or ARGV[n] (the standalone admission\'s counter lists excepted)', () => {
    for (const [name, lua] of ALL) {
      const { lines, keyNames, body } = header(lua);
      expect(lines.length, name).toBeGreaterThan(0);
      expect(lines[0], name).toMatch(/^local [\w, ]+ = KEYS\[1\]/);
      expect(keyNames.length, name).toBe(STANDALONE.includes(name) || TWO_KEYS.includes(name) ? 2 : 1);
      // The admission's counters are as many as a start's limits name: KEYS[2 + i], their windows ARGV[5 + 2 * i].
      const positional = name === 'ADMIT_SCRIPT' ? /\b(KEYS|ARGV)\[\d+\]/ : /\b(KEYS|ARGV)\[/;
      expect(body.replace(/unpack\(ARGV, from\)/g, ''), name).not.toMatch(positional);
    }
  });

  it('R-J1: every script a Cluster runs reads and writes only keys from KEYS, never a key name built in Lua; only the verify steps take a second key (the subject\'s failures)', () => {
    const clusterScripts = ALL.filter(([name]) => !STANDALONE.includes(name));
    expect(clusterScripts.length).toBeGreaterThanOrEqual(12);
    for (const [name, lua] of clusterScripts) {
      const { keyNames, body } = header(lua);
      expect(keyNames.length, name).toBe(TWO_KEYS.includes(name) ? 2 : 1);
      // A key's local is bound once, in the header.
      for (const key of keyNames) expect(body, `${name}: ${key} reassigned`).not.toMatch(new RegExp(`(^|[^=~<>])\\b${key}\\s*=[^=]`, 'm'));
      const calls = [...lua.matchAll(/redis\.call\('(\w+)'(?:,\s*([^,)]+))?/g)];
      expect(calls.length, name).toBeGreaterThan(0);
      // Shared Lua functions take their key as the parameter `key`, given from a key's local where they are called.
      for (const [call, , key] of calls) expect([...keyNames, 'key'], `${name}: ${call}`).toContain(key);
      const helpers = [...lua.matchAll(/local function (\w+)\(key\b/g)].map(([, helper]) => helper!);
      for (const helper of helpers) {
        for (const [call, key] of body.matchAll(new RegExp(`(?<!function )\\b${helper}\\(([^,)]+)`, 'g'))) expect(keyNames, `${name}: ${call}`).toContain(key);
      }
      expect(lua, name).not.toMatch(/\.\.\s*KEYS|KEYS\[\d\]\s*\.\./);
      expect(lua, name).not.toMatch(TWO_KEYS.includes(name) ? /KEYS\[[^12]/ : /KEYS\[[^1]/);
    }
  });
});
