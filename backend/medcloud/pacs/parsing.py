"""Parsing and validating the files of an upload on every core.

pydicom parses in pure Python, about 1 ms per MR slice: on one core (the request's thread holds the GIL) a
192-slice series takes ~0.2 s while the other cores idle. Large uploads are therefore parsed by a small pool
of worker processes, in chunks, and the results come back in upload order, so that the first invalid file
is still the one named. No Django in the workers: they only run `dicom.parse_instance` over files and
`archive.ArchiveMember`s, and answer with the outcome (never raise across the process boundary).

The pool is spawned (not forked: the web server has threads), in the background, the first time a large
upload arrives, and kept for the life of the process. Until it is ready, and if it ever breaks, files are
parsed in the calling thread: the pool is only ever a speed-up. Its size is settings.PACS_PARSE_WORKERS
(MEDCLOUD_PARSE_WORKERS), read in the process that starts it: the workers never read settings; 0 or 1 turns
it off.
ADR 0007.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from django.conf import settings

from .archive import ArchiveMemberError
from .dicom import DicomSource, InvalidInstance, ParsedInstance, parse_instance

logger = logging.getLogger(__name__)

MIN_FILES = 24  # below this, handing files over costs more than it saves
CHUNK = 8  # files per hand-over: one round trip per chunk, not per file

# What a worker answers for one file: the parsed instance, or why it was refused.
Outcome = ParsedInstance | InvalidInstance | ArchiveMemberError

_pool: ProcessPoolExecutor | None = None
_started = False
_pool_ready = threading.Event()
_pool_lock = threading.Lock()


def workers() -> int:
    """How many parsing worker processes (settings.PACS_PARSE_WORKERS); below 2, none."""
    return int(settings.PACS_PARSE_WORKERS)


def parse_one(source: DicomSource, name: str) -> Outcome:
    try:
        return parse_instance(source, name)
    except (InvalidInstance, ArchiveMemberError) as exc:
        return exc


def _parse_chunk(chunk: list[tuple[DicomSource, str]]) -> list[Outcome]:
    return [parse_one(source, name) for source, name in chunk]


def _warm_up(_index: int) -> int:
    return os.getpid()


def _exit_with_parent(parent_pid: int) -> None:
    """Runs in each worker: exit as soon as the process that started it is gone (killed, crashed), instead of
    lingering as an orphan blocked on its task queue."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _start_pool() -> None:
    global _pool
    pool = None
    try:
        count = workers()
        pool = ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_exit_with_parent, initargs=(os.getpid(),))
        list(pool.map(_warm_up, range(count)))  # each worker has imported pydicom before it is used
    except Exception:  # noqa: BLE001 - the pool is a speed-up only; parsing goes on in the calling thread
        logger.exception("could not start the parsing workers; parsing in the request's thread")
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        return
    _pool = pool
    _pool_ready.set()


def _ready_pool() -> ProcessPoolExecutor | None:
    """The pool when it is ready; otherwise None, after starting it in the background (once)."""
    global _started
    if workers() < 2:
        return None
    if _pool_ready.is_set():
        return _pool
    with _pool_lock:
        if not _started:
            _started = True
            threading.Thread(target=_start_pool, name="parse-pool-start", daemon=True).start()
    return None


def wait_until_ready(timeout: float) -> bool:
    """Start the pool if it is not started, and wait for it (tests; a server never waits)."""
    _ready_pool()
    return _pool_ready.wait(timeout)


def _reset_pool(broken: ProcessPoolExecutor) -> None:
    """Forget a broken pool (the next large upload starts a fresh one), unless it was already replaced."""
    global _pool, _started
    with _pool_lock:
        if _pool is not broken:
            return
        broken.shutdown(wait=False, cancel_futures=True)
        _pool, _started = None, False
        _pool_ready.clear()


def parse_in_order(items: Iterable[tuple[DicomSource, str]], count: int) -> Iterator[tuple[str, Outcome]]:
    """(name, outcome) for every (source, name) of `items`, in order; `count` is how many there are.

    `items` may block (a zip member still being inflated): chunks are handed to the workers as they fill,
    so parsing overlaps the rest of the extraction."""
    pool = _ready_pool() if count >= MIN_FILES else None
    if pool is None:
        for source, name in items:
            yield name, parse_one(source, name)
        return
    pending: deque[tuple[list[tuple[DicomSource, str]], Future[list[Outcome]] | None]] = deque()
    pool_size = workers()

    def submit(chunk: list[tuple[DicomSource, str]]) -> None:
        try:
            pending.append((chunk, pool.submit(_parse_chunk, chunk)))
        except (BrokenProcessPool, RuntimeError):  # a worker died while idle, or the pool was reset
            pending.append((chunk, None))
            _reset_pool(pool)

    def drain(until: int) -> Iterator[tuple[str, Outcome]]:
        while len(pending) > until:
            chunk, future = pending.popleft()
            outcomes = None
            if future is not None:
                try:
                    outcomes = future.result()
                except BrokenProcessPool:  # a worker died (killed, out of memory): start afresh next time
                    logger.warning("a parsing worker died; parsing this chunk in the request's thread")
                    _reset_pool(pool)
            if outcomes is None:
                outcomes = _parse_chunk(chunk)
            for (_source, name), outcome in zip(chunk, outcomes, strict=True):
                yield name, outcome

    chunk: list[tuple[DicomSource, str]] = []
    try:
        for source, name in items:
            chunk.append((source, name))
            if len(chunk) == CHUNK:
                submit(chunk)
                chunk = []
                yield from drain(until=2 * pool_size)  # keep the workers busy, hand back what is done
        if chunk:
            submit(chunk)
        yield from drain(until=0)
    finally:
        for _chunk, future in pending:  # the caller stopped early (an invalid file): drop the rest
            if future is not None:
                future.cancel()
