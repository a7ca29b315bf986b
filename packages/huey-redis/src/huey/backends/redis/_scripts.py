"""The Lua scripts of the Redis storages: one round trip each where plain commands need two.

Rules every script here keeps, so that a cluster layout (``HashTaggedKeyLayout``) can run it:
it touches only keys of one queue, and every key it touches is passed in ``KEYS`` (optional
keys are simply left out of ``KEYS``). Values and arguments come in ``ARGV``.

The lease scripts read the time with ``TIME``: every deadline is the server's clock, so
consumers on machines whose clocks disagree still agree on when a lease lapses. (Since Redis
5 a script that reads ``TIME`` may write; older servers need ``redis.replicate_commands()``,
which the scripts call where it exists.)

Entries of the results hash stored by ``put_if_empty(..., ttl=...)`` expire with the
server's hash-field TTL (``HPEXPIRE``: Redis 7.4+, Valkey 9+). Servers without it get the same
behaviour from a sorted set of deadlines (``huey.expiry.<name>``: field scored by server ms):
every script that reads the hash first drops the fields whose deadline has passed
(``purge_expired``), and every write of a field drops its deadline. The revocation fields the
dequeue and lease scripts read are not checked: Huey never stores them with a ttl.

Each script is sent once per server (``SCRIPT LOAD`` on the first ``NOSCRIPT`` reply, which
redis-py's ``Script`` handles) and run with ``EVALSHA`` after that.
"""

from __future__ import annotations

# KEYS[1] schedule sorted set; ARGV[1] cutoff timestamp. Every member scored at or before the
# cutoff, soonest first, removed in the same step so two schedulers never both get one.
READ_SCHEDULE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #due > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
end
return due
"""

# The server's time in whole milliseconds, as the local ``now``.
_NOW = """
if redis.replicate_commands then
    redis.replicate_commands()
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# ``purge_expired(results, expiry)``: removes the fields of the results hash whose deadline in
# the expiry sorted set has passed (servers without HPEXPIRE; nothing to do elsewhere).
_PURGE_EXPIRED = (
    _NOW
    + """
local function purge_expired(results, expiry)
    local due = redis.call('ZRANGEBYSCORE', expiry, '-inf', now)
    for _, field in ipairs(due) do
        redis.call('HDEL', results, field)
    end
    if #due > 0 then
        redis.call('ZREMRANGEBYSCORE', expiry, '-inf', now)
    end
end
"""
)

# KEYS[1] results hash, KEYS[2] expiry sorted set; ARGV[1] a hash command (HSET, HGET, HMGET,
# HEXISTS, HDEL, HLEN, HGETALL), the rest its arguments after the key. Runs it on the hash as
# it reads once expired fields are gone; a written or deleted field loses its deadline.
HASH_COMMAND = (
    _PURGE_EXPIRED
    + """
local command = ARGV[1]
if command == 'HSET' then
    for i = 2, #ARGV, 2 do
        redis.call('ZREM', KEYS[2], ARGV[i])
    end
    return redis.call('HSET', KEYS[1], unpack(ARGV, 2))
end
purge_expired(KEYS[1], KEYS[2])
if command == 'HDEL' then
    redis.call('ZREM', KEYS[2], unpack(ARGV, 2))
end
return redis.call(command, KEYS[1], unpack(ARGV, 2))
"""
)

# KEYS[1] results hash, KEYS[2] expiry sorted set; ARGV[1] field, ARGV[2] value, ARGV[3] ttl
# in ms ('' for none). 1 when the field was empty (or expired) and is now set, else 0.
PUT_IF_EMPTY = (
    _PURGE_EXPIRED
    + """
purge_expired(KEYS[1], KEYS[2])
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
    return 0
end
if ARGV[3] ~= '' then
    local native = redis.pcall('HPEXPIRE', KEYS[1], ARGV[3], 'FIELDS', 1, ARGV[1])
    if type(native) == 'table' and native.err then
        redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
    end
end
return 1
"""
)

