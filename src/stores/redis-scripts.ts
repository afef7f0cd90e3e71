/**
 * Lua for the RedisStore. Each script touches exactly the keys in KEYS (one key, or a
 * challenge and its subject's failure counter, which share a hash tag: one Cluster slot),
 * does every check before its first write (Redis does not roll back a script's earlier
 * writes on error), and is O(1) in the number of challenges.
 *
 * Owner arguments, shared by the scripts that act for a user:
 *   ARGV[1] now (ms), ARGV[2] subject ('' when the library itself acts, as for a
 *   fallback: no owner check, no cooldown), ARGV[3] n = number of binding hashes,
 *   ARGV[4 .. 3+n] binding hashes; the script's own arguments follow from ARGV[rest].
 */
function openChallenge(fields?: readonly string[], consumed = `return {'not_found'}`): string {
  return `
local now = tonumber(ARGV[1])
local system = ARGV[2] == ''
${loadChallenge(fields)}
local nb = tonumber(ARGV[3])
if not system then
  if r.sub ~= ARGV[2] then return {'not_found'} end
  if r.bnd ~= '' then
    local bound = false
    for i = 1, nb do
      if ARGV[3 + i] == r.bnd then bound = true end
    end
    if not bound then return {'not_found'} end
  end
end
if r.vat ~= '0' then
  ${consumed}
end
if r.lck == '1' then return {'locked'} end
if now >= tonumber(r.exp) then
  redis.call('HSET', KEYS[1], 'dig', '')
  return {'expired'}
end
local rest = 4 + nb
`;
}

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
 * Reads the challenge into the table `r`, or answers `missing` (not_found) when it is gone.
 * With `fields` (`sub` first: every challenge has one), only those, by HMGET: in Redis that
 * costs about 12 µs where HGETALL of all 27 fields into a table costs 16, on every verify.
 */
function loadChallenge(fields?: readonly string[], missing = 'not_found'): string {
  if (!fields) {
    return `local flat = redis.call('HGETALL', KEYS[1])
if #flat == 0 then return {'${missing}'} end
local r = {}
for i = 1, #flat, 2 do r[flat[i]] = flat[i + 1] end
${WITH_DEFAULTS}`;
  }
  const read = (name: string, index: number) => (name in OMITTED_DEFAULTS ? `${name} = f[${index + 1}] or '${OMITTED_DEFAULTS[name]}'` : `${name} = f[${index + 1}]`);
  return `local f = redis.call('HMGET', KEYS[1], ${fields.map((name) => `'${name}'`).join(', ')})
if not f[1] then return {'${missing}'} end
local r = {${fields.map(read).join(', ')}}`;
}

const OPEN_CHALLENGE = openChallenge();

/** What verify reads of a challenge: the owner, lock and expiry checks, the attempts, the receipt, and the VERIFIED reply. */
const VERIFY_FIELDS = ['sub', 'bnd', 'lck', 'exp', 'dig', 'att', 'max', 'tst', 'pur', 'txn', 'chn', 'trp', 'to', 'ofa', 'vj', 'vat'] as const;

/**
 * A consumed challenge's reply: its receipt, then only what the token and the events need (a
 * whole record would cost a decode of 30 strings on every verify). `ok` for the verify that
 * consumed it, `again` for a retry. Order as parseVerified reads it.
 */
const verified = (status: 'ok' | 'again') => `{'${status}', r.vj, r.vat, r.sub, r.pur, r.txn, r.chn, r.trp, r.to, r.ofa, r.tst}`;

/**
 * Consumes the challenge (R-C3) and keeps what a retry of its right code needs: the owner, the
 * winning digest and the receipt (token id, time). The sealed number and payment go; the key
 * lives until the challenge would have expired, no longer. Shared by the digest and hosted paths.
 */
const CONSUME = `
local function consume(r, now, digest, jti, at)
  redis.call('HSET', KEYS[1], 'dig', digest, 'vj', jti, 'vat', at)
  redis.call('HDEL', KEYS[1], 'phn', 'pay', 'hid')
  redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(r.exp) - now))
  r.vj, r.vat = jti, at
end
`;

