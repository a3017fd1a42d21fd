-- ratelimit.lua: a token bucket per client (API token or address), refilled continuously at
-- `rate` tokens per second up to `burst`. A request takes `cost` tokens (one per job), all or
-- nothing: a refused request takes none, so retrying after `wait_ms` succeeds.
--
-- KEYS[1]  the client's bucket hash (fields: tokens, at)
--
-- ARGV[1]  rate, tokens added per second (> 0)
-- ARGV[2]  burst, the most tokens the bucket holds (>= 1)
-- ARGV[3]  cost, the tokens this request takes (1 .. burst)
--
-- Returns {allowed (1 or 0), wait_ms (0 if allowed, else until `cost` tokens are there),
--          tokens left (rounded down)}.
-- The clock is Redis' own (TIME), shared by every master. The bucket expires once it would be
-- full again, so an idle client costs no memory; a missing bucket is a full one.

local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local f = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(f[1]), tonumber(f[2])
if tokens == nil or at == nil then
  tokens, at = burst, now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
if tokens < cost then
  return {0, math.ceil((cost - tokens) * 1000 / rate), math.floor(tokens)}
end
tokens = tokens - cost
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
return {1, 0, math.floor(tokens)}
