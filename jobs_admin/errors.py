"""The one exception hierarchy of jobs_admin."""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:
    """Mark ``message`` for the catalogues; it is translated when shown (:meth:`translated`)."""
    return message


class JobsAdminError(Exception):
    """Base class of every error jobs_admin raises on purpose.

    ``str(error)`` is English (logs, the CLI, the JSON API); the pages show
    :meth:`translated`, the same message in the user's language where the error knows its
    message's parts.
    """

    #: The English message with ``%(name)s`` placeholders, and their values.
    message_id: str | None = None
    message_vars: dict[str, Any] = {}

    def _said(self, message: str, **variables: Any) -> str:
        self.message_id = message
        self.message_vars = variables
        return message % variables

    def translated(self) -> str:
        """The message in the request's language (English outside a request)."""
        from .i18n import gettext, status_label

        if self.message_id is None:
            return str(self)
        values = dict(self.message_vars)
        for key in self._translated_vars.intersection(values):
            # A status shows under its name ("Failed"), an action's words in the language.
            values[key] = (
                status_label(values[key]).lower() if key == "current" else gettext(values[key])
            )
        return gettext(self.message_id, **values)

    #: Variables that are messages themselves (an action's words).
    _translated_vars: frozenset[str] = frozenset()


class UnknownJobType(JobsAdminError, LookupError):
    """No job type is registered under this name."""

    def __init__(self, name: str) -> None:
        super().__init__(self._said(N_("unknown job type %(name)r"), name=name))
        self.name = name


class InvalidParams(JobsAdminError, ValueError):
    """The params of a job do not validate; ``errors`` maps each field to its messages."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        if errors:
            detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(errors.items()))
            message = f"{message}: {detail}"
        super().__init__(message)
        self.errors: dict[str, list[str]] = errors or {}


class JobNotFound(JobsAdminError, LookupError):
    """No job has this id."""

    def __init__(self, job_id: Any) -> None:
        super().__init__(self._said(N_("job %(id)s does not exist"), id=job_id))
        self.job_id = job_id


class InvalidTransition(JobsAdminError):
    """The status machine does not allow this change (for example retrying a running job)."""

    _translated_vars = frozenset({"what", "current"})

    def __init__(self, job_id: Any, current: str, wanted: str, action: str | None = None) -> None:
        """:param action: what could not be done, as a message marked with :func:`N_`
        ("cancel it"); without it, "move to <wanted>"."""
        if action is None:
            message = self._said(
                N_("job %(id)s is %(current)s: cannot move to %(wanted)s"),
                id=job_id,
                current=current,
                wanted=wanted,
            )
        else:
            message = self._said(
                N_("job %(id)s is %(current)s: cannot %(what)s"),
                id=job_id,
                current=current,
                what=action,
            )
        super().__init__(message)
        self.job_id = job_id
        self.current = current
        self.wanted = wanted


class PermissionDenied(JobsAdminError):
    """The current user lacks the permission an admin action needs."""

    def __init__(self, permission: str) -> None:
        super().__init__(
            self._said(N_("you do not have the %(permission)r permission"), permission=permission)
        )
        self.permission = permission


class JobCancelled(BaseException):
    """Raised inside a running job by :meth:`JobContext.check_cancelled` once it must stop.

    Jobs should let it propagate; the runner turns it into the right end state. Like
    ``KeyboardInterrupt`` (and Dramatiq's ``Interrupt``) it derives from ``BaseException``, not
    from :class:`JobsAdminError`: an ``except Exception:`` in a job, meant for the errors of
    one item, must not swallow the stop. A job that swallows it anyway (a bare ``except:``)
    still ends as the stop says: the runner remembers that it was raised.
    """

    def __init__(self, reason: str = "cancelled") -> None:
        super().__init__(reason)
        self.reason = reason


class WorkerError(JobsAdminError, RuntimeError):
    """The worker cannot start or stop as asked."""


class InvalidArgument(JobsAdminError, ValueError):
    """A value given to a jobs_admin method or form is out of range or malformed."""


class InvalidSchedule(JobsAdminError, ValueError):
    """A schedule's cron expression, time zone, name or params cannot work."""


class ScheduleNotFound(JobsAdminError, LookupError):
    """No schedule has this name (or id)."""


class ScheduleProtected(JobsAdminError):
    """A built-in or code-declared schedule cannot be deleted (only disabled)."""


class DuplicateJob(JobsAdminError):
    """A job of a ``unique`` type was enqueued (or retried) while another job holds its key:
    the one pending or running, whose id is ``job_id``."""

    def __init__(self, job_id: int, type_name: str | None = None) -> None:
        what = f"a {type_name!r} job" if type_name else "a job"
        super().__init__(f"{what} with the same unique key is already queued: #{job_id}")
        self.job_id = job_id


class InvalidLimit(InvalidArgument):
    """A ``max_concurrency`` or ``rate_limit`` is malformed (``rate_limit`` reads ``"N/s"``,
    ``"N/m"`` or ``"N/h"``)."""


class UnknownWorker(JobsAdminError, LookupError):
    """No live worker has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(self._said(N_("no worker named %(name)r"), name=name))
        self.name = name
