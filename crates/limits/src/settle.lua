-- Replaces estimates with actual usage after a request.
--
-- KEYS: t token-window keys, then budget keys.
-- ARGV: t, window_ttl_ms, then one signed delta per key.
-- A token counter is created if needed (an estimate of zero wrote nothing) and removed
-- when it reaches zero. A budget counter that has expired is left alone: the next
-- admission re-seeds it from persisted spend. No counter goes below zero.
-- Returns what each budget counter holds afterwards, in KEYS order, -1 for one that has
-- expired.
local t = tonumber(ARGV[1])
local window_ttl = ARGV[2]
local totals = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local delta = tonumber(ARGV[2 + i])
  if i <= t then
    if delta ~= 0 then
      local v = redis.call('INCRBY', key, delta)
      if v <= 0 then
        redis.call('DEL', key)
      else
        redis.call('PEXPIRE', key, window_ttl)
      end
    end
  else
    local v = -1
    if redis.call('EXISTS', key) == 1 then
      v = redis.call('INCRBY', key, delta)
      if v < 0 then
        v = redis.call('INCRBY', key, -v)
      end
    end
    totals[#totals + 1] = v
  end
end
return totals