/** A consumed challenge and candidate digests from ARGV[from]: the retry's reply when one is its winning digest, else not_found. */
const repeatIfSameCode = (from: string) => `if now < tonumber(r.exp) then
    for i = ${from}, #ARGV do
      if ARGV[i] == r.dig then return ${verified('again')} end
    end
  end
  return {'not_found'}`;

/**
 * Counts a failure and locks at the limit; shared by the digest and the hosted paths. The
 * reply names the challenge's test mark, purpose and channel, for the events.
 */
const COUNT_FAILURE = `
local function count_failure()
  local attempts = tonumber(r.att) + 1
  if attempts >= tonumber(r.max) then
    redis.call('HSET', KEYS[1], 'att', attempts, 'lck', '1', 'dig', '')
    return {'locked_now', r.tst, r.pur, r.chn}
  end
  redis.call('HSET', KEYS[1], 'att', attempts)
  return {'invalid', tostring(tonumber(r.max) - attempts), r.tst, r.pur, r.chn}
end
`;

/**
 * The subject's wrong codes across its challenges (R-D2): KEYS[2], in the challenge's slot, a
 * hash of the count `n` and the end `e` (ms, the app's clock) of the window that began with
 * the first failure. It outlives every challenge of the subject (KEEP_FAILURES_SCRIPT), so that
 * a script finds both of its keys on one node even while Cluster migrates their slot. ARGV[at]
 * is the most the count may reach ('0': no limit, nothing counted), ARGV[at + 1] the window.
 */
const SUBJECT_FAILURES = `
local function read_failures(at, now)
  if tonumber(ARGV[at]) == 0 then return 0, 0 end
  local f = redis.call('HMGET', KEYS[2], 'n', 'e')
  local count, ends = tonumber(f[1]) or 0, tonumber(f[2]) or 0
  if now >= ends then count = 0 end
  return count, ends
end
local function locked_out(at, now, count, ends)
  if tonumber(ARGV[at]) == 0 or count < tonumber(ARGV[at]) then return nil end
  return {'locked_out', tostring(ends - now)}
end
local function count_subject_failure(at, now, count, ends)
  if tonumber(ARGV[at]) == 0 then return end
  if count == 0 then ends = now + tonumber(ARGV[at + 1]) end
  redis.call('HSET', KEYS[2], 'n', count + 1, 'e', ends)
  if redis.call('PTTL', KEYS[2]) < ends - now then redis.call('PEXPIRE', KEYS[2], ends - now) end
end
-- Only a count to clear is written: most right codes follow no wrong one.
local function clear_failures(count)
  if count > 0 then redis.call('HSET', KEYS[2], 'n', 0) end
end
`;

/**
 * KEYS[2] the subject's failures; ARGV[rest], ARGV[rest + 1] their limit and window;
 * ARGV[rest + 2], ARGV[rest + 3] the receipt (token id, ms) kept on success; then ARGV[rest + 4 ..]
 * are candidate digests, one per live pepper. `dig` holds the live digests, space-separated.
 * A subject past its limit is refused before any compare; a consumed challenge's retry of its
 * right code gets the first receipt back, before any limit.
 */
export const VERIFY_SCRIPT = `${openChallenge(VERIFY_FIELDS, repeatIfSameCode('8 + nb'))}${COUNT_FAILURE}${SUBJECT_FAILURES}${CONSUME}
local failed, ends = read_failures(rest, now)
local held = locked_out(rest, now, failed, ends)
if held then return held end
for stored in string.gmatch(r.dig, '%S+') do
  for i = rest + 4, #ARGV do
    if ARGV[i] == stored then
      consume(r, now, stored, ARGV[rest + 2], ARGV[rest + 3])
      clear_failures(failed)
      return ${verified('ok')}
    end
  end
end
count_subject_failure(rest, now, failed, ends)
return count_failure()
`;

