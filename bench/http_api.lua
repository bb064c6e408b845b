-- wrk script of bench/http_api.py: POST transitions through the JSON API.
-- Run with one connection per thread (-t N -c N) and the plan file after "--": lines of
-- "<thread> <token> <case id> <version> <state>". Each thread cycles its own cases through
-- request_supplement <-> resubmit, sending the version the previous answer showed; an answer that is
-- not 200 takes its case out of the cycle (it would only collide again).

local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

cases = {}
token = nil
current = 0
last = nil
ok, conflict, other = 0, 0, 0

function init(args)
  for line in io.lines(args[1]) do
    local t, tok, id, version, state = line:match("^(%d+) (%S+) (%d+) (%d+) (%S+)$")
    if tonumber(t) == tid then
      token = tok
      table.insert(cases, {id = id, version = tonumber(version), state = state, live = true})
    end
  end
end

local function next_case()
  for _ = 1, #cases do
    current = current % #cases + 1
    if cases[current].live then return cases[current] end
  end
  return cases[current]  -- none left in step: keep asking (every answer counts as "other")
end

function request()
  last = next_case()
  local body
  if last.state == "submitted" then
    body = string.format('{"trigger": "request_supplement", "version": %d, "data": {"missing_items": "户口簿复印件"}}',
                         last.version)
  else
    body = string.format('{"trigger": "resubmit", "version": %d, "data": {"supplied_items": "户口簿复印件"}}',
                         last.version)
  end
  return wrk.format("POST", "/api/v1/cases/" .. last.id .. "/transitions",
                    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
    -- '"version":' does not match "workflow_version" (the character before is '_', not '"').
    last.version = tonumber(body:match('"version":%s*(%d+)'))
    last.state = body:match('"state":%s*"([%w_]+)"')
  else
    if status == 409 then conflict = conflict + 1 else other = other + 1 end
    last.live = false
  end
end

function done(summary, latency, requests)
  local o, c, x = 0, 0, 0
  for _, thread in ipairs(threads) do
    o = o + thread:get("ok")
    c = c + thread:get("conflict")
    x = x + thread:get("other")
  end
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "timeout_errors": %d, "status_errors": %d, "ok": %d, "conflict": %d, "other": %d, ' ..
    '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, summary.errors.status, o, c, x, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max))
end
