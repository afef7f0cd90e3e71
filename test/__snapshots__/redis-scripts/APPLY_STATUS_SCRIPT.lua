local challenge = KEYS[1]
local message, status = ARGV[1], ARGV[2]
local flat = redis.call('HGETALL', challenge)
if #flat == 0 then return {'gone'} end
local r = {}
for i = 1, #flat, 2 do r[flat[i]] = flat[i + 1] end
setmetatable(r, {__index = {bnd = '', txn = '', hid = '', att = '0', mid = '', sat = '0', dst = '', pay = '', ofa = '', tst = '0', lck = '0', vj = '', vat = '0'}})
if r.vat ~= '0' then return {'gone'} end
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
