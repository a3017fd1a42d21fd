-- list_queued.lua (read-only): the newest queued jobs of one queue, newest first.
-- The ready zset is ordered by priority band, then by sequence number (score = band * 2^40 +
-- order), so "newest first" is one range per band present; this walks the bands from the top
-- and merges them. Bands are few (one per priority in use), ranges are LIMITed.
--
-- KEYS[1]  ready zset of the queue
--
-- ARGV[1]  cursor: only jobs whose order number is below it (-1: no cursor)
-- ARGV[2]  limit, the most jobs to return
--
-- Returns 2 values per job, newest first: id, order number (its sequence number; a retried
-- job gets a fresh one when it is re-queued).

local BAND = 1099511627776
local cursor, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local found = {}
local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
while #top > 0 do
  local low = math.floor(tonumber(top[2]) / BAND) * BAND
  local high = string.format('%.0f', low + BAND - 1)
  if cursor >= 0 then
    high = '(' .. string.format('%.0f', low + cursor)
  end
  local rows = redis.call('ZREVRANGEBYSCORE', KEYS[1], high, string.format('%.0f', low),
    'WITHSCORES', 'LIMIT', 0, limit)
  for i = 1, #rows, 2 do
    found[#found + 1] = {rows[i], tonumber(rows[i + 1]) - low}
  end
  top = redis.call('ZREVRANGEBYSCORE', KEYS[1], '(' .. string.format('%.0f', low), '-inf',
    'WITHSCORES', 'LIMIT', 0, 1)
end
table.sort(found, function(a, b) return a[2] > b[2] end)
local out = {}
for i = 1, math.min(limit, #found) do
  out[#out + 1] = found[i][1]
  out[#out + 1] = string.format('%.0f', found[i][2])
end
return out
