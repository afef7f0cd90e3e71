/**
 * The Lua pieces the RedisStore's scripts share. Each script opens by naming its keys and
 * arguments as locals (`challenge`, `failures`, `now`, `subject`, `bindings`...); the pieces
 * below use those names, so a script's text reads top to bottom as it runs. Lists (binding
 * hashes, candidate digests, cooldowns) travel as one space-separated argument each, so that
 * every script takes a fixed number of arguments.
 */

/**
 * Fields a challenge leaves out of its hash while they hold their default, with that
 * default: a new challenge has no binding, attempts, message or status yet, and most have no
 * transaction. Left out, they cost neither Redis memory nor arguments of the create.
 */
export const OMITTED_DEFAULTS: Readonly<Record<string, string>> = Object.freeze({
  bnd: '', txn: '', hid: '', att: '0', mid: '', sat: '0', dst: '', pay: '', ofa: '', tst: '0', lck: '0', vj: '', vat: '0',
});

/** A table of the challenge read by HGETALL: a field left out reads as its default. */
const WITH_DEFAULTS = `setmetatable(r, {__index = {${Object.entries(OMITTED_DEFAULTS).map(([name, value]) => `${name} = '${value}'`).join(', ')}}})`;

/**
 * Reads the challenge (the key `challenge`) into the table `r`, or answers `missing` when it
 * is gone. With `fields` (`sub` first: every challenge has one), only those, by HMGET: in
 * Redis that costs about 12 µs where HGETALL of all 27 fields into a table costs 16, on every
 * verify. HGETALL keeps the flat reply in `flat`, for the scripts that answer with the record.
 */
export function loadChallenge(fields?: readonly string[], missing = 'not_found'): string {
  if (!fields) {
    return `local flat = redis.call('HGETALL', challenge)
if #flat == 0 then return {'${missing}'} end
local r = {}
for i = 1, #flat, 2 do r[flat[i]] = flat[i + 1] end
${WITH_DEFAULTS}
`;
  }
  const read = (name: string, index: number) => (name in OMITTED_DEFAULTS ? `${name} = f[${index + 1}] or '${OMITTED_DEFAULTS[name]}'` : `${name} = f[${index + 1}]`);
  return `local f = redis.call('HMGET', challenge, ${fields.map((name) => `'${name}'`).join(', ')})
if not f[1] then return {'${missing}'} end
local r = {${fields.map(read).join(', ')}}
`;
}

/** Whether the space-separated `list` holds `value`. */
export const LISTED = `local function listed(list, value)
  for item in string.gmatch(list, '%S+') do
    if item == value then return true end
  end
  return false
end
`;

/**
 * The prologue of the scripts that act for a user, on the locals `challenge`, `now`,
 * `subject` ('' when the library itself acts, as for a fallback: no owner check, no cooldown)
 * and `bindings` (the caller's binding hashes). The owner, a consumed challenge (`consumed`
 * decides its answer), the lock and the expiry, in that order.
 */
export function openChallenge(fields?: readonly string[], consumed = `return {'not_found'}`): string {
  return `${LISTED}${loadChallenge(fields)}if subject ~= '' then
  if r.sub ~= subject then return {'not_found'} end
  if r.bnd ~= '' and not listed(bindings, r.bnd) then return {'not_found'} end
end
if r.vat ~= '0' then
  ${consumed}
end
if r.lck == '1' then return {'locked'} end
if now >= tonumber(r.exp) then
  redis.call('HSET', challenge, 'dig', '')
  return {'expired'}
end
`;
}

/** What verify reads of a challenge: the owner, lock and expiry checks, the attempts, the receipt, and the VERIFIED reply. */
export const VERIFY_FIELDS = ['sub', 'bnd', 'lck', 'exp', 'dig', 'att', 'max', 'tst', 'pur', 'txn', 'chn', 'trp', 'to', 'ofa', 'vj', 'vat'] as const;

/**
 * A consumed challenge's reply: its receipt, then only what the token and the events need (a
 * whole record would cost a decode of 30 strings on every verify). `ok` for the verify that
 * consumed it, `again` for a retry. Order as the codec's parseVerified reads it.
 */
export const verified = (status: 'ok' | 'again') => `{'${status}', r.vj, r.vat, r.sub, r.pur, r.txn, r.chn, r.trp, r.to, r.ofa, r.tst}`;

/** A consumed challenge and the candidate `digests`: the retry's reply when one is its winning digest, else not_found. */
export const REPEAT_IF_SAME_CODE = `if now < tonumber(r.exp) and listed(digests, r.dig) then return ${verified('again')} end
  return {'not_found'}`;

