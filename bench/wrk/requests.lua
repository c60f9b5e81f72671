-- One request shape for every wrk scenario of bench/run.py.
-- Arguments (after `--`): method, path, body template, headers ("Name: value" lines),
-- token file ("" for none), mode ("once": each token used by one request only, as codes and
-- rotating refresh tokens must be; "cycle": tokens reused in turn), number of wrk threads.
-- "{TOKEN}" in the body or a header is replaced by the request's token.
-- done() prints one line "BENCH_RESULT {json}" that the harness reads.

local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

local method, path, body_template, mode
local headers = {}
local tokens = {}
local next_token = 1

function init(args)
  method, path, body_template, mode = args[1], args[2], args[3], args[6]
  for line in string.gmatch(args[4], "[^\n]+") do
    local name, value = string.match(line, "^([^:]+):%s*(.*)$")
    if name then headers[name] = value end
  end
  local threads = tonumber(args[7])
  if args[5] ~= "" then
    local n = 0
    for line in io.lines(args[5]) do
      if line ~= "" then
        -- Threads take disjoint shares, so a single-use token is never sent twice.
        if n % threads == thread_index then tokens[#tokens + 1] = line end
        n = n + 1
      end
    end
  end
end

local function fill(template, token)
  if token == nil then return template end
  local filled = string.gsub(template, "{TOKEN}", token)
  return filled
end

function request()
  local token = nil
  if #tokens > 0 then
    if mode == "cycle" then
      token = tokens[(next_token - 1) % #tokens + 1]
    else
      -- Out of tokens: an unknown one, answered 4xx and counted as an error by the harness.
      token = tokens[next_token] or "exhausted-token"
    end
    next_token = next_token + 1
  end
  local h = {}
  for name, value in pairs(headers) do h[name] = fill(value, token) end
  local body = nil
  if body_template ~= "" then body = fill(body_template, token) end
  return wrk.format(method, path, h, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
