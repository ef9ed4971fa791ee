"""The production server: N uvicorn workers (uvloop + httptools), one socket each.

Each worker binds its own listening socket with SO_REUSEPORT, so the kernel spreads
new connections evenly across workers; with one shared socket, long-lived keep-alive
connections can pile onto one worker while another idles (docs/serving.md).

The supervisor loads and checks every model before it forks, so a URI that does not
resolve fails at start with a clear message, and so does a port another server holds.
SIGTERM or Ctrl-C drains: workers stop accepting, finish the requests in flight and
exit. SIGHUP makes every worker, and the supervisor, reload its models (POST
/admin/reload sends it for you), so a worker that dies is replaced by one serving the
same versions as the others. Workers exit with the supervisor, even on SIGKILL.
Connections are bounded per worker (scalepipe.serve.limits).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from scalepipe.endpoints.auth import ApiKeys
from scalepipe.endpoints.service import DEFAULT_BODY_LIMIT, PredictionHook, Service
from scalepipe.errors import ServeError
from scalepipe.predict import Predictor
from scalepipe.predict.predictor import LoadedVersion
from scalepipe.serve.app import ServingApp
from scalepipe.serve.drift import EVERY_SECONDS as DRIFT_EVERY_SECONDS
from scalepipe.serve.drift import WINDOW as DRIFT_WINDOW
from scalepipe.serve.drift import DriftGauges
from scalepipe.serve.limits import ConnectionLimits, limited_protocol
from scalepipe.serve.metrics import Metrics, multiprocess_folder, worker_exited
from scalepipe.serve.predlog import PredictionLog

log = logging.getLogger("scalepipe.serve")
GRACEFUL_SECONDS = 30


@dataclass
class ServerOptions:
    uris: Sequence[str]
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    store: str | None = None
    api_key_file: Path | None = None
    api_keys_env: str | None = None
    refresh_seconds: float | None = None
    body_limit: int = DEFAULT_BODY_LIMIT
    allow_pickle: bool = False
    log_predictions: Path | None = None
    # Seconds between SIGTERM and the drain during which /readyz answers 503 and requests
    # are still served, so that a load balancer's health check takes the server out before
    # it closes its connections (a request on a keep-alive connection closed under it
    # would fail).
    drain_delay: float = 0.0
    drift_window: int = DRIFT_WINDOW  # rows per model and worker; 0: no drift gauges
    drift_every: float = DRIFT_EVERY_SECONDS
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    on_ready: Callable[[str], None] | None = field(default=None, repr=False)
    # Other ASGI apps to serve beside the models, made from the loaded predictors in each
    # worker: path prefix -> app (the command line mounts the model app at /app).
    mounts: Callable[[Sequence[Predictor]], Mapping[str, Any]] | None = field(
        default=None, repr=False
    )


def load_models(options: ServerOptions) -> list[Predictor]:
    """Every model the server will serve, loaded and verified now (fails fast)."""
    if not options.uris:
        raise ServeError("name at least one model URI to serve, e.g. scalepipe serve games")
    predictors = [
        Predictor.load(uri, store=options.store, allow_pickle=options.allow_pickle)
        for uri in options.uris
    ]
    names = [p.name for p in predictors]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ServeError(f"each model is served once; {', '.join(duplicates)} is named twice")
    return predictors


def check_port_free(host: str, port: int) -> None:
    """Refuse a port another server listens on: SO_REUSEPORT would let this one share it
    (with orphaned workers of a killed server, say) and split the traffic."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ServeError(
                f"cannot listen on {host}:{port}: {error.strerror}; another server holds it "
                "(stop it, or choose another --port)"
            ) from None


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    return sock


def serve(options: ServerOptions) -> None:
    """Serve the models until SIGTERM or Ctrl-C; returns after every worker has drained."""
    if options.api_key_file and options.api_keys_env:
        raise ServeError("name the API keys once: a file or an environment variable")
    api_keys = (
        ApiKeys.from_file(options.api_key_file)
        if options.api_key_file
        else ApiKeys.from_env(options.api_keys_env)
        if options.api_keys_env
        else ApiKeys()
    )
    predictors = load_models(options)

    def make_app() -> Any:
        if options.refresh_seconds:
            _refresh_all(predictors)  # a worker started late serves what the others do
            for predictor in predictors:
                predictor.refresh_every(options.refresh_seconds)

        def reload_everywhere() -> None:
            os.kill(os.getppid(), signal.SIGHUP)

        def reload_here(signum: int, frame: FrameType | None) -> None:
            threading.Thread(target=_refresh_all, args=(predictors,), daemon=True).start()

        signal.signal(signal.SIGHUP, reload_here)
        metrics = Metrics()
        metrics.start()
        shutdown = [metrics.close]
        hooks: list[PredictionHook] = []
        if options.log_predictions is not None:
            prediction_log = PredictionLog(options.log_predictions, metrics=metrics)
            prediction_log.start()
            shutdown.append(prediction_log.close)
            hooks.append(prediction_log.record)
        if options.drift_window > 0:
            gauges = DriftGauges(metrics, options.drift_window, options.drift_every)
            gauges.start()
            shutdown.append(gauges.close)
            hooks.append(gauges.record)
        service = Service(
            predictors,
            api_keys=api_keys,
            body_limit=options.body_limit,
            on_reload=reload_everywhere,
            metrics=metrics,
            on_prediction=_all(hooks),
        )
        mounts = options.mounts(predictors) if options.mounts is not None else None
        return ServingApp(service, on_shutdown=shutdown, mounts=mounts)

    names = ", ".join(p.name for p in predictors)
    with multiprocess_folder():
        run_workers(
            make_app,
            options.host,
            options.port,
            options.workers,
            options.on_ready,
            names,
            limits=options.limits,
            on_reload=lambda: _refresh_all(predictors),
            drain_delay=options.drain_delay,
        )
    for predictor in predictors:
        predictor.close()


