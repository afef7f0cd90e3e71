local challenge = KEYS[1]
local now, subject, bindings = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local digest, cooldowns, keep = ARGV[4], ARGV[5], ARGV[6] == '1'
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
  return {'not_found'}
end
if r.lck == '1' then return {'locked'} end
if now >= tonumber(r.exp) then
  redis.call('HSET', challenge, 'dig', '')
  return {'expired'}
end
if tonumber(r.snd) >= tonumber(r.msnd) then return {'exhausted', tostring(tonumber(r.exp) - now)} end
local next_send = tonumber(r.nxt)
if subject ~= '' and now < next_send then return {'cooldown', tostring(next_send - now)} end
local digests = digest
if (keep or r.tst == '1') and r.dig ~= '' then digests = r.dig .. ' ' .. digest end
local sends = tonumber(r.snd) + 1
local waits = {}
for wait in string.gmatch(cooldowns, '%S+') do waits[#waits + 1] = tonumber(wait) end
redis.call('HSET', challenge, 'dig', digests, 'snd', sends, 'nxt', now + waits[math.min(sends, #waits)])
return {'ok', unpack(redis.call('HGETALL', challenge))}
