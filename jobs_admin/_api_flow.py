"""The flow-control part of :class:`~jobs_admin.JobsAdmin`'s public API: pause and resume job
types, set their limits, list and steer the workers (thin methods over
:mod:`jobs_admin.service._flow`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import permissions
from .runtime import Runtime
from .service import _flow


class FlowAPI:
    """Mixed into :class:`~jobs_admin.JobsAdmin`."""

    access: permissions.Access

    if TYPE_CHECKING:  # JobsAPI's, next to this class in JobsAdmin

        def runtime(self, app: Any = None) -> Runtime: ...

    def pause(self, type_name: str, *, user: Any = None) -> bool:
        """Pause a job type in every process: no worker claims its jobs from its next control
        tick on (within a second); running jobs finish; pending ones show "Paused". Survives
        restarts. Return whether it was not paused.

        :param user: who pauses it (default: the logged-in user), recorded with the pause.
        :raises UnknownJobType: no such type.
        """
        return _flow.pause(self.runtime(), type_name, self.access.who(user))

    def resume(self, type_name: str, *, user: Any = None) -> bool:
        """Resume a paused job type; return whether it was paused.

        :raises UnknownJobType: no such type.
        """
        return _flow.resume(self.runtime(), type_name, self.access.who(user))

    def set_limits(
        self,
        type_name: str,
        *,
        max_concurrency: int | str | None = None,
        rate_limit: str | None = None,
        user: Any = None,
    ) -> tuple[int | None, str | None]:
        """Set a job type's limits at runtime, overriding those declared in code (``None``: no
        limit). Return them as stored.

        :param max_concurrency: most jobs of the type running at once across every process.
        :param rate_limit: most starts per period across every process (``"100/m"``).
        :raises UnknownJobType: no such type.
        :raises InvalidLimit: a limit is malformed; nothing changed.
        """
        return _flow.set_limits(
            self.runtime(), type_name, self.access.who(user), max_concurrency, rate_limit
        )

    def held_phases(self) -> dict[str, str]:
        """Job type -> the phase its pending jobs show while flow control holds them back
        ("Paused", "Waiting: max concurrency 2", "Waiting: rate limit 100/m")."""
        return _flow.held_phases(self.runtime())

    def job_types_overview(self) -> list[_flow.TypeRow]:
        """Every registered type with its pending, running and failed-in-24-h counts, its pause
        and its limits (the Job types page)."""
        return _flow.type_rows(self.runtime())

    def workers(self) -> list[_flow.WorkerRow]:
        """Every recorded worker (name, hostname, pid, state, heartbeat_at, the jobs it runs),
        lost ones included (``lost``: silent for over ``JOBS_ADMIN_STALE_AFTER``)."""
        return _flow.workers(self.runtime())

    def quiet(self, worker_name: str, *, user: Any = None) -> bool:
        """Ask a worker (on any machine) to stop claiming and finish its running jobs.

        :raises UnknownWorker: no such worker.
        """
        return _flow.quiet(self.runtime(), worker_name, self.access.who(user))

    def unquiet(self, worker_name: str, *, user: Any = None) -> bool:
        """Ask a quiet worker to claim jobs again.

        :raises UnknownWorker: no such worker.
        """
        return _flow.unquiet(self.runtime(), worker_name, self.access.who(user))

    def stop(self, worker_name: str, *, user: Any = None) -> bool:
        """Ask a worker to stop gracefully (cancellable jobs handed back, then it exits; an
        embedded worker stops and its web process goes on serving).

        :raises UnknownWorker: no such worker.
        """
        return _flow.stop(self.runtime(), worker_name, self.access.who(user))