/**
 * Consumes the challenge (R-C3) and keeps what a retry of its right code needs: the owner, the
 * winning digest and the receipt (the locals `jti` and `at`). The sealed number and payment
 * go; the key lives until the challenge would have expired, no longer. Shared by the digest
 * and hosted paths.
 */
export const CONSUME = `local function consume(digest)
  redis.call('HSET', challenge, 'dig', digest, 'vj', jti, 'vat', at)
  redis.call('HDEL', challenge, 'phn', 'pay', 'hid')
  redis.call('PEXPIRE', challenge, math.max(1, tonumber(r.exp) - now))
  r.vj, r.vat = jti, at
end
`;

/** Counts a wrong code and locks at the limit; the reply names the challenge's test mark, purpose and channel, for the events. */
export const COUNT_FAILURE = `local function count_failure()
  local attempts = tonumber(r.att) + 1
  if attempts >= tonumber(r.max) then
    redis.call('HSET', challenge, 'att', attempts, 'lck', '1', 'dig', '')
    return {'locked_now', r.tst, r.pur, r.chn}
  end
  redis.call('HSET', challenge, 'att', attempts)
  return {'invalid', tostring(tonumber(r.max) - attempts), r.tst, r.pur, r.chn}
end
`;

/**
 * The subject's wrong codes across its challenges (R-D2): the key `failures`, in the
 * challenge's slot, a hash of the count `n` and the end `e` (ms, the app's clock) of the
 * window that began with the first failure. It outlives every challenge of the subject
 * (KEEP_FAILURES_SCRIPT), so that a script finds both of its keys on one node even while
 * Cluster migrates their slot. `limit` is the most the count may reach (0: no limit, nothing
 * counted), `window` its length in ms.
 */
export const SUBJECT_FAILURES = `local function read_failures()
  if limit == 0 then return 0, 0 end
  local f = redis.call('HMGET', failures, 'n', 'e')
  local count, ends = tonumber(f[1]) or 0, tonumber(f[2]) or 0
  if now >= ends then count = 0 end
  return count, ends
end
local function locked_out(count, ends)
  if limit == 0 or count < limit then return nil end
  return {'locked_out', tostring(ends - now)}
end
local function count_subject_failure(count, ends)
  if limit == 0 then return end
  if count == 0 then ends = now + window end
  redis.call('HSET', failures, 'n', count + 1, 'e', ends)
  if redis.call('PTTL', failures) < ends - now then redis.call('PEXPIRE', failures, ends - now) end
end
-- Only a count to clear is written: most right codes follow no wrong one.
local function clear_failures(count)
  if count > 0 then redis.call('HSET', failures, 'n', 0) end
end
`;

/** The subject's failure count and the ms left of its window, at `now`; 0, 0 when none. */
export const READ_FAILURE_COUNT = `local function failure_count(key, now)
  local f = redis.call('HMGET', key, 'n', 'e')
  local count, ends = tonumber(f[1]) or 0, tonumber(f[2]) or 0
  if count == 0 or now >= ends then return 0, 0 end
  return count, ends - now
end
`;

/** A new challenge: `ttl` ms, the field/value pairs from ARGV[from]. */
export const CREATE_CHALLENGE = `local function create_challenge(key, ttl, from)
  redis.call('DEL', key)
  redis.call('HSET', key, unpack(ARGV, from))
  redis.call('PEXPIRE', key, ttl)
end
`;

/**
 * Counts one event in a fixed window of `window` ms that starts at the first event; returns
 * the count and the milliseconds left. A key that lost its TTL gets it back (R-J11).
 */
export const COUNT_HIT = `local function count_hit(key, window)
  local count = redis.call('INCR', key)
  local left = redis.call('PTTL', key)
  if count == 1 or left < 0 then
    redis.call('PEXPIRE', key, window)
    left = window
  end
  return count, left
end
`;

/** The count and the milliseconds left of a counter, without counting. */
export const READ_HIT = `local function read_hit(key)
  local left = redis.call('PTTL', key)
  if left < 0 then return '0', 0 end
  return redis.call('GET', key) or '0', left
end
`;

/** Takes one digest out of the challenge's live codes; shared by the delivery record and the discard. */
export const DROP_DIGEST = `local function drop_digest(digest)
  local kept = {}
  for stored in string.gmatch(redis.call('HGET', challenge, 'dig') or '', '%S+') do
    if stored ~= digest then kept[#kept + 1] = stored end
  end
  redis.call('HSET', challenge, 'dig', table.concat(kept, ' '))
end
`;
