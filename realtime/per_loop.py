"""Process-wide socket helpers, one instance per event loop (a server process runs one loop;
a test run starts many, so instances of loops that have ended are dropped)."""

import asyncio


class PerLoop:
    _instances = None  # each subclass gets its own {loop: instance}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._instances = {}

    @classmethod
    def of_loop(cls):
        loop = asyncio.get_running_loop()
        instance = cls._instances.get(loop)
        if instance is None:
            for ended in [k for k in cls._instances if k.is_closed()]:
                del cls._instances[ended]
            instance = cls._instances[loop] = cls()
        return instance
