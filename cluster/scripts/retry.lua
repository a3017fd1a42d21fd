-- retry.lua: re-queue a failed (dead-lettered) or cancelled job with a fresh attempt budget.
-- The attempt counter keeps counting (it is the fencing token); base moves up to it.
--
-- KEYS[1]  the job hash
-- KEYS[2]  ready zset of the job's queue
-- KEYS[3]  dead zset of the job's queue
-- KEYS[4]  signal list of the job's queue
-- KEYS[5]  idx:failed
-- KEYS[6]  idx:cancelled
-- KEYS[7]  seq counter
--
-- ARGV[1]  job id
-- ARGV[2]  signal cap
--
-- Returns {ok, status}: ok = 1 and 'queued' when re-queued; ok = 0 and the current status
-- otherwise ('' when there is no such job).

local id, cap = ARGV[1], tonumber(ARGV[2])
local f = redis.call('HMGET', KEYS[1], 'status', 'attempts', 'priority')
if f[1] ~= 'failed' and f[1] ~= 'cancelled' then
  return {0, f[1] or ''}
end
local score = (100 - tonumber(f[3])) * 1099511627776 + redis.call('INCR', KEYS[7])
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[5], id)
redis.call('ZREM', KEYS[6], id)
redis.call('ZADD', KEYS[2], score, id)
redis.call('HSET', KEYS[1], 'status', 'queued', 'base', f[2], 'score', score)
redis.call('HDEL', KEYS[1], 'finished_at')
redis.call('PERSIST', KEYS[1])
if redis.call('LLEN', KEYS[4]) < cap then
  redis.call('RPUSH', KEYS[4], 1)
end
return {1, 'queued'}