# KEYS[1] results hash, KEYS[2] expiry sorted set, KEYS[3] (optional) the field's
# notification list; ARGV[1] field. The value (or nil), removed; a read result's pending
# notifications go with it.
POP_FIELD = (
    _PURGE_EXPIRED
    + """
purge_expired(KEYS[1], KEYS[2])
local value = redis.call('HGET', KEYS[1], ARGV[1])
if value then
    redis.call('HDEL', KEYS[1], ARGV[1])
    redis.call('ZREM', KEYS[2], ARGV[1])
    if KEYS[3] then
        redis.call('DEL', KEYS[3])
    end
end
return value
"""
)

# KEYS[1] results hash, KEYS[2] notification list, KEYS[3] expiry sorted set; ARGV[1] field,
# ARGV[2] value, ARGV[3] the list's TTL. Stores a result and wakes every reader blocked on it,
# in one step: a reader that wakes always finds the value.
PUT_FIELD_NOTIFY = """
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('LPUSH', KEYS[2], '1')
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""

# KEYS[1] a string key, KEYS[2] notification list; ARGV[1] value, ARGV[2] the value's TTL in
# seconds ('' for none), ARGV[3] the list's TTL.
PUT_KEY_NOTIFY = """
if ARGV[2] == '' then
    redis.call('SET', KEYS[1], ARGV[1])
else
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
redis.call('LPUSH', KEYS[2], '1')
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""

# KEYS[1] a counter string key; ARGV[1] amount, ARGV[2] TTL in seconds ('' for none).
INCR_KEY = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if ARGV[2] ~= '' then
    redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return value
