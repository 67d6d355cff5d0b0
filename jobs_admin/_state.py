"""Per-app state of the extension (kept in the extension, keyed by app, never on ``self``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .config import Settings

if TYPE_CHECKING:
    from .connections import OwnConnections
    from .live.feed import LiveFeed
    from .store import JobStore
    from .worker import Worker


@dataclass
class AppState:
    """What :meth:`JobsAdmin.init_app` sets up for one app."""

    settings: Settings
    #: The store of the app's database, chosen once by :func:`~jobs_admin.store.make_store`.
    store: JobStore
    connections: OwnConnections | None = None
    worker: Worker | None = None
    live: LiveFeed | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: A place for each CSV export streaming now (``JOBS_ADMIN_MAX_EXPORTS``).
    exports: threading.BoundedSemaphore = field(init=False)

    def __post_init__(self) -> None:
        self.exports = threading.BoundedSemaphore(self.settings.max_exports)
