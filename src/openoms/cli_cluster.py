"""``oms serve --role engine|gateway|projector``: the processes of a cluster on NATS JetStream
(see src/openoms/cluster/). Each runner returns the process's exit status."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

from rich.console import Console

from .config import DEMO_FIX_SESSION, Config

console = Console(stderr=True)
log = logging.getLogger("openoms.cluster")
ROLES = ("single", "engine", "gateway", "projector")


def read_models_path(cfg: Config, given: str | None) -> str:
    """A SQLite file or a postgresql:// URL (kept as text: a Path would fold its "//")."""
    return given or str(cfg.data_dir / "read_models.sqlite")


def _until_signal(body: Callable[[asyncio.Event], Awaitable[bool]]) -> int:
    """Run ``body(stop)`` with SIGINT/SIGTERM setting ``stop``; 0 when it ends well."""

    async def main() -> bool:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        return await body(stop)

    return 0 if asyncio.run(main()) else 1


def run_engine(cfg: Config, shard: int, shards: int, prefix: str) -> int:
    """One engine shard: the accounts that hash to shard N of M, their commands taken from
    JetStream, their events journaled in this shard's own journal and sent to the event stream."""
    from .bootstrap import build
    from .cluster.partition import Subjects
    from .cluster.shard import EngineShard
    from .journal.sqlite import JournalError
    from .service.runtime import JournalCorrupt

    try:
        oms = build(cfg)
        oms.recover()
    except (JournalError, JournalCorrupt) as exc:
        console.print(f"[red]journal problem, not starting:[/red] {exc}")
        return 1

    async def body(stop: asyncio.Event) -> bool:
        await oms.start()
        engine_shard = EngineShard(oms, cfg.nats_url, shard, shards, Subjects(prefix))
        try:
            await engine_shard.run(stop)
        finally:
            await oms.stop()
            await engine_shard.close()  # what the OMS journaled while stopping goes out first
        return oms.runtime.failure is None

    return _until_signal(body)


def run_projector(cfg: Config, prefix: str, read_models: str, name: str) -> int:
    """The projector: every shard's events into the read models the gateways serve."""
    from .bootstrap import route_to_fix_venues
    from .cluster.partition import Subjects
    from .cluster.projector import Projector
    from .cluster.read_models import ReadModelError, ReadModels
    from .demo import demo_reference

    try:
        store = ReadModels(read_models)
    except ReadModelError as exc:
        console.print(f"[red]{exc}[/red]")
        return 1

    async def body(stop: asyncio.Event) -> bool:
        projector = Projector(store, route_to_fix_venues(demo_reference(), cfg), cfg.nats_url, Subjects(prefix), name)
        try:
            await projector.run(stop)
        finally:
            store.close()
        return projector.failure is None

    return _until_signal(body)


def run_gateway(cfg: Config, shards: int, prefix: str, read_models: str, answer_timeout: float) -> int:
    """The gateway: the REST API, commands to the owning shards, reads from the read models."""
    import uvicorn

    from .api.fix_acceptor import unavailable_port
    from .bootstrap import build
    from .cluster.gateway import ClusterGateway
    from .cluster.gateway_api import create_gateway_app
    from .cluster.partition import Subjects
    from .cluster.read_models import ReadModelError, ReadModels
    from .journal.memory import MemoryJournal

    try:
        store = ReadModels(read_models, readonly=True)
    except ReadModelError as exc:
        console.print(f"[red]{exc}[/red]")
        return 1
    # FIX only for sessions the config file names: the built-in demo session is the single
    # server's demo, and gateways on one host would all want its port.
    serve_fix = cfg.fix_enabled and cfg.fix_sessions != (DEMO_FIX_SESSION,)
    problem = unavailable_port(cfg) if serve_fix else None
    if problem is not None:
        console.print(f"[red]{problem}[/red]")
        store.close()
        return 1
    # Never started: configuration, reference data and the user store for sign-in and access rules.
    oms = build(cfg, journal=MemoryJournal())
    app = create_gateway_app(oms, ClusterGateway(cfg.nats_url, shards, Subjects(prefix)), store,
                             trusted_header=cfg.trust_user_header, answer_timeout=answer_timeout, serve_fix=serve_fix)
    if cfg.trust_user_header:
        log.warning("trust_user_header is on: X-OMS-User names the caller with no credential; never expose this port")
    for signum in (signal.SIGINT, signal.SIGTERM):  # see cli.serve: a clean shutdown exits 0
        signal.signal(signum, lambda *_: None)
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level=cfg.log_level.lower(), access_log=cfg.access_log, log_config=None)
    return 0
