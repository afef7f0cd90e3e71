local challenge, failures = KEYS[1], KEYS[2]
local approved, now = ARGV[1] == '1', tonumber(ARGV[2])
local limit, window, jti, at, digest = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7]
local f = redis.call('HMGET', challenge, 'sub', 'bnd', 'lck', 'exp', 'dig', 'att', 'max', 'tst', 'pur', 'txn', 'chn', 'trp', 'to', 'ofa', 'vj', 'vat')
if not f[1] then return {'not_found'} end
local r = {sub = f[1], bnd = f[2] or '', lck = f[3] or '0', exp = f[4], dig = f[5], att = f[6] or '0', max = f[7], tst = f[8] or '0', pur = f[9], txn = f[10] or '', chn = f[11], trp = f[12], to = f[13], ofa = f[14] or '', vj = f[15] or '', vat = f[16] or '0'}
local function read_failures()
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
local function consume(digest)
  redis.call('HSET', challenge, 'dig', digest, 'vj', jti, 'vat', at)
  redis.call('HDEL', challenge, 'phn', 'pay', 'hid')
  redis.call('PEXPIRE', challenge, math.max(1, tonumber(r.exp) - now))
  r.vj, r.vat = jti, at
end

if r.vat ~= '0' then
  if approved then return {'again', r.vj, r.vat, r.sub, r.pur, r.txn, r.chn, r.trp, r.to, r.ofa, r.tst} end
  return {'not_found'}
end
local failed, ends = read_failures()
if approved then
  if r.lck == '1' then return {'locked'} end
  consume(digest)
  clear_failures(failed)
  return {'ok', r.vj, r.vat, r.sub, r.pur, r.txn, r.chn, r.trp, r.to, r.ofa, r.tst}
end
count_subject_failure(failed, ends)
local attempts = tonumber(r.att)
if attempts >= tonumber(r.max) then
  redis.call('HSET', challenge, 'lck', '1', 'dig', '')
  return {'locked_now', r.tst, r.pur, r.chn}
end
return {'invalid', tostring(tonumber(r.max) - attempts), r.tst, r.pur, r.chn}