/**
 * Hosted channels, step one: reserve an attempt before asking the provider, so that
 * concurrent guesses cannot exceed the limit. The attempt is counted now; step two
 * consumes on a right code or locks when the limit is reached. ARGV[rest], ARGV[rest + 1]
 * the failure limit and window, then candidate digests: a consumed challenge's retry of the
 * code the provider approved gets the first receipt back.
 */
export const BEGIN_HOSTED_SCRIPT = `${openChallenge(undefined, repeatIfSameCode('6 + nb'))}${SUBJECT_FAILURES}
local held = locked_out(rest, now, read_failures(rest, now))
if held then return held end
local attempts = tonumber(r.att)
if attempts >= tonumber(r.max) then return {'locked'} end
redis.call('HSET', KEYS[1], 'att', attempts + 1)
return {'check', unpack(redis.call('HGETALL', KEYS[1]))}
`;

/**
 * Step two. ARGV[1] '1' when the provider approved, ARGV[2] now (ms); ARGV[3], ARGV[4] the
 * subject's failure limit and window (KEYS[2]); ARGV[5], ARGV[6], ARGV[7] the receipt (token
 * id, ms) and the digest of the approved code, kept on success. Only one caller consumes; a
 * concurrent approved check gets its receipt.
 */
export const FINISH_HOSTED_SCRIPT = `${SUBJECT_FAILURES}${CONSUME}
local now = tonumber(ARGV[2])
${loadChallenge(VERIFY_FIELDS)}
if r.vat ~= '0' then
  if ARGV[1] == '1' then return ${verified('again')} end
  return {'not_found'}
end
local failed, ends = read_failures(3, now)
if ARGV[1] == '1' then
  if r.lck == '1' then return {'locked'} end
  consume(r, now, ARGV[7], ARGV[5], ARGV[6])
  clear_failures(failed)
  return ${verified('ok')}
end
count_subject_failure(3, now, failed, ends)
local attempts = tonumber(r.att)
if attempts >= tonumber(r.max) then
  redis.call('HSET', KEYS[1], 'lck', '1', 'dig', '')
  return {'locked_now', r.tst, r.pur, r.chn}
end
return {'invalid', tostring(tonumber(r.max) - attempts), r.tst, r.pur, r.chn}
`;

/**
 * Then ARGV[rest] is the new digest (or ''), ARGV[rest + 1] the cooldowns in ms (space-separated:
 * the wait after the n-th send is the n-th, the last repeating) and
 * ARGV[rest + 2] '1' to keep the earlier codes valid beside the new one.
 */
export const RESEND_SCRIPT = `${OPEN_CHALLENGE}
if tonumber(r.snd) >= tonumber(r.msnd) then return {'exhausted', tostring(tonumber(r.exp) - now)} end
local next_send = tonumber(r.nxt)
if not system and now < next_send then return {'cooldown', tostring(next_send - now)} end
local digests = ARGV[rest]
-- A test number's fixed code stays valid: nothing is ever sent to it.
if (ARGV[rest + 2] == '1' or r.tst == '1') and r.dig ~= '' then digests = r.dig .. ' ' .. ARGV[rest] end
local sends = tonumber(r.snd) + 1
local waits = {}
for wait in string.gmatch(ARGV[rest + 1], '%S+') do waits[#waits + 1] = tonumber(wait) end
redis.call('HSET', KEYS[1], 'dig', digests, 'snd', sends, 'nxt', now + waits[math.min(sends, #waits)])
return {'ok', unpack(redis.call('HGETALL', KEYS[1]))}
`;

/** The subject's failure count and the ms left of its window, at `now`; 0, 0 when none. */
const READ_FAILURE_COUNT = `
local function failure_count(key, now)
  local f = redis.call('HMGET', key, 'n', 'e')
  local count, ends = tonumber(f[1]) or 0, tonumber(f[2]) or 0
  if count == 0 or now >= ends then return 0, 0 end
  return count, ends - now
end
`;

/** A new challenge: `ttl` ms, the field/value pairs from ARGV[from]. */
const CREATE_CHALLENGE = `
local function create_challenge(key, ttl, from)
  redis.call('DEL', key)
  redis.call('HSET', key, unpack(ARGV, from))
  redis.call('PEXPIRE', key, ttl)
end
`;

