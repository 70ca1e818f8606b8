"""Settings for the benchmark's servers: the portal's own settings with the channel layer chosen
by BENCH_CHANNEL_LAYER (bench code only):

    pubsub  channels_redis.pubsub.RedisPubSubChannelLayer   (what scm_portal.settings.base ships)
    core    channels_redis.core.RedisChannelLayer

Both get the same hosts as the shipped configuration plus a per-run key/channel prefix
(BENCH_CHANNEL_PREFIX), so a benchmark never hears, nor disturbs, other servers or test runs
sharing the Redis (pub/sub channels are not separated by Redis database numbers). A prefix
changes names only, not the work done per message.

The core layer also gets a Redis socket timeout longer than its 5-second blocking BZPOPMIN:
redis-py 8 reads with a 5 s socket timeout by default, the two race, and an idle process then
loses one socket every ~5 s to `redis.exceptions.TimeoutError` raised inside a consumer's
receive. With the shipped pub/sub layer (non-blocking reads) this does not arise.
"""

import os

from scm_portal.settings.base import *  # noqa: F403
from scm_portal.settings.base import REDIS_URL

BACKENDS = {
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "core": "channels_redis.core.RedisChannelLayer",
}

if not REDIS_URL:
    raise RuntimeError("bench.settings needs REDIS_URL")

LAYER = os.environ.get("BENCH_CHANNEL_LAYER", "pubsub")
CORE_SOCKET_TIMEOUT = 15  # seconds; must exceed channels_redis.core.RedisChannelLayer.brpop_timeout (5)

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": BACKENDS[LAYER],
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": CORE_SOCKET_TIMEOUT} if LAYER == "core" else REDIS_URL],
            "prefix": os.environ.get("BENCH_CHANNEL_PREFIX", "asgi"),
        },
    }
}
