"""The message budget in Redis: one pace for every instance of the bot (several processes, one token).

The same buckets as `LocalSendBudget` (budget.py), kept in Redis hashes and changed by one Lua script
per send, so taking from the bot's bucket and the chat's is atomic across instances; the time is the
Redis server's (TIME), so the instances' clocks do not matter. Keys carry a hash tag
(`tgshape:{<bot id>}:...`) so both keys of a send live in one Redis Cluster slot; a chat's bucket
expires once it would be full again, so idle chats cost nothing.

Each instance still orders its own queue by priority (scheduler.py); across instances the headroom a
progress edit leaves (keep=1) is what lets another instance's delivery go first.

When Redis cannot be reached the send is paced by this process's own buckets instead (logged at
most once a minute): a Redis outage slows nothing down and stops nothing, at the price of the
deployment-wide pace for that time.

`redis` is any client with redis-py's asyncio `eval` (redis.asyncio.Redis); nothing here imports it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable
from typing import Any, Protocol

from bot.shaping.budget import CHAT_BURST, BudgetLimits, ChatKey, LocalSendBudget, Refusal

log = logging.getLogger(__name__)

# KEYS: the bot's bucket[, the chat's]. ARGV: keep, bot rate, bot burst, chat rate, chat burst.
# Returns {bot wait, chat wait} as strings (Lua numbers would be truncated to integers); "0","0": taken.
TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local keep = tonumber(ARGV[1])
local function look(key, rate, burst)
  local v = redis.call('HMGET', key, 'tokens', 'at', 'blocked')
  local tokens = tonumber(v[1]) or burst
  local at = tonumber(v[2]) or now
  local blocked = tonumber(v[3]) or 0
  if now > at then tokens = math.min(burst, tokens + (now - at) * rate) end
  local wait = 0
  local need = keep + 1 - tokens
  if need > 1e-6 then wait = need / rate end
  if blocked - now > wait then wait = blocked - now end
  return tokens, wait, blocked
end
local function take(key, tokens, rate, burst, blocked)
  redis.call('HSET', key, 'tokens', tostring(tokens - 1), 'at', tostring(now))
  local ttl = math.ceil(burst / rate * 1000) + 1000
  if blocked > now then ttl = math.max(ttl, math.ceil((blocked - now) * 1000) + 1000) end
  redis.call('PEXPIRE', key, ttl)
end
local bot_rate, bot_burst = tonumber(ARGV[2]), tonumber(ARGV[3])
local bot_tokens, bot_wait, bot_blocked = look(KEYS[1], bot_rate, bot_burst)
local chat_tokens, chat_wait, chat_blocked, chat_rate, chat_burst = 0, 0, 0, 0, 0
if #KEYS > 1 then
  chat_rate, chat_burst = tonumber(ARGV[4]), tonumber(ARGV[5])
  chat_tokens, chat_wait, chat_blocked = look(KEYS[2], chat_rate, chat_burst)
end
if bot_wait > 0 or chat_wait > 0 then
  return {tostring(bot_wait), tostring(chat_wait)}
end
take(KEYS[1], bot_tokens, bot_rate, bot_burst, bot_blocked)
if #KEYS > 1 then take(KEYS[2], chat_tokens, chat_rate, chat_burst, chat_blocked) end
return {'0', '0'}
"""

# KEYS: one bucket. ARGV: seconds to hold it.
PENALIZE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local hold = tonumber(ARGV[1])
local blocked = tonumber(redis.call('HGET', KEYS[1], 'blocked')) or 0
if now + hold > blocked then redis.call('HSET', KEYS[1], 'blocked', tostring(now + hold)) end
local ttl = math.ceil(hold * 1000) + 1000
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
"""

FALLBACK_LOG_INTERVAL_S = 60.0


class RedisEval(Protocol):
    def eval(self, script: str, numkeys: int, *keys_and_args: str) -> Awaitable[Any]: ...


class RedisSendBudget:
    """`SendBudget` shared by every instance using the same Redis and bot (`bot_id`: the token's
    number, so two bots on one Redis keep separate budgets)."""

    def __init__(
        self, redis: RedisEval, bot_id: int, limits: BudgetLimits, *, key_prefix: str = "tgshape"
    ) -> None:
        self.redis = redis
        self.limits = limits
        # The bot id in braces: a Redis Cluster hash tag, so both keys of one script share a slot.
        self._prefix = f"{key_prefix}:{{{bot_id}}}"
        self._fallback = LocalSendBudget(limits)
        self._fallback_logged_at = -math.inf
        self.fallbacks = 0

    def _key(self, chat: ChatKey | None) -> str:
        return f"{self._prefix}:bot" if chat is None else f"{self._prefix}:chat:{chat}"

    async def take(self, chat: ChatKey | None, *, keep: int) -> Refusal | None:
        keys = [self._key(None)] if chat is None else [self._key(None), self._key(chat)]
        chat_rate = self.limits.chat_rate(chat) if chat is not None else 1.0
        args = [keep, self.limits.per_s, self.limits.global_burst, chat_rate, CHAT_BURST]
        try:
            answer = await self.redis.eval(TAKE, len(keys), *keys, *(repr(float(a)) for a in args))
        except Exception as exc:  # any client error: pace locally rather than stop sending
            self._note_fallback(exc)
            return self._fallback.take_now(chat, keep=keep)
        bot_s, chat_s = (float(_text(part)) for part in answer)
        return None if bot_s <= 0 and chat_s <= 0 else Refusal(bot_s, chat_s)

    async def penalize(self, chat: ChatKey | None, seconds: float) -> None:
        await self._fallback.penalize(chat, seconds)
        try:
            await self.redis.eval(PENALIZE, 1, self._key(chat), repr(float(seconds)))
        except Exception as exc:
            self._note_fallback(exc)

    def _note_fallback(self, exc: Exception) -> None:
        self.fallbacks += 1
        now = time.monotonic()
        if now - self._fallback_logged_at >= FALLBACK_LOG_INTERVAL_S:
            self._fallback_logged_at = now
            log.warning("Send budget: Redis unavailable (%s); pacing this instance on its own", exc)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
