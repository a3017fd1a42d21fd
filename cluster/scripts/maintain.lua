-- maintain.lua: the periodic duties of one queue, run by every worker and by the master.
-- 1. promote: scheduled jobs whose time has come become ready.
-- 2. reclaim: running jobs whose lease lapsed (their worker died, froze or was cut off) go
--    back to ready at their original place, or end failed when no attempt is left (poison pill).
-- 3. forget: dead letters older than a terminal record's lifetime (their records have
--    expired), and the oldest index entries whose records are gone, so no set grows forever.
-- Running it from many processes at once is safe: each step is atomic and idempotent.
--
-- KEYS[1]  ready zset of the queue
-- KEYS[2]  scheduled zset of the queue
-- KEYS[3]  leases zset of the queue
-- KEYS[4]  dead zset of the queue
-- KEYS[5]  signal list of the queue
-- KEYS[6]  idx:scheduled
-- KEYS[7]  idx:failed
-- KEYS[8]  idx:all
-- KEYS[9]  idx:succeeded
-- KEYS[10] idx:cancelled
--
-- ARGV[1]  now (ms)
-- ARGV[2]  limit, the most jobs to move per step
-- ARGV[3]  job key prefix (ids come from the zsets, so their record keys are built from it)
-- ARGV[4]  lifetime of a terminal job record (s)
-- ARGV[5]  signal cap
--
-- Returns {promoted count, reclaimed count, failed count, reclaimed or failed ids...}.

local now, limit, prefix = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local ttl, cap = tonumber(ARGV[4]), tonumber(ARGV[5])
local PRUNE_BATCH = 20
local promoted, reclaimed, failed = 0, 0, 0
local ids = {}

local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[2], id)
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'status', 'score')
  if f[1] == 'scheduled' then
    redis.call('HSET', key, 'status', 'queued')
    redis.call('ZADD', KEYS[1], f[2], id)
    redis.call('ZREM', KEYS[6], id)
    promoted = promoted + 1
  end
end

local lapsed = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, limit)
for _, id in ipairs(lapsed) do
  redis.call('ZREM', KEYS[3], id)
  local key = prefix .. id
  local f = redis.call('HMGET', key, 'status', 'attempts', 'base', 'max_attempts', 'score',
    'seq', 'worker')
  if f[1] == 'running' then
    local attempt = tonumber(f[2])
    local att = redis.call('HGET', key, 'att:' .. attempt)
    if att then
      local rec = cjson.decode(att)
      rec.outcome = 'lease_expired'
      rec.finished_at = now
      redis.call('HSET', key, 'att:' .. attempt, cjson.encode(rec))
    end
    redis.call('HDEL', key, 'lease_expires_at')
    local why = 'lease expired on attempt ' .. attempt .. ': worker ' .. (f[7] or '?') ..
      ' stopped renewing it (died, froze or was cut off)'
    if tonumber(f[4]) - (attempt - tonumber(f[3])) > 0 then
      redis.call('HSET', key, 'status', 'queued', 'error', why)
      redis.call('ZADD', KEYS[1], f[5], id)
      reclaimed = reclaimed + 1
    else
      redis.call('HSET', key, 'status', 'failed', 'finished_at', now,
        'error', why .. '; no attempts left (poison pill)')
      redis.call('ZADD', KEYS[4], now, id)
      redis.call('ZADD', KEYS[7], f[6], id)
      redis.call('EXPIRE', key, ttl)
      failed = failed + 1
    end
    ids[#ids + 1] = id
  end
end

if (promoted + reclaimed) > 0 and redis.call('LLEN', KEYS[5]) < cap then
  redis.call('RPUSH', KEYS[5], 1)
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - ttl * 1000)
-- the oldest entries of every index that holds finished jobs (records expire oldest first)
for _, k in ipairs({7, 8, 9, 10}) do
  for _, id in ipairs(redis.call('ZRANGE', KEYS[k], 0, PRUNE_BATCH - 1)) do
    if redis.call('EXISTS', prefix .. id) == 0 then
      redis.call('ZREM', KEYS[8], id)
      redis.call('ZREM', KEYS[k], id)
    end
  end
end

local out = {promoted, reclaimed, failed}
for _, id in ipairs(ids) do out[#out + 1] = id end
return out
