-- One benchmark scenario for wrk: `wrk -t N -c N -s bench/wrk/scenario.lua URL -- DATA KEY OFFSET N`.
--
-- DATA is a tab-separated file written by bench/wrk.py: residents (R id phone token county town
-- grid), grid workers (G token), clerks (C token), vouchers (V id payload), check-in codes (E url)
-- and settings (K name value). KEY picks the scenario; OFFSET is where the scenarios that use each
-- item once (check-ins, vouchers) start; N is the number of threads. One connection per thread, so
-- a thread's requests and answers alternate and a pair (claim + approve, scan + fulfil) stays on one connection.
-- At the end one line "BENCH {json}" sums up every thread: operations, requests, errors by cause,
-- latency percentiles, the SQL statements the answers reported (counting mode) and how far the
-- run got through the items used once.

local threads = {}
local numbered = 0

function setup(thread)
   numbered = numbered + 1
   thread:set("number", numbered)
   table.insert(threads, thread)
end

local data = { R = {}, G = {}, C = {}, V = {}, E = {}, K = {} }
local scenario, offset, stride, turn = nil, 0, 1, 0
local follow = nil -- builds the second request of a pair from the first one's answer
local second = nil -- that second request, ready to send
ops, requests_ok, statements, last_index, errors = 0, 0, 0, -1, ""
local failed = {}

local function load(path)
   for line in io.lines(path) do
      local fields = {}
      for field in string.gmatch(line, "[^\t]+") do
         fields[#fields + 1] = field
      end
      local kind = table.remove(fields, 1)
      if kind == "K" then
         data.K[fields[1]] = fields[2]
      else
         table.insert(data[kind], fields)
      end
   end
end

function init(args)
   load(args[1])
   scenario, offset, stride = args[2], tonumber(args[3]), tonumber(args[4])
   math.randomseed(os.time() * 1000 + number * 7919)
end

local function pick(list)
   return list[math.random(#list)]
end

-- The next item used once: thread n of N takes offset + n - 1, then every N-th after it.
local function next_index()
   local index = offset + number - 1 + turn * stride
   turn = turn + 1
   last_index = index
   return index
end

local function now()
   return os.date("!%Y-%m-%dT%H:%M:%S+00:00")
end

local function call(method, path, token, body)
   local headers = { ["Accept"] = "application/json" }
   if token then
      headers["Authorization"] = "Bearer " .. token
   end
   if body then
      headers["Content-Type"] = "application/json"
   end
   return wrk.format(method, path, headers, body)
end

local builders = {}

builders.floor_get = function()
   return call("GET", "/floor")
end

builders.floor_post = function()
   return call("POST", "/floor", nil, string.format(
      '{"member_id": %d, "activity_code": "bench_award", "quantity": 1, "occurred_at": "%s"}',
      math.random(20000), now()))
end

builders.me = function()
   return call("GET", "/api/v1/me", pick(data.R)[3])
end

builders.leaderboard = function()
   local resident = pick(data.R)
   return call("GET", string.format("/api/v1/leaderboards/members?org_unit_id=%s&period=month&limit=50",
      resident[3 + math.random(3)]), resident[3])
end

builders.award = function()
   return call("POST", "/api/v1/contributions", pick(data.G)[1], string.format(
      '{"member_id": %s, "activity_code": "bench_award", "quantity": 1, "occurred_at": "%s"}',
      pick(data.R)[1], now()))
end

-- The same awards, once the county has a points budget (the runner sets it first).
builders.award_budget = builders.award

builders.claim = function()
   local resident = pick(data.R)
   follow = function(body)
      local id = string.match(body, '"id"%s*:%s*(%d+)')
      return call("POST", "/api/v1/contributions/" .. id .. "/approve", pick(data.G)[1], "{}")
   end
   return call("POST", "/api/v1/contributions", resident[3], string.format(
      '{"member_id": %s, "activity_code": "bench_claim", "quantity": 1, "occurred_at": "%s", ' ..
      '"note": "benchmark claim"}', resident[1], now()))
end

builders.login = function()
   return call("POST", "/api/v1/auth/tokens", nil, string.format('{"phone": "%s", "password": "%s"}',
      pick(data.R)[2], data.K.password))
end

builders.checkin = function()
   local index = next_index()
   local resident = data.R[index % #data.R + 1]
   local code = data.E[math.floor(index / #data.R) % #data.E + 1]
   return call("POST", "/api/v1/checkins", resident[3], string.format('{"payload": "%s"}', code[1]))
end

builders.reserve = function()
   return call("POST", "/api/v1/vouchers", pick(data.R)[3], string.format(
      '{"supermarket_id": %s, "items": [{"reward_id": %s, "quantity": 1}]}',
      data.K.supermarket_id, data.K.reward_id))
end

builders.fulfil = function()
   local voucher = data.V[next_index() + 1]
   local token = pick(data.C)[1]
   local body = string.format('{"payload": "%s"}', voucher[2])
   follow = function()
      return call("POST", "/api/v1/vouchers/" .. voucher[1] .. "/fulfil", token, body)
   end
   return call("POST", "/api/v1/vouchers/scan", token, body)
end

builders.wishes = function()
   return call("GET", "/api/v1/wishes?status=open", pick(data.R)[3])
end

function request()
   if second then
      local ready = second
      second = nil
      return ready
   end
   return builders[scenario]()
end

function response(status, headers, body)
   local counted = headers["X-Bench-Statements"] or headers["x-bench-statements"]
   if counted then
      statements = statements + tonumber(counted)
   end
   if status < 200 or status > 299 then
      failed[status] = (failed[status] or 0) + 1
      errors = ""
      for code, count in pairs(failed) do
         errors = errors .. code .. "=" .. count .. ","
      end
      follow, second = nil, nil
      return
   end
   requests_ok = requests_ok + 1
   if follow then
      second, follow = follow(body), nil
   else
      ops = ops + 1
   end
end

function done(summary, latency, requests)
   local total = { ops = 0, requests_ok = 0, statements = 0, last_index = -1 }
   local by_cause = {}
   for _, thread in ipairs(threads) do
      for name, _ in pairs(total) do
         local value = thread:get(name)
         if name == "last_index" then
            total[name] = math.max(total[name], value)
         else
            total[name] = total[name] + value
         end
      end
      for code, count in string.gmatch(thread:get("errors"), "(%d+)=(%d+),") do
         by_cause[code] = (by_cause[code] or 0) + tonumber(count)
      end
   end
   for _, cause in ipairs({ "connect", "read", "write", "timeout" }) do
      if summary.errors[cause] > 0 then
         by_cause["socket_" .. cause] = summary.errors[cause]
      end
   end
   local causes = {}
   for cause, count in pairs(by_cause) do
      table.insert(causes, string.format('"%s": %d', cause, count))
   end
   io.write(string.format(
      'BENCH {"duration_us": %d, "ops": %d, "requests": %d, "requests_ok": %d, "statements": %d, ' ..
      '"last_index": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "errors": {%s}}\n',
      summary.duration, total.ops, summary.requests, total.requests_ok, total.statements, total.last_index,
      latency:percentile(50), latency:percentile(95), latency:percentile(99), table.concat(causes, ", ")))
end
