local challenge = KEYS[1]
local channel, transport, message, sent_at = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local hosted, drop, keep = ARGV[5], ARGV[6], ARGV[7] == '1'
local function drop_digest(digest)
  local kept = {}
  for stored in string.gmatch(redis.call('HGET', challenge, 'dig') or '', '%S+') do
    if stored ~= digest then kept[#kept + 1] = stored end
  end
  redis.call('HSET', challenge, 'dig', table.concat(kept, ' '))
end
local function record_delivery()
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
if record_delivery() then return 1 end
return 0
