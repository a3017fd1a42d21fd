-- finish.lua: record how attempts ended, each atomically with the removal of its lease.
-- Fencing: an attempt is accepted only from the current lease holder (status running, same
-- attempt number, same worker). A stale attempt changes nothing but its own attempt record,
-- which is marked stale_<outcome>, so the extra execution stays visible.
--
-- KEYS[1]  leases zset of the queue
-- KEYS[2]  scheduled zset of the queue
-- KEYS[3]  dead zset of the queue
-- KEYS[4]  idx:running
-- KEYS[5]  idx:succeeded
-- KEYS[6]  idx:scheduled
-- KEYS[7]  idx:failed
-- KEYS[8 .. 7+n]  the job hashes, in ARGV order
--
-- ARGV[1]  now (ms)
-- ARGV[2]  worker id
-- ARGV[3]  lifetime of a terminal job record (s)
-- ARGV[4]  n, the number of attempts reported
-- then 6 values per attempt: id, attempt, outcome (succeeded | failed | timeout),
--   result JSON (on success) or error text, retry time (ms) if a retry is allowed,
--   attempt record tail (the attempt's JSON object without its opening brace)
--
-- Returns per attempt the job's resulting state: succeeded | scheduled | failed, or stale
-- (fenced off), duplicate (already recorded), missing (no such job).

local now, wid, ttl, n = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}

for j = 0, n - 1 do
  local a = 5 + j * 6
  local id, attempt, outcome = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2]
  local value, retry_at, tail = ARGV[a + 3], tonumber(ARGV[a + 4]), ARGV[a + 5]
  local key = KEYS[8 + j]
  local f = redis.call('HMGET', key, 'status', 'attempts', 'worker', 'base', 'max_attempts', 'seq')
  local state
  if not f[1] then
    state = 'missing'
  elseif f[1] ~= 'running' or tonumber(f[2]) ~= attempt or f[3] ~= wid then
    -- the attempt lost its lease (or was handed back): record the late execution as stale;
    -- an attempt already finished is a repeated report and changes nothing
    state = 'duplicate'
    local cur = redis.call('HGET', key, 'att:' .. attempt)
    local was = cur and cjson.decode(cur).outcome
    if was == 'lease_expired' or was == 'released' then
      state = 'stale'
      redis.call('HSET', key, 'att:' .. attempt,
        '{"outcome":"stale_' .. outcome .. '",' .. tail)
    end
  else
    local seq = f[6]
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[4], id)
    redis.call('HSET', key, 'att:' .. attempt, '{"outcome":"' .. outcome .. '",' .. tail)
    redis.call('HDEL', key, 'lease_expires_at')
    local left = tonumber(f[5]) - (attempt - tonumber(f[4]))
    if outcome == 'succeeded' then
      state = 'succeeded'
      redis.call('HSET', key, 'status', state, 'result', value, 'finished_at', now)
      redis.call('HDEL', key, 'error')
      redis.call('ZADD', KEYS[5], seq, id)
      redis.call('EXPIRE', key, ttl)
    elseif left > 0 then
      state = 'scheduled'
      redis.call('HSET', key, 'status', state, 'error', value, 'run_at', retry_at)
      redis.call('ZADD', KEYS[2], retry_at, id)
      redis.call('ZADD', KEYS[6], seq, id)
    else
      state = 'failed'
      redis.call('HSET', key, 'status', state, 'error', value, 'finished_at', now)
      redis.call('ZADD', KEYS[3], now, id)
      redis.call('ZADD', KEYS[7], seq, id)
      redis.call('EXPIRE', key, ttl)
    end
  end
  out[#out + 1] = state
end
return out
