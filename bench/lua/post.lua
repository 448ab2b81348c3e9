-- wrk -s bench/lua/post.lua URL -- BODY_FILE CONTENT_TYPE [AUTHORIZATION] [MODE] [NEW_EVERY] [WINDOW]
-- POSTs the bytes of BODY_FILE on every request and prints one JSON line when done. If the body
-- holds the marker @@UID@@, each request gets a fresh uid there (AdmissionReview uids are unique).
-- MODE "one" (default): the whole file is one body, repeated. Otherwise the file holds many
-- bodies separated by "\n@@NEXT-BODY@@\n" (bench/payloads.py: write_many):
--   distinct: each request sends the next body in turn (more bodies than any cache holds);
--   mix: a GitOps-like stream: one request in NEW_EVERY (default 5) sends the next new body,
--        the others repeat one of the WINDOW (default 8) most recently introduced bodies.
-- The JSON line counts the requests that repeated an object sent among the last 256 ("repeats":
-- what a 256-entry decision cache could answer).
local headers, mode, new_every, window
local bodies = {}
local reqs = {}
local next_new, introduced = 1, 0
counter, repeats = 0, 0 -- globals: done() reads them from each thread (thread:get)
local threads = {}
local tag = tostring(math.random(100000, 999999))
local SEP = "\n@@NEXT-BODY@@\n"

local function split(data)
  local out, pos = {}, 1
  while true do
    local s, e = string.find(data, SEP, pos, true)
    if not s then
      table.insert(out, string.sub(data, pos))
      return out
    end
    table.insert(out, string.sub(data, pos, s - 1))
    pos = e + 1
  end
end

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local fh = assert(io.open(args[1], "rb"))
  local data = fh:read("*a")
  fh:close()
  headers = { ["Content-Type"] = args[2] }
  if args[3] ~= nil and args[3] ~= "" then
    headers["Authorization"] = args[3]
  end
  mode = args[4] or "one"
  new_every = tonumber(args[5] or "5")
  window = tonumber(args[6] or "8")
  math.randomseed(12345)
  local list = (mode == "one") and { data } or split(data)
  for i, body in ipairs(list) do
    local at = string.find(body, "@@UID@@", 1, true)
    if at then
      bodies[i] = { string.sub(body, 1, at - 1), string.sub(body, at + 7) }
    else
      reqs[i] = wrk.format("POST", nil, headers, body)
    end
  end
end

local function pick()
  local n = #bodies > 0 and #bodies or #reqs
  if mode == "one" then
    return 1, counter > 1
  end
  if mode == "distinct" or introduced == 0 or math.random(new_every) == 1 then
    local i = next_new
    next_new = next_new % n + 1
    introduced = introduced + 1
    -- a body comes back only after all n others: a repeat only if n is within a cache's reach
    return i, introduced > n and n <= 256
  end
  local back = math.random(math.min(window, introduced)) - 1
  return ((next_new - 2 - back) % n) + 1, true
end

function request()
  counter = counter + 1
  local i, seen = pick()
  if seen then
    repeats = repeats + 1
  end
  if reqs[i] then
    return reqs[i]
  end
  local b = bodies[i]
  return wrk.format("POST", nil, headers, b[1] .. "bench-" .. tag .. "-" .. counter .. b[2])
end

function done(summary, latency, requests)
  local e = summary.errors
  local sent, repeats = 0, 0
  for _, t in ipairs(threads) do
    sent = sent + t:get("counter")
    repeats = repeats + t:get("repeats")
  end
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"repeats":%d,"sent":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.max,
    repeats, sent))
end
