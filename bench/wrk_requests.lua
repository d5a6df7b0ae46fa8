-- wrk script of bench/common.py: requests taken in turn from the file WRK_REQUESTS, one per line
-- "METHOD PATH [JSON body]", or "METHOD PATH<TAB>CONTENT-TYPE<TAB>BODY" for a body of another type
-- (e.g. a form); at the end one line "WRK_JSON {...}" with the counts and percentiles. The headers
-- given to wrk with -H are sent with every request (wrk.format drops them when it is given a table).
local requests = {}
local n = 0
local counter = 0

for line in io.lines(os.getenv("WRK_REQUESTS")) do
  local method, path, rest = line:match("^(%S+) (%S+) ?(.*)$")
  if method then
    local headers = {}
    for name, value in pairs(wrk.headers) do
      headers[name] = value
    end
    local content_type, body = rest:match("^\t([^\t]*)\t(.*)$")
    if content_type == nil then
      content_type, body = "application/json", rest
    end
    if body ~= "" then
      headers["Content-Type"] = content_type
    else
      body = nil
    end
    n = n + 1
    requests[n] = wrk.format(method, path, headers, body)
  end
end

request = function()
  counter = counter % n + 1
  return requests[counter]
end

done = function(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, '
      .. '"p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
