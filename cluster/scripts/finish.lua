-- finish.lua: record how attempts ended, each atomically with the removal of its lease.
-- Fencing: an attempt is accepted only from the current lease holder (status running, same
-- attempt number, same worker). A stale attempt changes nothing but its own attempt record,
-- which is marked stale_<outcome>, so the extra execution stays visible.
-- The sets are written with one command per batch (ZREM leases, ZADD per index).
--
-- KEYS[1]  leases zset of the queue
-- KEYS[2]  scheduled zset of the queue
-- KEYS[3]  dead zset of the queue
-- KEYS[4]  idx:succeeded
-- KEYS[5]  idx:scheduled
-- KEYS[6]  idx:failed
--
-- ARGV[1]  now (ms)
-- ARGV[2]  worker id
-- ARGV[3]  lifetime of a terminal job record (s)
-- ARGV[4]  job key prefix (record keys are built from the reported ids)
-- ARGV[5]  JSON array, 6 values per attempt: id, attempt, outcome (succeeded | failed |
--   timeout), result JSON (on success) or error text, retry time (ms) if a retry is allowed,
--   attempt record tail (the attempt's JSON object without its opening brace)
--
-- Returns a JSON array: per attempt the job's resulting state: succeeded | scheduled | failed,
-- or stale (fenced off), duplicate (already recorded), missing (no such job).

local now, wid, ttl, prefix = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4]
local batch = cjson.decode(ARGV[5])
local out, unleased = {}, {}
local added = {[KEYS[2]] = {}, [KEYS[3]] = {}, [KEYS[4]] = {}, [KEYS[5]] = {}, [KEYS[6]] = {}}

local function variadic(command, key, args)  -- in chunks: unpack() is bounded by the C stack
  for i = 1, #args, 2000 do
    redis.call(command, key, unpack(args, i, math.min(i + 1999, #args)))
  end
end

local function add(key, score, id)
  local list = added[key]
  list[#list + 1] = score
  list[#list + 1] = id
end

for a = 1, #batch, 6 do
  local id, attempt, outcome = batch[a], batch[a + 1], batch[a + 2]
  local value, retry_at, tail = batch[a + 3], batch[a + 4], batch[a + 5]
  local key = prefix .. id
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
      redis.call('HSET', key, 'att:' .. attempt, '{"outcome":"stale_' .. outcome .. '",' .. tail)
    end
  else
    local seq = f[6]
    local record = '{"outcome":"' .. outcome .. '",' .. tail
    unleased[#unleased + 1] = id
    local left = tonumber(f[5]) - (attempt - tonumber(f[4]))
    if outcome == 'succeeded' then
      state = 'succeeded'
      redis.call('HSET', key, 'status', state, 'result', value, 'finished_at', now,
        'att:' .. attempt, record)
      redis.call('HDEL', key, 'lease_expires_at', 'error')
      add(KEYS[4], seq, id)
      redis.call('EXPIRE', key, ttl)
    elseif left > 0 then
      state = 'scheduled'
      redis.call('HSET', key, 'status', state, 'error', value, 'run_at', retry_at,
        'att:' .. attempt, record)
      redis.call('HDEL', key, 'lease_expires_at')
      add(KEYS[2], retry_at, id)
      add(KEYS[5], seq, id)
    else
      state = 'failed'
      redis.call('HSET', key, 'status', state, 'error', value, 'finished_at', now,
        'att:' .. attempt, record)
      redis.call('HDEL', key, 'lease_expires_at')
      add(KEYS[3], now, id)
      add(KEYS[6], seq, id)
      redis.call('EXPIRE', key, ttl)
    end
  end
  out[#out + 1] = state
end
variadic('ZREM', KEYS[1], unleased)
for i = 2, 6 do
  variadic('ZADD', KEYS[i], added[KEYS[i]])
end
return cjson.encode(out)
