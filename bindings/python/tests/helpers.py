import asyncio
import functools


def run(coro_fn):
    """Run an async test with asyncio.run and a 60 s guard (no pytest-asyncio needed)."""
    @functools.wraps(coro_fn)
    def wrapper(*args, **kwargs):
        async def guarded():
            return await asyncio.wait_for(coro_fn(*args, **kwargs), 60)
        return asyncio.run(guarded())
    return wrapper
