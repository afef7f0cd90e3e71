local challenge = KEYS[1]
local digest = ARGV[1]
local function drop_digest(digest)
  local kept = {}
  for stored in string.gmatch(redis.call('HGET', challenge, 'dig') or '', '%S+') do
    if stored ~= digest then kept[#kept + 1] = stored end
  end
  redis.call('HSET', challenge, 'dig', table.concat(kept, ' '))
end
if redis.call('EXISTS', challenge) == 0 or redis.call('HEXISTS', challenge, 'vat') == 1 then return 0 end
drop_digest(digest)
return 1