/**
 * Counts one event in a fixed window of `window` ms that starts at the first event; returns
 * the count and the milliseconds left. A key that lost its TTL gets it back (R-J11).
 */
const COUNT_HIT = `
local function count_hit(key, window)
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
const READ_HIT = `
local function read_hit(key)
  local left = redis.call('PTTL', key)
  if left < 0 then return '0', 0 end
  return redis.call('GET', key) or '0', left
end
`;

/** Keeps the subject's failure record (KEYS[1]) for at least ARGV[1] ms: as long as its newest challenge. */
export const KEEP_FAILURES_SCRIPT = `
redis.call('HSETNX', KEYS[1], 'n', 0)
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
`;

/** The subject's failure count and the ms left of its window, at ARGV[1] now; '0', '0' when none. */
export const READ_FAILURES_SCRIPT = `${READ_FAILURE_COUNT}
local count, left = failure_count(KEYS[1], tonumber(ARGV[1]))
return {tostring(count), tostring(left)}
`;

/** ARGV[1] ttl in ms, then field/value pairs. */
export const CREATE_SCRIPT = `${CREATE_CHALLENGE}
create_challenge(KEYS[1], tonumber(ARGV[1]), 2)
return 1
`;

/**
 * A start in one step, for a standalone Redis (its keys are of many slots). KEYS: the
 * challenge, the subject's failure record, then h counters to count, r to read, f facts.
 * The failure record is read, not kept alive: only a Cluster slot in migration needs it
 * beside the challenge before the first wrong code, and a Cluster does not run this script.
 * ARGV: now, ttl, the failure limit (0: none), h, r, f, a window and a max (0: none) per
 * counted key, then the challenge's field/value pairs. Every counter moves; the challenge
 * is created only when no count passed its max and the subject is under its limit. Reply:
 * '1' created or '0', the failure count and ms left, a count and ms left per counter (counted,
 * then read), then each fact ('' for none).
 */
export const ADMIT_SCRIPT = `${READ_FAILURE_COUNT}${CREATE_CHALLENGE}${COUNT_HIT}${READ_HIT}
local now, ttl, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local h, r, f = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local reply = {'0', '0', '0'}
local admitted = true
if limit > 0 then
  local count, left = failure_count(KEYS[2], now)
  reply[2], reply[3] = tostring(count), tostring(left)
  if count >= limit then admitted = false end
