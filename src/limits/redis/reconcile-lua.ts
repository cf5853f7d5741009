import { READ_NUMBER_LUA } from "./lua.js";
/**
 * Reconciles reservations: adjusts every counter by actual − reserved atomically in one EVALSHA.
 * It is the arithmetic of src/limits/memory/adjust.ts, operation for operation (IEEE doubles in
 * both); change them together.
 *
 * KEYS: three per adjustment: target (the reservation's own counter), current and previous (what
 *       an admission now reads, for `remaining`); keys may repeat.
 * ARGV: nowMs, onceTtlMs ('0': no once marker), then six per adjustment: algorithm, limit,
 *       windowSeconds, delta, live ('1' or '0'), targetEndMs.
 * With a once marker, the last KEY is it: when it exists the script changes nothing and replies
 * what it stored; else it applies and stores its reply there for onceTtlMs (ReconcileOptions.once).
 * Reply: three integers per adjustment: applied (1 or 0), reason (0 none, 1 window_rolled,
 *        2 expired), remaining.
 *
 * Window counters keep their TTL (INCRBY); a charge that creates one gives it the time until its
 * window stops counting. A token bucket's TAT is rewritten with the time until it is full again.
 */
export const RECONCILE_LUA = `
local now = tonumber(ARGV[1])
local onceTtl = tonumber(ARGV[2])
local n = (#ARGV - 2) / 6
local out = {}
if onceTtl > 0 then
  local done = redis.call('GET', KEYS[#KEYS])
  if done then return cjson.decode(done) end
end

${READ_NUMBER_LUA}
local function fmt(v)
  return string.format('%.17g', v)
end

for i = 1, n do
  local a = 2 + (i - 1) * 6
  local algo = ARGV[a + 1]
  local limit = tonumber(ARGV[a + 2])
  local window = tonumber(ARGV[a + 3])
  local delta = tonumber(ARGV[a + 4])
  local live = ARGV[a + 5] == '1'
  local targetEnd = tonumber(ARGV[a + 6])
  local target = KEYS[3 * i - 2]
  local current = KEYS[3 * i - 1]
  local previous = KEYS[3 * i]
  local W = window * 1000
  local applied = 1
  local reason = 0

  if algo == 'token_bucket' then
    if delta ~= 0 then
      local shift = (delta * W) / limit
      local stored = readNumber(target)
      if stored == nil or stored <= now then
        if delta < 0 then
          applied = 0
          reason = 2
        else
          local tat = now + shift
          redis.call('SET', target, fmt(tat), 'PX', fmt(math.max(1, math.ceil(tat - now))))
        end
      else
        local tat = stored + shift
        if tat <= now then
          redis.call('DEL', target)
        else
          redis.call('SET', target, fmt(tat), 'PX', fmt(math.max(1, math.ceil(tat - now))))
        end
      end
    end
  elseif algo == 'fixed_window' or algo == 'sliding_window' then
    if not live then
      applied = 0
      reason = 1
    elseif delta ~= 0 then
      local stored = readNumber(target)
      if stored == nil then
        if delta < 0 then
          applied = 0
          reason = 2
        else
          redis.call('SET', target, fmt(delta), 'PX', fmt(math.max(1, targetEnd - now)))
        end
      else
        local amount = math.max(0, stored + delta) - stored
        if amount ~= 0 then redis.call('INCRBY', target, fmt(amount)) end
      end
    end
  else
    error('tollgate: unknown algorithm ' .. tostring(algo))
  end

  local remaining
  if algo == 'fixed_window' then
    remaining = math.max(0, limit - (readNumber(current) or 0))
  elseif algo == 'sliding_window' then
    local nowSeconds = math.floor(now / 1000)
    local e = now - (nowSeconds - (nowSeconds % window)) * 1000
    local used = (readNumber(current) or 0) + math.floor(((readNumber(previous) or 0) * (W - e)) / W)
    remaining = math.max(0, limit - used)
  else
    local tat = math.max(readNumber(current) or now, now)
    remaining = math.min(limit, math.max(0, math.floor(((now + W - tat) * limit) / W)))
  end
  out[#out + 1] = applied
  out[#out + 1] = reason
  out[#out + 1] = remaining
end
if onceTtl > 0 then redis.call('SET', KEYS[#KEYS], cjson.encode(out), 'PX', onceTtl) end
return out
`;
