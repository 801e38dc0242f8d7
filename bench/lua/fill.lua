-- Verifies extra license i = 0 .. FILL_COUNT-1 (`gumgate sandbox --extra-licenses N`), each wrk
-- thread walking its own disjoint slice; a finished slice starts over (repeats are cache hits),
-- so wrk can run until the caller sees enough entries and stops it with SIGINT.
-- The key formula is `seed::extra_license_key` in crates/gumgate-sandbox/src/seed.rs.
-- Env: PRODUCT_ID (form-encoded), FILL_COUNT, FILL_THREADS (= wrk -t).

local product = os.getenv("PRODUCT_ID")
local count = tonumber(os.getenv("FILL_COUNT"))
local nthreads = tonumber(os.getenv("FILL_THREADS"))
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local span = math.ceil(count / nthreads)
  lo = tid * span
  hi = math.min(lo + span, count)
  cursor = lo
  laps = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  local i = cursor
  cursor = cursor + 1
  if cursor >= hi then
    cursor = lo
    laps = laps + 1
  end
  local key = string.format("EB000000-%08X-%08X-%08X", i, 4294967295 - i, i)
  return wrk.format(nil, nil, nil,
    "product_id=" .. product .. "&license_key=" .. key .. "&increment_uses_count=false")
end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("fill thread %d: completed %d lap(s) of its slice\n",
      t:get("tid"), t:get("laps")))
  end
end
