-- cancel.lua: cancel a job that has not started (queued or scheduled).
--
-- KEYS[1]  the job hash
-- KEYS[2]  ready zset of the job's queue
-- KEYS[3]  scheduled zset of the job's queue
-- KEYS[4]  idx:scheduled
-- KEYS[5]  idx:cancelled
--
-- ARGV[1]  job id
-- ARGV[2]  now (ms)
-- ARGV[3]  lifetime of a terminal job record (s)
--
-- Returns {ok, status}: ok = 1 and status 'cancelled' when cancelled; ok = 0 and the job's
-- current status otherwise ('' when there is no such job).

local id, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local f = redis.call('HMGET', KEYS[1], 'status', 'seq')
if f[1] ~= 'queued' and f[1] ~= 'scheduled' then
  return {0, f[1] or ''}
end
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[4], id)
redis.call('ZADD', KEYS[5], f[2], id)
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished_at', now)
redis.call('EXPIRE', KEYS[1], ttl)
return {1, 'cancelled'}
