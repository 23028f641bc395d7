-- Counts a login attempt, or refuses it: the Redis form of `LoginThrottle::begin`.
-- KEYS: 1 failures of the address (zset), 2 its attempts in flight (zset),
--       3 its ban (string with a TTL), 4 failures of the account (zset),
--       5 trust of this (account, address) pair (string with a TTL)
-- ARGV: 1 attempt id, 2 max failures (0: no address limit), 3 window ms,
--       4 account max failures (0: no account limit), 5 account window ms,
--       6 how long an attempt may stay in flight ms, 7 the wait when in-flight
--       attempts fill the allowance ms
-- Returns {0, 0} when counted, {1, ms} banned, {2, ms} in flight, {3, ms} account limit.
-- Time is Redis's, so every server sharing it counts on one clock.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max, window = tonumber(ARGV[2]), tonumber(ARGV[3])
local amax, awindow = tonumber(ARGV[4]), tonumber(ARGV[5])
local in_flight = tonumber(ARGV[6])
if max > 0 then
  local left = redis.call('PTTL', KEYS[3])
  if left > 0 then
    return {1, left}
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - in_flight)
  if redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2]) >= max then
    return {2, tonumber(ARGV[7])}
  end
end
if amax > 0 and redis.call('EXISTS', KEYS[5]) == 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - awindow)
  if redis.call('ZCARD', KEYS[4]) >= amax then
    local oldest = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
    return {3, awindow - (now - tonumber(oldest[2]))}
  end
end
if max > 0 then
  redis.call('ZADD', KEYS[2], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[2], in_flight)
end
return {0, 0}
