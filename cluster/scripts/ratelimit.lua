-- ratelimit.lua: admission of a submission in one round trip: the queue-depth ceiling, then a
-- token bucket per client (API token or address), refilled continuously at `rate` tokens per
-- second up to `burst`. A request takes `cost` tokens (one per job), all or nothing: a refused
-- request takes none, so retrying after `wait_ms` succeeds. A request refused for a full queue
-- takes no tokens either.
--
-- KEYS[1]  the client's bucket hash (fields: tokens, at)
-- KEYS[2], KEYS[3], ...  the ready and scheduled zsets of each queue the request adds to, in
--          pairs (none without a depth ceiling)
--
-- ARGV[1]  rate, tokens added per second (> 0; 0 = no rate limit, the bucket is not touched)
-- ARGV[2]  burst, the most tokens the bucket holds (>= 1)
-- ARGV[3]  cost, the tokens this request takes (1 .. burst)
-- ARGV[4]  ceiling, the most jobs (ready + scheduled) a queue may hold; absent or 0 = none
-- ARGV[5], ARGV[6], ...  the jobs this request adds to each queue, in the order of the pairs
--
-- Returns {allowed (1 or 0), wait_ms (0 if allowed, else until `cost` tokens are there),
--          tokens left (rounded down), full (0, or the number of the first queue pair whose
--          depth plus its new jobs passes the ceiling), that queue's depth}.
-- The clock is Redis' own (TIME), shared by every master. The bucket expires once it would be
-- full again, so an idle client costs no memory; a missing bucket is a full one.

local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local ceiling = tonumber(ARGV[4] or '0')

local tokens, now = 0, 0
if rate > 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local f = redis.call('HMGET', KEYS[1], 'tokens', 'at')
  local at
  tokens, at = tonumber(f[1]), tonumber(f[2])
  if tokens == nil or at == nil then
    tokens, at = burst, now
  end
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
end

if ceiling > 0 then
  for q = 1, (#KEYS - 1) / 2 do
    local depth = redis.call('ZCARD', KEYS[2 * q]) + redis.call('ZCARD', KEYS[2 * q + 1])
    if depth + tonumber(ARGV[4 + q]) > ceiling then
      return {0, 0, math.floor(tokens), q, depth}
    end
  end
end

if rate <= 0 then
  return {1, 0, 0, 0, 0}
end
if tokens < cost then
  return {0, math.ceil((cost - tokens) * 1000 / rate), math.floor(tokens), 0, 0}
end
tokens = tokens - cost
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
return {1, 0, math.floor(tokens), 0, 0}
