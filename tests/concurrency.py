"""Running the same work on several database connections at once, for the tests of races (PostgreSQL)."""

import threading
from collections.abc import Callable

from django.db import connection


def at_once(count: int, work: Callable[[], object]) -> list[object]:
    """Run `work` in `count` threads released together (each on its own database connection, closed after)
    and return what each returned, in the order they finished."""
    barrier = threading.Barrier(count)
    results: list[object] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(work())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
