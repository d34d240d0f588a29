"""What the instances of one deployment share: the Redis connection, the per-user lock and the record
of handled Telegram updates. Each has an in-process implementation (one instance, no REDIS_URL) and a
Redis one (several instances); `bot/app.py` picks one. KIE's shared limits are in
`bot/kie/ratelimit_redis.py`, the FSM storage is aiogram's RedisStorage.
"""
