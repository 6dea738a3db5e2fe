"""Run seeded episodes in this process, in a local process pool, or on Ray: one interface.

Evaluation and collection are many independent episodes, each fully determined by its
seed. `EpisodePool.map(job, seeds)` runs them where the user asked and yields each
result as it completes; `in_seed_order` and `run_episodes` put them back in seed order,
so the output does not depend on how many workers ran it.

A job is a picklable callable that builds an episode runner (`runner(seed) -> result`,
optionally `runner.close()`). Each worker builds it once (the policy is loaded once per
worker, not per episode), again only for another job, and calls it for every seed it is
given. Workers run
torch on one thread. A worker that dies (killed, out of memory, a crash in native code)
loses the episode it held: that seed is run again on a fresh worker and never counted
as a success or a failure. An exception raised by an episode stops the map and is
raised here.

Local workers fork from a server process (multiprocessing's `forkserver`) that imported
torch, MuJoCo and vitalskills once, so starting them costs one import, not one per
worker. As with any multiprocessing, a script that runs episodes on workers must do so
under `if __name__ == "__main__":`.

Messages between this process and its workers are Python objects (pickled by
`multiprocessing` or Ray) between processes the user started; nothing is read from
elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import signal
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from vitalskills.errors import UsageError, VitalskillsError

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext, ForkServerProcess

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

#: Test hook, for tests only: "SEED:PATH" in this process's environment makes the worker
#: that is given SEED exit at once (`os._exit`, as a crash) when PATH does not exist yet,
#: creating PATH first, so a worker dies on that seed exactly once; "SEED" alone makes
#: every worker given SEED die. Read when a seed is handed out; in-process runs ignore it.
DIE_ON_SEED_ENV = "VITALSKILLS_TEST_WORKER_DIES_ON_SEED"

#: Imported once by the server that local workers fork from.
_PRELOAD = ("torch", "vitalskills.app.evaluate", "vitalskills.app.collect", "vitalskills.sim")

#: A seed whose worker died this many times stops the map: it would kill every worker.
MAX_DEATHS = 3

#: Environment of worker processes: one thread per math library, so N workers use N cores.
_ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


class EpisodeRunner(Protocol[R_co]):
    """Runs one episode per call; built once per worker by a job."""

    def __call__(self, seed: int) -> R_co: ...


#: Builds a worker's runner; must be picklable (a module-level class or function).
Job = Callable[[], EpisodeRunner[R]]


class WorkerError(VitalskillsError):
    """Workers kept dying on one seed, or an episode failed with an error that could not
    be sent back as is."""


@dataclass(frozen=True)
class Workers:
    """Where episodes run: `count` local processes (1: in this process), or Ray.

    `count` None means all the cores: this machine's, or the Ray cluster's.
    `ray` is a Ray address, or `auto` for a local Ray bound to 127.0.0.1.
    `spawn_one` runs even a single worker in its own process (to measure the pool's cost).
    """

    count: int | None = 1
    ray: str | None = None
    spawn_one: bool = False

    def describe(self) -> str:
        """Say where the episodes run, for progress bars and logs."""
        if self.ray is not None:
            where = "a local Ray" if self.ray == "auto" else f"Ray at {self.ray}"
            return f"{self.count or 'all'} workers on {where}"
        count = self.resolved_count()
        if count == 1 and not self.spawn_one:
            return "in process"
        return f"{count} worker process{'es' if count > 1 else ''}"

    def resolved_count(self) -> int:
        """The number of local worker processes (all the cores when `count` is None)."""
        if self.count is not None:
            return self.count
        if hasattr(os, "sched_getaffinity"):  # the cores this process may run on
            return len(os.sched_getaffinity(0))
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Done(Generic[R]):
    """One finished episode: its position in the seeds, its seed and its result."""

    index: int
    seed: int
    result: R


def in_seed_order(done: Iterable[Done[R]]) -> Iterator[Done[R]]:
    """Yield finished episodes in the order their seeds were given, buffering early ones."""
    waiting: dict[int, Done[R]] = {}
    following = 0
    for item in done:
        waiting[item.index] = item
        while following in waiting:
            yield waiting.pop(following)
            following += 1


def run_episodes(
    job: Job[R],
    seeds: list[int],
    workers: Workers,
    on_done: Callable[[Done[R]], None] | None = None,
) -> list[R]:
    """Run `job` on every seed; return the results in seed order.

    `on_done` is called as each episode completes (in completion order), e.g. to
    advance a progress bar. No more local workers start than there are seeds.
    """
    if workers.ray is None:
        count = min(workers.resolved_count(), max(len(seeds), 1))
        workers = Workers(count, spawn_one=workers.spawn_one)
    results: list[Done[R]] = []
    with EpisodePool(workers) as pool:
        for item in pool.map(job, seeds):
            results.append(item)
            if on_done is not None:
                on_done(item)
    return [item.result for item in sorted(results, key=lambda item: item.index)]


class EpisodePool:
    """Episode workers for one or more `map`s; a context manager that stops them.

    Workers (local processes or Ray actors) start with the first `map` and are kept for
    the next ones (a residual run evaluates many times), so torch and MuJoCo are
    imported once per worker; a `map` of another job has them build its runner, and a
    `map` of the same job object again reuses the runners they built.
    """

    def __init__(self, workers: Workers) -> None:
        self.workers = workers
        self._local: list[_LocalWorker] = []
        self._actors: list[_RayActor] = []

    def __enter__(self) -> EpisodePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def map(self, job: Job[R], seeds: Iterable[int]) -> Iterator[Done[R]]:
        """Run `job` on each seed and yield results as they complete.

        Seeds are drawn lazily, only as workers become free, so the caller may stop
        early (collection stops once it has enough); episodes still running are then
        abandoned.
        """
        if self.workers.ray is not None:
            return self._ray_map(job, seeds)
        if self.workers.resolved_count() == 1 and not self.workers.spawn_one:
            return _in_process_map(job, seeds)
        return self._local_map(job, seeds)

    def close(self) -> None:
        """Stop the local workers and the Ray actors."""
        for worker in self._local:
            worker.stop()
        self._local.clear()
        for actor in self._actors:
            actor.stop()
        self._actors.clear()

    def _local_map(self, job: Job[R], seeds: Iterable[int]) -> Iterator[Done[R]]:
        count = self.workers.resolved_count()
        while len(self._local) < count:
            self._local.append(_LocalWorker())
        for worker in self._local:
            worker.take(job)
        pending = enumerate(seeds)
        retry: deque[tuple[int, int]] = deque()
        deaths: dict[int, int] = {}
        busy: dict[int, tuple[int, int]] = {}  # position in self._local -> (index, seed)
        try:
            while True:
                for slot in range(len(self._local)):
                    if slot in busy:
                        continue
                    following = retry.popleft() if retry else next(pending, None)
                    if following is None:
                        break
                    if not self._local[slot].process.is_alive():  # died after its last reply
                        self._replace(slot, job)
                    busy[slot] = following
                    self._local[slot].send(("seed", *following, os.environ.get(DIE_ON_SEED_ENV)))
                if not busy:
                    return
                watched = [self._local[slot] for slot in busy]
                wait([w.conn for w in watched] + [w.process.sentinel for w in watched])
                for slot in list(busy):
                    worker = self._local[slot]
                    message = worker.receive()
                    if message is None and worker.process.is_alive():
                        continue
                    index, seed = busy.pop(slot)
                    if message is None:  # died: the episode is lost, run it again
                        retry.append(_lost(deaths, index, seed))
                        self._replace(slot, job)
                        continue
                    yield _result(message, index, seed)
        finally:
            for slot in busy:  # abandoned episodes: these workers are replaced next map
                self._local[slot].stop()
            self._local = [w for slot, w in enumerate(self._local) if slot not in busy]

    def _ray_map(self, job: Job[R], seeds: Iterable[int]) -> Iterator[Done[R]]:
        """Run the seeds on Ray actors (one per worker, each building the runner once)."""
        ray = _ray(self.workers.ray or "auto")
        count = self.workers.count or max(int(ray.cluster_resources().get("CPU", 1)), 1)
        while len(self._actors) < count:
            self._actors.append(_RayActor(ray))
        for actor in self._actors:
            actor.take(job)
        pending = enumerate(seeds)
        retry: deque[tuple[int, int]] = deque()
        deaths: dict[int, int] = {}
        running: dict[Any, tuple[_RayActor, int, int]] = {}  # ref -> (actor, index, seed)
        idle = list(self._actors)
        try:
            while True:
                while idle:
                    following = retry.popleft() if retry else next(pending, None)
                    if following is None:
                        break
                    actor = idle.pop()
                    running[actor.run(following[1])] = (actor, *following)
                if not running:
                    return
                (ref,), _ = ray.wait(list(running), num_returns=1)
                actor, index, seed = running.pop(ref)
                try:
                    message = ray.get(ref)
                except ray.exceptions.RayActorError:  # died: a fresh actor takes its place
                    retry.append(_lost(deaths, index, seed))
                    actor.stop()
                    fresh = _RayActor(ray)
                    fresh.take(job)
                    self._actors[self._actors.index(actor)] = fresh
                    idle.append(fresh)
                    continue
                idle.append(actor)
                yield _result(message, index, seed)
        finally:
            busy = {id(actor) for actor, _, _ in running.values()}
            for actor in self._actors:  # abandoned episodes: their actors go
                if id(actor) in busy:
                    actor.stop()
            self._actors = [actor for actor in self._actors if id(actor) not in busy]

    def _replace(self, slot: int, job: Job) -> None:
        """Stop the worker in `slot` and start a fresh one on `job`."""
        self._local[slot].stop()
        self._local[slot] = _LocalWorker()
        self._local[slot].take(job)


def _lost(deaths: dict[int, int], index: int, seed: int) -> tuple[int, int]:
    """Count a worker's death on `seed`; the episode to run again.

    Raises:
        WorkerError: workers died on this seed `MAX_DEATHS` times.
    """
    deaths[seed] = deaths.get(seed, 0) + 1
    if deaths[seed] >= MAX_DEATHS:
        raise WorkerError(
            f"workers died {deaths[seed]} times running the episode of seed {seed}",
            hint="run that seed alone with --workers 1 --episodes 1 --seed "
            f"{seed} to see the crash",
        )
    return index, seed


def _result(message: tuple, index: int, seed: int) -> Done:
    """Turn a worker's reply into a `Done`, or raise the episode's error."""
    if message[0] == "error":
        raise message[1]
    return Done(index, seed, message[1])


def _in_process_map(job: Job[R], seeds: Iterable[int]) -> Iterator[Done[R]]:
    runner = job()
    try:
        for index, seed in enumerate(seeds):
            yield Done(index, seed, runner(seed))
    finally:
        _close(runner)


def _close(runner: object) -> None:
    close = getattr(runner, "close", None)
    if close is not None:
        close()


def _context() -> BaseContext:
    """Workers fork from a server process that has imported torch, MuJoCo and vitalskills
    once and touched none of them, so a worker starts in a fraction of an import and
    inherits no threads, GL contexts or policies from this process."""
    context = get_context("forkserver")
    context.set_forkserver_preload(list(_PRELOAD))
    return context


class _LocalWorker:
    """One worker process and its end of the pipe."""

    def __init__(self) -> None:
        context = _context()
        self.conn, child = context.Pipe()
        saved = {name: os.environ.get(name) for name in _ONE_THREAD}
        os.environ.update(_ONE_THREAD)  # a spawned child takes its environment from ours
        try:
            self.process: ForkServerProcess = context.Process(
                target=_worker_main, args=(child,), daemon=True
            )
            self.process.start()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        child.close()
        self.job: Job | None = None

    def take(self, job: Job) -> None:
        """Have the worker build `job`'s runner, unless it runs that very job already."""
        if job is not self.job:
            self.send(("job", job))
            self.job = job

    def send(self, message: tuple) -> None:
        """Send unless the worker is gone (its sentinel then reports the death)."""
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.conn.send(message)

    def receive(self) -> tuple | None:
        """The worker's reply if one is waiting, else None (also when it died)."""
        try:
            return self.conn.recv() if self.conn.poll() else None
        except (EOFError, OSError):
            return None

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()


def _worker_main(conn: Connection) -> None:
    """A worker's loop: build the runner for each job, run each seed, send the result."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    worker = _WorkerSide()
    while True:
        try:
            message = conn.recv()
        except EOFError:
            break
        if message[0] == "job":
            worker.take(message[1])
        else:
            _, _, seed, hook = message
            conn.send(worker.run(seed, hook))
    worker.close()


def _one_torch_thread() -> None:
    """Keep a worker's torch (when the job loaded it) on one thread."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def _sendable(error: Exception) -> Exception:
    """The error itself when it survives pickling, else a `WorkerError` with its traceback."""
    import pickle

    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        text = "".join(traceback.format_exception(error)).rstrip()
        return WorkerError(f"an episode failed in a worker:\n{text}")
    return error


def _die_if_asked(seed: int, hook: str | None) -> None:
    """The test hook of `DIE_ON_SEED_ENV` (its value in the parent): exit on that seed."""
    if not hook:
        return
    target, _, marker = hook.partition(":")
    if int(target) != seed:
        return
    if marker:
        try:
            Path(marker).touch(exist_ok=False)
        except FileExistsError:
            return
    os._exit(13)


class _RayActor:
    """One Ray actor and the job it holds (the driver's side of a `_WorkerSide`)."""

    def __init__(self, ray: Any) -> None:
        remote = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(_WorkerSide)
        self.ray = ray
        self.handle = remote.remote()
        self.job: Job | None = None

    def take(self, job: Job) -> None:
        """Have the actor build `job`'s runner, unless it runs that very job already."""
        if job is not self.job:
            self.handle.take.remote(job)  # actor calls run in order: before the next seed
            self.job = job

    def run(self, seed: int) -> Any:
        return self.handle.run.remote(seed, os.environ.get(DIE_ON_SEED_ENV))

    def stop(self) -> None:
        self.ray.kill(self.handle)


class _WorkerSide:
    """A worker's runner, in a local worker process or as a Ray actor: it builds each
    job's runner once and runs seeds on it, replying `("done", result)` or
    `("error", error)`."""

    def __init__(self) -> None:
        os.environ.update(_ONE_THREAD)
        self.runner: Any = None
        self.build_error: Exception | None = None

    def take(self, job: Job) -> None:
        self.close()
        self.runner, self.build_error = None, None
        try:
            self.runner = job()
        except Exception as error:
            self.build_error = error
        _one_torch_thread()

    def run(self, seed: int, hook: str | None = None) -> tuple:
        _die_if_asked(seed, hook)
        try:
            if self.build_error is not None:
                raise self.build_error
            return ("done", self.runner(seed))
        except Exception as error:
            return ("error", _sendable(error))

    def close(self) -> None:
        _close(self.runner)


def _ray(address: str) -> Any:
    """Import Ray and connect to `address` (`auto`: start a local Ray on 127.0.0.1)."""
    if address == "auto":
        # The local workers run this interpreter. Ray would otherwise start them with
        # `uv run` when this process was, in an environment without the extras.
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        # A one-machine cluster: Ray then takes the loopback address as the node's own
        # (without this it replaces 127.0.0.1 by the machine's address).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise UsageError(
            "`--ray` needs Ray, which is not installed",
            hint="install the extra: pip install 'vitalskills[ray]' (or uv sync --extra ray)",
        ) from None
    if not ray.is_initialized():
        if address == "auto":
            ray.init(
                address="local", include_dashboard=False, _node_ip_address="127.0.0.1",
                log_to_driver=False, configure_logging=False,
            )  # fmt: skip
        else:
            try:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            except ConnectionError as error:
                raise UsageError(
                    f"cannot connect to the Ray cluster at {address}: {error}",
                    hint="check the address (ray://HOST:10001 or HOST:6379), or use --ray auto",
                ) from None
    return ray
