-- Admits one request against sliding-window rate counters and budget counters, all or
-- nothing: every counter is checked first, and only if all fit are they all charged.
--
-- KEYS: for each of the n rate counters, its current then its previous window key; then
--       one key per budget counter.
-- ARGV: window_ms, elapsed_ms, window_ttl_ms, n; then n pairs (limit, cost); then per
--       budget counter (limit, seed, reserve, ttl_ms).
-- Returns {1, prev_1, cur_1, ..., prev_n, cur_n} with the rate counts after charging, or
-- {0, i, prev, cur} when rate counter i (1-based) is full, or {0, n + j, committed} when
-- budget counter j cannot take its reservation.
local window = tonumber(ARGV[1])
local elapsed = tonumber(ARGV[2])
local window_ttl = ARGV[3]
local n = tonumber(ARGV[4])
local budgets = #KEYS - 2 * n

local prevs, curs = {}, {}
for i = 1, n do
  local limit = tonumber(ARGV[3 + 2 * i])
  local cost = tonumber(ARGV[4 + 2 * i])
  local cur = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local prev = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  if prev * (window - elapsed) + (cur + cost) * window > limit * window then
    return {0, i, prev, cur}
  end
  prevs[i], curs[i] = prev, cur
end

for j = 1, budgets do
  local a = 5 + 2 * n + 4 * (j - 1)
  local limit = tonumber(ARGV[a])
  local reserve = tonumber(ARGV[a + 2])
  local committed = tonumber(redis.call('GET', KEYS[2 * n + j]) or ARGV[a + 1])
  if committed >= limit or committed + reserve > limit then
    return {0, n + j, committed}
  end
end

local out = {1}
for i = 1, n do
  local key = KEYS[2 * i - 1]
  local cost = tonumber(ARGV[4 + 2 * i])
  local cur = curs[i]
  if cost > 0 then
    cur = redis.call('INCRBY', key, cost)
    redis.call('PEXPIRE', key, window_ttl)
  end
  out[2 * i] = prevs[i]
  out[2 * i + 1] = cur
end

for j = 1, budgets do
  local a = 5 + 2 * n + 4 * (j - 1)
  local key = KEYS[2 * n + j]
  redis.call('SET', key, ARGV[a + 1], 'NX')
  redis.call('INCRBY', key, ARGV[a + 2])
  redis.call('PEXPIRE', key, ARGV[a + 3])
end
return out