def run_workers(
    make_app: Callable[[], Any],
    host: str,
    port: int,
    workers: int,
    on_ready: Callable[[str], None] | None = None,
    what: str = "app",
    *,
    limits: ConnectionLimits | None = None,
    on_reload: Callable[[], None] | None = None,
    drain_delay: float = 0.0,
) -> None:
    """Run `make_app()`'s ASGI app in `workers` forked uvicorn processes, one socket each.

    `on_reload` runs in the supervisor on SIGHUP, so that workers it starts later load
    what the running ones reloaded to. `drain_delay`: seconds a worker keeps serving after
    SIGTERM, its app told to drain (`app.drain()`: /readyz answers 503), before it stops.
    """
    if workers < 1:
        raise ServeError(f"--workers must be 1 or more, got {workers}")
    check_port_free(host, port)
    # Holding the port (bound, never listening) reserves it and fixes port 0 to one number.
    reservation = listening_socket(host, port)
    try:
        _Supervisor(
            make_app,
            host,
            reservation.getsockname()[1],
            workers,
            on_ready,
            what,
            limits or ConnectionLimits(),
            on_reload,
            drain_delay,
        ).run()
    finally:
        reservation.close()


class _Supervisor:
    def __init__(
        self,
        make_app: Callable[[], Any],
        host: str,
        port: int,
        workers: int,
        on_ready: Callable[[str], None] | None,
        what: str,
        limits: ConnectionLimits,
        on_reload: Callable[[], None] | None,
        drain_delay: float = 0.0,
    ) -> None:
        self.drain_delay = drain_delay
        self.make_app = make_app
        self.limits = limits
        self.on_reload = on_reload
        self.host = host
        self.port = port
        self.count = workers
        self.on_ready = on_ready
        self.what = what
        self.workers: dict[int, int] = {}
        self.stopping = False

    def run(self) -> None:
        previous = {
            sig: signal.signal(sig, self._on_signal)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        }
        try:
            for slot in range(self.count):
                self._start(slot)
            self._wait_until_listening()
            url = f"http://{self.host}:{self.port}"
            log.info("serving %s on %s with %d workers", self.what, url, self.count)
            if self.on_ready is not None:
                self.on_ready(url)
            self._supervise()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _start(self, slot: int) -> None:
        supervisor = os.getpid()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                _exit_with_parent(supervisor)
                _run_worker(self.make_app, self.host, self.port, self.limits, self.drain_delay)
                code = 0
            except BaseException:
                log.exception("worker %d failed", os.getpid())
            finally:
                os._exit(code)
        self.workers[pid] = slot

    def _supervise(self) -> None:
        while self.workers:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            worker_exited(pid)
            slot = self.workers.pop(pid, None)
            if slot is not None and not self.stopping:
                log.warning("worker %d exited (status %d); starting another", pid, status)
                time.sleep(0.5)
                self._start(slot)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            for pid in self.workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGHUP)
            if self.on_reload is not None:
                self.on_reload()
            return
        self.stopping = True
        for pid in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + 60
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the workers did not start listening on port {self.port}")


def _exit_with_parent(supervisor: int) -> None:
    """Have the kernel send SIGTERM to this worker when the supervisor dies (Linux)."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != supervisor:  # it died before prctl took effect
        os._exit(1)


def _run_worker(
    make_app: Callable[[], Any],
    host: str,
    port: int,
    limits: ConnectionLimits,
    drain_delay: float = 0.0,
) -> None:
    import uvicorn

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    app = make_app()
    # The loaded models and libraries live as long as the worker: keep the garbage
    # collector from walking them again and again (fewer latency spikes).
    gc.freeze()
    sock = listening_socket(host, port)
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http=limited_protocol(limits),
        timeout_keep_alive=limits.keep_alive,
        lifespan="on",
        access_log=False,
        log_level="warning",
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )
    drain = getattr(app, "drain", None)

    class DrainingServer(uvicorn.Server):
        """On the first SIGTERM, tells the app to drain and goes on serving for
        `drain_delay` seconds before uvicorn's own graceful shutdown."""

        delayed = False

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if drain_delay > 0 and drain is not None and not self.delayed:
                self.delayed = True
                drain()
                later = threading.Timer(drain_delay, super().handle_exit, (sig, frame))
                later.daemon = True
                later.start()
                return
            super().handle_exit(sig, frame)

    DrainingServer(config).run(sockets=[sock])
    sys.stdout.flush()


def _all(hooks: list[PredictionHook]) -> PredictionHook | None:
    if len(hooks) < 2:
        return hooks[0] if hooks else None

    def every(model: LoadedVersion, request: Any, scores: list[float], seconds: float) -> None:
        for hook in hooks:
            hook(model, request, scores, seconds)

    return every


def _refresh_all(predictors: list[Predictor]) -> None:
    for predictor in predictors:
        try:
            predictor.refresh()
        except Exception:
            log.exception(
                "reloading %s failed; keeping version %s", predictor.uri, predictor.version
            )
