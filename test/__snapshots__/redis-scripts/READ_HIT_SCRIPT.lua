local counter = KEYS[1]
local function read_hit(key)
  local left = redis.call('PTTL', key)
  if left < 0 then return '0', 0 end
  return redis.call('GET', key) or '0', left
end
local count, left = read_hit(counter)
return {count, tostring(left)}
