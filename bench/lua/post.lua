-- wrk -s bench/lua/post.lua URL -- BODY_FILE CONTENT_TYPE [AUTHORIZATION]
-- POSTs the bytes of BODY_FILE on every request and prints one JSON line when done. If the body
-- holds the marker @@UID@@, each request gets a fresh uid there (AdmissionReview uids are unique).
local req, prefix, suffix, headers
local counter = 0
local tag = tostring(math.random(100000, 999999))

function init(args)
  local fh = assert(io.open(args[1], "rb"))
  local body = fh:read("*a")
  fh:close()
  headers = { ["Content-Type"] = args[2] }
  if args[3] ~= nil and args[3] ~= "" then
    headers["Authorization"] = args[3]
  end
  local at = string.find(body, "@@UID@@", 1, true)
  if at then
    prefix, suffix = string.sub(body, 1, at - 1), string.sub(body, at + 7)
  else
    req = wrk.format("POST", nil, headers, body)
  end
end

function request()
  if req then
    return req
  end
  counter = counter + 1
  return wrk.format("POST", nil, headers, prefix .. "bench-" .. tag .. "-" .. counter .. suffix)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