end
for i = 1, h do
  local max = tonumber(ARGV[6 + 2 * i])
  local count, left = count_hit(KEYS[2 + i], tonumber(ARGV[5 + 2 * i]))
  if max > 0 and count > max then admitted = false end
  reply[#reply + 1] = tostring(count)
  reply[#reply + 1] = tostring(left)
end
for i = 1, r do
  local count, left = read_hit(KEYS[2 + h + i])
  reply[#reply + 1] = count
  reply[#reply + 1] = tostring(left)
end
for i = 1, f do
  reply[#reply + 1] = redis.call('GET', KEYS[2 + h + r + i]) or ''
end
if admitted then
  create_challenge(KEYS[1], ttl, 7 + 2 * h)
  reply[1] = '1'
end
return reply
`;

/** Takes one digest out of the challenge's live codes; shared by the delivery record and the discard. */
const DROP_DIGEST = `
local function drop_digest(digest)
  local kept = {}
  for stored in string.gmatch(redis.call('HGET', KEYS[1], 'dig') or '', '%S+') do
    if stored ~= digest then kept[#kept + 1] = stored end
  end
  redis.call('HSET', KEYS[1], 'dig', table.concat(kept, ' '))
end
`;

/**
 * The message that carried the challenge's (KEYS[1]) last code. ARGV: channel, transport,
 * message id, sent at, hosted id ('' for none), digest to drop, '1' to keep earlier codes.
 * Written only while the challenge exists (never recreating it without a TTL): false when
 * it is gone. A new message starts with no delivery status. A hosted send's code is the
 * provider's: our own unsent code is dropped, and without keep-earlier the hosted id
 * replaces every earlier one, as a new digest replaces earlier digests.
 */
const RECORD_DELIVERY = `${DROP_DIGEST}
local function record_delivery()
  if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'vat') == 1 then return false end
  redis.call('HSET', KEYS[1], 'chn', ARGV[1], 'trp', ARGV[2], 'mid', ARGV[3], 'sat', ARGV[4])
  redis.call('HDEL', KEYS[1], 'dst')
  local keep = ARGV[7] == '1'
  if ARGV[5] ~= '' then
    drop_digest(ARGV[6])
    local hosted = redis.call('HGET', KEYS[1], 'hid') or ''
    if keep and hosted ~= '' then hosted = hosted .. ' ' .. ARGV[5] else hosted = ARGV[5] end
    redis.call('HSET', KEYS[1], 'hid', hosted)
  elseif not keep then
    redis.call('HDEL', KEYS[1], 'hid')
  end
  return true
end
`;

export const RECORD_DELIVERY_SCRIPT = `${RECORD_DELIVERY}
if record_delivery() then return 1 end
return 0
`;

/**
 * The delivery record and the message's fact (KEYS[2], naming the message id: a webhook
 * finds the challenge by it) in one script, for a standalone Redis (the two keys are of
 * different slots). ARGV[1..7] as RECORD_DELIVERY, ARGV[8] the challenge id, ARGV[9] the
 * fact's TTL in ms. Nothing is written for a challenge that is gone.
 */
export const RECORD_SENT_SCRIPT = `${RECORD_DELIVERY}
if not record_delivery() then return 0 end
redis.call('SET', KEYS[2], ARGV[8], 'PX', ARGV[9])
return 1
`;

/** KEYS[1] a counter, ARGV[1] its window in ms: the count and the ms left. */
export const COUNT_HIT_SCRIPT = `${COUNT_HIT}
local count, left = count_hit(KEYS[1], tonumber(ARGV[1]))
return {tostring(count), tostring(left)}
`;

/** KEYS[1] a counter: its count and the ms left, without counting. */
export const READ_HIT_SCRIPT = `${READ_HIT}
local count, left = read_hit(KEYS[1])
return {count, tostring(left)}
`;

/** Removes digest ARGV[1] from the live codes, if the challenge still exists. */
export const DISCARD_CODE_SCRIPT = `${DROP_DIGEST}
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'vat') == 1 then return 0 end
drop_digest(ARGV[1])
return 1
`;

/**
 * A provider's delivery status for message ARGV[1], status ARGV[2]. Monotonic: sent <
 * delivered < read; failed only from nothing or sent, and final. Returns 'failed' to
 * exactly one caller, the one that may fall back.
 */
export const APPLY_STATUS_SCRIPT = `
${loadChallenge(undefined, 'gone')}
if r.vat ~= '0' then return {'gone'} end
if r.mid ~= ARGV[1] then return {'stale'} end
local rank = { [''] = 0, sent = 1, delivered = 2, read = 3 }
local current = r.dst
if current == 'failed' then return {'ignored'} end
if ARGV[2] == 'failed' then
  if rank[current] >= 2 then return {'ignored'} end
  redis.call('HSET', KEYS[1], 'dst', 'failed')
  return {'failed', unpack(flat)}
end
if (rank[ARGV[2]] or 0) <= rank[current] then return {'ignored'} end
redis.call('HSET', KEYS[1], 'dst', ARGV[2])
return {'applied', unpack(flat)}
`;

/** Adds member ARGV[2] due at ARGV[1] and gives the set a TTL of ARGV[3] ms from now (R-J11). */
export const SCHEDULE_DUE_SCRIPT = `
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`;

/** Claims up to ARGV[2] fallbacks due at ARGV[1]; ZREM makes each claim one instance's. */
export const CLAIM_DUE_SCRIPT = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do redis.call('ZREM', KEYS[1], member) end
return due
`;
