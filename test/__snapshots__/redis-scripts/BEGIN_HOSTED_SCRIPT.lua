local challenge, failures = KEYS[1], KEYS[2]
local now, subject, bindings = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local limit, window, digests = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local function listed(list, value)
  for item in string.gmatch(list, '%S+') do
    if item == value then return true end
  end
  return false
end
local flat = redis.call('HGETALL', challenge)
if #flat == 0 then return {'not_found'} end
local r = {}
for i = 1, #flat, 2 do r[flat[i]] = flat[i + 1] end
setmetatable(r, {__index = {bnd = '', txn = '', hid = '', att = '0', mid = '', sat = '0', dst = '', pay = '', ofa = '', tst = '0', lck = '0', vj = '', vat = '0'}})
if subject ~= '' then
  if r.sub ~= subject then return {'not_found'} end
  if r.bnd ~= '' and not listed(bindings, r.bnd) then return {'not_found'} end
end
if r.vat ~= '0' then
  if now < tonumber(r.exp) and listed(digests, r.dig) then return {'again', r.vj, r.vat, r.sub, r.pur, r.txn, r.chn, r.trp, r.to, r.ofa, r.tst} end
  return {'not_found'}
end
if r.lck == '1' then return {'locked'} end
if now >= tonumber(r.exp) then
  redis.call('HSET', challenge, 'dig', '')
  return {'expired'}
end
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

local held = locked_out(read_failures())
if held then return held end
local attempts = tonumber(r.att)
if attempts >= tonumber(r.max) then return {'locked'} end
redis.call('HSET', challenge, 'att', attempts + 1)
return {'check', unpack(redis.call('HGETALL', challenge))}
