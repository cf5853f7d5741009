/**
 * Applies every limit of one request atomically in one EVALSHA. It is the arithmetic of
 * src/limits/memory/algorithms.ts, operation for operation (IEEE doubles in both), so both stores
 * answer identically; change them together.
 *
 * KEYS: two per limit: the current key and the previous-window key (sliding_window), or the same
 *       key twice.
 * ARGV: nowMs, stopIncrementWhenOver ('1' or '0'), then four per limit: algorithm, limit,
 *       windowSeconds, hits.
 * Reply: three integers per limit: over (1 or 0), remaining, resetSeconds.
 *
 * Counters get their TTL only when created (SET ... PX); a token bucket's TAT is rewritten with
 * a fresh TTL on each admitted request, since it expires when the bucket is full again.
 */
/** Reads a counter; a key that holds something else is an error, never a silent zero. Shared by both scripts. */
export const READ_NUMBER_LUA = `
local function readNumber(key)
  local raw = redis.call('GET', key)
  if raw == false then return nil end
  local v = tonumber(raw)
  if v == nil then error('tollgate: key ' .. key .. ' does not hold a number') end
  return v
end
`;

/**
 * applyLimits(now, stop, keyBase, argBase, n): the limits of one request, whose keys start after
 * KEYS[keyBase] and whose four args each start after ARGV[argBase]; returns three integers per limit.
 */
const APPLY_FUNCTION_LUA = `
${READ_NUMBER_LUA}
local function ceilSeconds(ms)
  return math.ceil(ms / 1000)
end

local function fmt(v)
  return string.format('%.17g', v)
end

local function applyLimits(now, stop, keyBase, argBase, n)
local plans = {}
local anyOver = false

for i = 1, n do
  local a = argBase + (i - 1) * 4
  local p = {
    algo = ARGV[a + 1],
    limit = tonumber(ARGV[a + 2]),
    window = tonumber(ARGV[a + 3]),
    hits = tonumber(ARGV[a + 4]),
    key = KEYS[keyBase + 2 * i - 1],
    prevKey = KEYS[keyBase + 2 * i],
  }
  local W = p.window * 1000
  p.W = W
  if p.algo == 'fixed_window' then
    local cur = readNumber(p.key)
    p.exists = cur ~= nil
    p.before = cur or 0
    p.over = p.before + p.hits > p.limit
    local nowSeconds = math.floor(now / 1000)
    p.reset = p.window - (nowSeconds % p.window)
    if p.hits > 0 then p.ttlMs = W end
  elseif p.algo == 'sliding_window' then
    local cur = readNumber(p.key)
    p.exists = cur ~= nil
    local curr = cur or 0
    local prev = readNumber(p.prevKey) or 0
    local nowSeconds = math.floor(now / 1000)
    local e = now - (nowSeconds - (nowSeconds % p.window)) * 1000
    p.used = curr + math.floor((prev * (W - e)) / W)
    p.over = p.used + p.hits > p.limit
    p.reset = ceilSeconds(W - e)
    if p.over and p.hits <= p.limit then
      local need = p.limit - p.hits
      local wait
      if curr <= need then
        local maxLeft = math.ceil(((need - curr + 1) * W) / prev) - 1
        wait = W - maxLeft - e
      else
        local maxLeft = math.ceil(((need + 1) * W) / curr) - 1
        wait = W - e + math.max(0, W - maxLeft)
      end
      p.reset = math.max(1, ceilSeconds(wait))
    end
    if p.hits > 0 then p.ttlMs = 2 * W end
  elseif p.algo == 'token_bucket' then
    local stored = readNumber(p.key)
    p.tat = math.max(stored or now, now)
    if p.hits > p.limit then
      p.over = true
      p.impossible = true
    else
      p.newTat = p.tat
      if p.hits > 0 then p.newTat = p.tat + (p.hits * W) / p.limit end
      p.allowAt = p.newTat - W
      p.over = p.allowAt > now
      if p.hits > 0 then p.ttlMs = math.max(1, math.ceil(p.newTat - now)) end
    end
  else
    error('tollgate: unknown algorithm ' .. tostring(p.algo))
  end
  if p.over then anyOver = true end
  plans[i] = p
end

local out = {}
for i = 1, n do
  local p = plans[i]
  local W = p.W
  local commit = false
  if p.ttlMs ~= nil then
    if p.algo == 'fixed_window' then
      commit = (not stop) or (not anyOver) or p.over
    else
      commit = (not p.over) and ((not stop) or (not anyOver))
    end
  end
  if commit then
    if p.algo == 'token_bucket' then
      redis.call('SET', p.key, fmt(p.newTat), 'PX', fmt(p.ttlMs))
    elseif p.exists then
      redis.call('INCRBY', p.key, fmt(p.hits))
    else
      redis.call('SET', p.key, fmt(p.hits), 'PX', fmt(p.ttlMs))
    end
  end

  local remaining
  local reset
  if p.algo == 'fixed_window' then
    local count = p.before
    if commit then count = p.before + p.hits end
    remaining = math.max(0, p.limit - count)
    reset = p.reset
  elseif p.algo == 'sliding_window' then
    local used = p.used
    if commit then used = used + p.hits end
    remaining = math.max(0, p.limit - used)
    reset = p.reset
  else
    local function available(at)
      return math.min(p.limit, math.max(0, math.floor(((now + W - at) * p.limit) / W)))
    end
    if p.impossible then
      remaining = available(p.tat)
      reset = p.window
    elseif p.over then
      remaining = available(p.tat)
      reset = math.max(1, ceilSeconds(p.allowAt - now))
    else
      local after = p.tat
      if commit then after = p.newTat end
      remaining = available(after)
      reset = ceilSeconds(after - now)
    end
  end
  local over = 0
  if p.over then over = 1 end
  out[#out + 1] = over
  out[#out + 1] = remaining
  out[#out + 1] = reset
end
return out
end
`;

export const APPLY_LIMITS_LUA = `
${APPLY_FUNCTION_LUA}
return applyLimits(tonumber(ARGV[1]), ARGV[2] == '1', 0, 2, (#ARGV - 2) / 4)
`;

/**
 * Several requests' apply scripts in one EVALSHA, one after another, as a pipeline of
 * APPLY_LIMITS_LUA calls would run them (each request keeps its own nowMs and stop flag).
 *
 * KEYS: every request's keys, in order. ARGV: the number of requests, then per request: nowMs,
 * stop ('1' or '0'), its number of limits n, then its 4n args.
 * Reply: per request, its three integers per limit, or the text of the error that stopped it (a
 * failing request, such as one whose key holds something else, leaves the others answered).
 */
export const APPLY_BATCH_LUA = `
${APPLY_FUNCTION_LUA}
local replies = {}
local a = 2
local k = 0
for r = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a + 2])
  local ok, res = pcall(applyLimits, tonumber(ARGV[a]), ARGV[a + 1] == '1', k, a + 2, n)
  if ok then
    replies[r] = res
  elseif type(res) == 'table' then
    replies[r] = tostring(res.err)
  else
    replies[r] = tostring(res)
  end
  a = a + 3 + 4 * n
  k = k + 2 * n
end
return replies
`;