"""

# ``revocation_fields(data, results)``: the two revocation fields a worker checks before it
# runs the task of message ``data``, 'r:<task id>' and 'rt:<task name>', read from the results
# hash: {'r:<id>', value, 'rt:<name>', value} (a value is false when unset), or {} when the id
# and name cannot be read. They are read off the message's pickle as huey writes it (protocol
# 4 or 5): PROTO, FRAME, the global huey.registry.Message, MARK, then the id and the name as
# unicode strings, each maybe memoized. Anything else (another serializer, compression) is
# left to the worker's own read; the worker also checks the fields are its task's.
_REVOCATION_FIELDS = r"""
local function revocation_fields(data, results)
    local header = '\140\13huey.registry\148\140\7Message\148\147\148('
    if string.byte(data, 1) ~= 128 or string.byte(data, 3) ~= 149
            or string.sub(data, 12, 11 + #header) ~= header then
        return {}
    end
    local pos = 12 + #header
    local function text()
        local op, size = string.byte(data, pos), nil
        if op == 140 then  -- SHORT_BINUNICODE: a 1-byte length
            size = string.byte(data, pos + 1)
            pos = pos + 2
        elseif op == 88 then  -- BINUNICODE: a 4-byte little-endian length
            local a, b, c, d = string.byte(data, pos + 1, pos + 4)
            if not d then
                return nil
            end
            size = a + b * 256 + c * 65536 + d * 16777216
            pos = pos + 5
        end
        if not size or pos + size - 1 > #data then
            return nil
        end
        local value = string.sub(data, pos, pos + size - 1)
        pos = pos + size
        if string.byte(data, pos) == 148 then  -- MEMOIZE
            pos = pos + 1
        end
        return value
    end
    local id = text()
    local name = id and text()
    if not name then
        return {}
    end
    local found = redis.call('HMGET', results, 'r:' .. id, 'rt:' .. name)
    return {'r:' .. id, found[1], 'rt:' .. name, found[2]}
end

local function with_fields(reply, fields)
    for _, part in ipairs(fields) do
        table.insert(reply, part)
    end
    return reply
end
"""

# KEYS[1] queue, KEYS[2] results hash; ARGV[1] 'zset' for a priority queue (ZPOPMIN, behind
# an 8-byte stamp) or 'list' (RPOP). Takes the next message and, in the same step, reads its
# revocation fields: {message, field, value, field, value}, or {message} when they cannot be
# read; nil when the queue is empty.
DEQUEUE_WITH_REVOCATIONS = (
    _REVOCATION_FIELDS
    + """
local data
if ARGV[1] == 'zset' then
    local popped = redis.call('ZPOPMIN', KEYS[1])
    if not popped[1] then
        return false
    end
    data = string.sub(popped[1], 9)
else
    data = redis.call('RPOP', KEYS[1])
    if not data then
        return false
    end
end
return with_fields({data}, revocation_fields(data, KEYS[2]))
"""
)

# KEYS[1] queue, KEYS[2] leases hash (lease id -> '<deliveries>:<message>'), KEYS[3] lease
# deadlines sorted set (lease id scored by its deadline in ms); ARGV[1] the new lease id,
# ARGV[2] visibility timeout in ms, ARGV[3] 'zset' for a priority queue (ZPOPMIN, behind an
# 8-byte stamp) or 'list' (RPOP), ARGV[4] '1' to give up at once while the queue is empty
# (a waiting client: only a new message ends its wait); KEYS[4] (optional) the results hash.
# The earliest lapsed lease is taken again (one more delivery, under the new id) before the
# queue. Returns {message, deliveries}, with the message's revocation fields after them when
# KEYS[4] is given (see DEQUEUE_WITH_REVOCATIONS), or nil when there is nothing to take.
LEASE = (
    _NOW
    + _REVOCATION_FIELDS
    + """
-- When a lease taken now ends: ``now`` rounded up (``now`` is rounded down, and so is every
-- lapse check's), so that no lease ends before its full timeout; a timeout of 0 ends now.
local timeout = tonumber(ARGV[2])
local ends = timeout > 0 and now + 1 + timeout or now
-- The same id twice is a client retrying after a lost reply: give that lease back, do not
-- take a second message under the id (which would overwrite the first one's record). Its
-- timeout starts again: the client has only now received it.
local held = redis.call('HGET', KEYS[2], ARGV[1])
if held then
    redis.call('ZADD', KEYS[3], ends, ARGV[1])
    local sep = string.find(held, ':', 1, true)
    return {string.sub(held, sep + 1), tonumber(string.sub(held, 1, sep - 1))}
end
local zset = ARGV[3] == 'zset'
if ARGV[4] == '1' and redis.call(zset and 'ZCARD' or 'LLEN', KEYS[1]) == 0 then
    return false
end
local data, deliveries
local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if first[1] and tonumber(first[2]) <= now then
    local record = redis.call('HGET', KEYS[2], first[1])
    redis.call('HDEL', KEYS[2], first[1])
    redis.call('ZREM', KEYS[3], first[1])
    if record then
        local sep = string.find(record, ':', 1, true)
        deliveries = tonumber(string.sub(record, 1, sep - 1)) + 1
        data = string.sub(record, sep + 1)
    end
end
if not data then
    if zset then
        local popped = redis.call('ZPOPMIN', KEYS[1])
        if popped[1] then
            data = string.sub(popped[1], 9)
        end
    else
        data = redis.call('RPOP', KEYS[1])
    end
    if not data then
        return false
    end
    deliveries = 1
end
redis.call('HSET', KEYS[2], ARGV[1], deliveries .. ':' .. data)
redis.call('ZADD', KEYS[3], ends, ARGV[1])
if KEYS[4] then
    return with_fields({data, deliveries}, revocation_fields(data, KEYS[4]))
end
return {data, deliveries}
"""
)

# KEYS[1] leases hash, KEYS[2] lease deadlines; ARGV[1] lease id. 1 when the lease was held
# (lapsed or not, as long as no other lease took the message since), else 0.
ACK = """
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
"""

# KEYS[1] lease deadlines; ARGV[1] lease id, ARGV[2] visibility timeout in ms. Moves the
# deadline to now + timeout (now rounded up, as in LEASE; 0: now) if the lease has not lapsed
# (1), else changes nothing (0).
EXTEND_LEASE = (
    _NOW
    + """
local deadline = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not deadline or tonumber(deadline) <= now then
    return 0
end
local timeout = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], timeout > 0 and now + 1 + timeout or now, ARGV[1])
return 1
"""
)

__all__ = [
    "ACK",
    "DEQUEUE_WITH_REVOCATIONS",
    "EXTEND_LEASE",
    "HASH_COMMAND",
    "INCR_KEY",
    "LEASE",
    "POP_FIELD",
    "PUT_FIELD_NOTIFY",
    "PUT_IF_EMPTY",
    "PUT_KEY_NOTIFY",
    "READ_SCHEDULE",
]
