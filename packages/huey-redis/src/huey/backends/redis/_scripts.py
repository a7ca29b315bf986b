"""The Lua scripts of the Redis storages: one round trip each where plain commands need two.

Rules every script here keeps, so that a cluster layout (``HashTaggedKeyLayout``) can run it:
it touches only keys of one queue, and every key it touches is passed in ``KEYS`` (optional
keys are simply left out of ``KEYS``). Values and arguments come in ``ARGV``.

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

# KEYS[1] results hash, KEYS[2] (optional) the field's notification list; ARGV[1] field.
# The value (or nil), removed; a read result's pending notifications go with it.
POP_FIELD = """
local value = redis.call('HGET', KEYS[1], ARGV[1])
if value then
    redis.call('HDEL', KEYS[1], ARGV[1])
    if KEYS[2] then
        redis.call('DEL', KEYS[2])
    end
end
return value
"""

# KEYS[1] a string key, KEYS[2] (optional) its notification list. The value (or nil), removed.
POP_KEY = """
local value = redis.call('GET', KEYS[1])
if value then
    redis.call('DEL', KEYS[1])
    if KEYS[2] then
        redis.call('DEL', KEYS[2])
    end
end
return value
"""

# KEYS[1] results hash, KEYS[2] notification list; ARGV[1] field, ARGV[2] value, ARGV[3] the
# list's TTL. Stores a result and wakes every reader blocked on it, in one step: a reader
# that wakes always finds the value.
PUT_FIELD_NOTIFY = """
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

__all__ = [
    "INCR_KEY",
    "POP_FIELD",
    "POP_KEY",
    "PUT_FIELD_NOTIFY",
    "PUT_KEY_NOTIFY",
    "READ_SCHEDULE",
]
