import { DROP_DIGEST, loadChallenge, openChallenge } from './challenge.js';

/**
 * A new code for a live challenge: `digest` joins (with `keep`, or for a test number, whose
 * fixed code stays valid) or replaces the live ones. `cooldowns` in ms, space-separated: the
 * wait after the n-th send is the n-th, the last repeating. The system owner has no cooldown.
 */
export const RESEND_SCRIPT = `local challenge = KEYS[1]
local now, subject, bindings = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local digest, cooldowns, keep = ARGV[4], ARGV[5], ARGV[6] == '1'
${openChallenge()}if tonumber(r.snd) >= tonumber(r.msnd) then return {'exhausted', tostring(tonumber(r.exp) - now)} end
local next_send = tonumber(r.nxt)
if subject ~= '' and now < next_send then return {'cooldown', tostring(next_send - now)} end
local digests = digest
if (keep or r.tst == '1') and r.dig ~= '' then digests = r.dig .. ' ' .. digest end
local sends = tonumber(r.snd) + 1
local waits = {}
for wait in string.gmatch(cooldowns, '%S+') do waits[#waits + 1] = tonumber(wait) end
redis.call('HSET', challenge, 'dig', digests, 'snd', sends, 'nxt', now + waits[math.min(sends, #waits)])
return {'ok', unpack(redis.call('HGETALL', challenge))}
`;

/**
 * The message that carried the challenge's last code, on the locals `challenge`, `channel`,
 * `transport`, `message`, `sent_at`, `hosted` (the hosted send, '' for none), `drop` (the
 * digest a hosted send takes out) and `keep` (earlier codes stay valid). Written only while
 * the challenge lives (never recreating it without a TTL): false when it is gone. A new
 * message starts with no delivery status. A hosted send's code is the provider's: our own
 * unsent code is dropped, and without `keep` the hosted send replaces every earlier one, as a
 * new digest replaces earlier digests.
 */
const RECORD_DELIVERY = `${DROP_DIGEST}local function record_delivery()
  if redis.call('EXISTS', challenge) == 0 or redis.call('HEXISTS', challenge, 'vat') == 1 then return false end
  redis.call('HSET', challenge, 'chn', channel, 'trp', transport, 'mid', message, 'sat', sent_at)
  redis.call('HDEL', challenge, 'dst')
  if hosted ~= '' then
    drop_digest(drop)
    local sends = redis.call('HGET', challenge, 'hid') or ''
    if keep and sends ~= '' then sends = sends .. ' ' .. hosted else sends = hosted end
    redis.call('HSET', challenge, 'hid', sends)
  elseif not keep then
    redis.call('HDEL', challenge, 'hid')
  end
  return true
end
`;

const DELIVERY_ARGUMENTS = `local channel, transport, message, sent_at = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local hosted, drop, keep = ARGV[5], ARGV[6], ARGV[7] == '1'`;

/** The delivery record alone: a Cluster keeps the message's fact on its own slot. */
export const RECORD_DELIVERY_SCRIPT = `local challenge = KEYS[1]
${DELIVERY_ARGUMENTS}
${RECORD_DELIVERY}if record_delivery() then return 1 end
return 0
`;

/**
 * The delivery record and the message's fact (naming the message id: a webhook finds the
 * challenge by it) in one script, for a standalone Redis (the two keys are of different
 * slots). The fact holds `challenge_id` for `fact_ttl` ms. Nothing is written for a challenge
 * that is gone.
 */
export const RECORD_SENT_SCRIPT = `local challenge, fact = KEYS[1], KEYS[2]
${DELIVERY_ARGUMENTS}
local challenge_id, fact_ttl = ARGV[8], ARGV[9]
${RECORD_DELIVERY}if not record_delivery() then return 0 end
redis.call('SET', fact, challenge_id, 'PX', fact_ttl)
return 1
`;

/** Takes `digest` out of the live codes, if the challenge still lives. */
export const DISCARD_CODE_SCRIPT = `local challenge = KEYS[1]
local digest = ARGV[1]
${DROP_DIGEST}if redis.call('EXISTS', challenge) == 0 or redis.call('HEXISTS', challenge, 'vat') == 1 then return 0 end
drop_digest(digest)
return 1
`;

/**
 * A provider's delivery `status` for `message`. Monotonic: sent < delivered < read; failed
 * only from nothing or sent, and final. Returns 'failed' to exactly one caller, the one that
 * may fall back.
 */
export const APPLY_STATUS_SCRIPT = `local challenge = KEYS[1]
local message, status = ARGV[1], ARGV[2]
${loadChallenge(undefined, 'gone')}if r.vat ~= '0' then return {'gone'} end
if r.mid ~= message then return {'stale'} end
local rank = { [''] = 0, sent = 1, delivered = 2, read = 3 }
local current = r.dst
if current == 'failed' then return {'ignored'} end
if status == 'failed' then
  if rank[current] >= 2 then return {'ignored'} end
  redis.call('HSET', challenge, 'dst', 'failed')
  return {'failed', unpack(flat)}
end
if (rank[status] or 0) <= rank[current] then return {'ignored'} end
redis.call('HSET', challenge, 'dst', status)
return {'applied', unpack(flat)}
`;

/** Adds `member` due at `at` and gives the set a TTL of `ttl` ms from now (R-J11). */
export const SCHEDULE_DUE_SCRIPT = `local due = KEYS[1]
local at, member, ttl = ARGV[1], ARGV[2], ARGV[3]
redis.call('ZADD', due, at, member)
redis.call('PEXPIRE', due, ttl)
return 1
`;

/** Claims up to `limit` fallbacks due at `now`; ZREM makes each claim one instance's. */
export const CLAIM_DUE_SCRIPT = `local due = KEYS[1]
local now, limit = ARGV[1], tonumber(ARGV[2])
local claimed = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, limit)
for _, member in ipairs(claimed) do redis.call('ZREM', due, member) end
return claimed
`;
