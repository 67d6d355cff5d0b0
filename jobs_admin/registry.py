"""Job types: what a registered job function is, and how its params are checked."""

from __future__ import annotations

import datetime as dt
import decimal
import inspect
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict
from wtforms import Form

from ._unique import DEFAULT_WHILE, Unique, check_while, unique_key
from .errors import InvalidParams, UnknownJobType

JobFunc = Callable[..., Any]
RetryItems = Callable[[dict[str, Any], list[str]], dict[str, Any]]
#: ``links(job) -> [(label, url), ...]``: reference links a job's detail page shows.
Links = Callable[[Any], "list[tuple[str, str]]"]

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-:")

#: The prefix of jobs_admin's own job types (``jobs_admin.prune``); hosts cannot register it.
BUILTIN_PREFIX = "jobs_admin."


@dataclass(frozen=True)
class JobType:
    """A registered kind of job: the function that runs it and how it runs."""

    name: str
    func: JobFunc
    title: str
    params: type[Form] | None = None
    max_attempts: int = 1
    retry_backoff: float = 30.0
    timeout: float | None = None
    cancellable: bool = True
    retry_items: RetryItems | None = None
    description: str | None = None
    #: Whether ``ctx.item_done`` and ``ctx.item_failed`` record every item in the Items table.
    record_items: bool = False
    #: The file inside a ZIP result the preview opens (``"index.html"``); an HTML result
    #: file is previewed without it.
    preview: str | None = None
    #: ``links(job) -> [(label, url)]``: reference links shown in the detail overview.
    links: Links | None = None
    #: ``True`` (type + params) or ``key(params)``: at most one job per key is queued (see
    #: :mod:`jobs_admin._unique`); ``False``: no limit.
    unique: Unique = False
    #: While which statuses a job holds its unique key: ``("pending", "running")`` or
    #: ``("pending",)``.
    unique_while: tuple[str, ...] = DEFAULT_WHILE
    #: Most jobs of this type running at once across every process (``None``: no limit).
    max_concurrency: int | None = None
    #: Most starts per period across every process (``"100/m"``; ``None``: no limit).
    rate_limit: str | None = None
    signature: inspect.Signature | None = field(default=None, compare=False, repr=False)

    @property
    def limited(self) -> bool:
        """Whether the type declares a limit in code."""
        return self.max_concurrency is not None or self.rate_limit is not None

    @property
    def builtin(self) -> bool:
        """Whether this is one of jobs_admin's own types (``jobs_admin.*``)."""
        return self.name.startswith(BUILTIN_PREFIX)

    def unique_key(self, params: dict[str, Any]) -> str | None:
        """The unique key a job with these (validated) params holds; ``None``: not unique."""
        return unique_key(self.name, self.unique, self.unique_while, params)

    def validate(self, params: Mapping[str, Any], max_bytes: int) -> dict[str, Any]:
        """Check and coerce ``params``; return them as JSON-ready data.

        :param params: the params given to ``enqueue`` or posted by the run form.
        :param max_bytes: the largest JSON encoding accepted.
        :raises InvalidParams: with the field errors, a param the function does not take, a
            value that is not JSON, or params that are too large.
        """
        data = self._coerce(params) if self.params is not None else dict(params)
        try:
            encoded = json.dumps(data, default=_json_default, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidParams(f"params of {self.name!r} are not JSON: {exc}") from None
        if len(encoded.encode()) > max_bytes:
            raise InvalidParams(
                f"params of {self.name!r} are {len(encoded.encode())} bytes as JSON;"
                f" the limit is {max_bytes}"
            )
        data = json.loads(encoded)
        errors = unstorable_params(data)
        if errors:
            raise InvalidParams(f"invalid params for {self.name!r}", errors)
        self._check_signature(data)
        return data

    def _coerce(self, params: Mapping[str, Any]) -> dict[str, Any]:
        assert self.params is not None
        form_cls = self.params
        form = form_cls(formdata=_as_formdata(params), meta={"csrf": False})
        unknown = sorted(set(params) - set(form._fields))
        errors: dict[str, list[str]] = {k: ["not a parameter of this job type"] for k in unknown}
        if not form.validate():
            errors.update({k: [str(m) for m in v] for k, v in form.errors.items()})
        if errors:
            raise InvalidParams(f"invalid params for {self.name!r}", errors)
        return {k: v for k, v in form.data.items() if k not in ("csrf_token", "submit")}

    def _check_signature(self, data: dict[str, Any]) -> None:
        if self.signature is None:
            return
        try:
            self.signature.bind(None, **data)
        except TypeError as exc:
            raise InvalidParams(f"params do not fit {self.name!r}: {exc}") from None


def _as_formdata(params: Mapping[str, Any]) -> MultiDict[str, Any]:
    """Turn Python params into form data so the WTForms fields coerce them as they would a POST."""
    formdata: MultiDict[str, Any] = MultiDict()
    for key, value in params.items():
        if isinstance(value, bool):
            # BooleanField reads presence; an absent key is false.
            if value:
                formdata.add(key, "y")
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                formdata.add(key, item if isinstance(item, str) else json.dumps(item, default=str))
        elif value is None:
            formdata.add(key, "")
        elif isinstance(value, str):
            formdata.add(key, value)
        elif isinstance(value, dt.date | dt.datetime | dt.time):
            formdata.add(key, value.isoformat())
        else:
            formdata.add(key, str(value))
    return formdata


def unstorable_char(text: str) -> str | None:
    """The first character of ``text`` that a database text column cannot hold, if any.

    PostgreSQL's ``text`` and ``jsonb`` refuse NUL (U+0000), and no UTF-8 column holds a lone
    surrogate (U+D800 to U+DFFF, which Python strings may carry); SQLite would take both and
    hand them back to a PostgreSQL deployment or a browser that chokes on them.

    :param text: the text to check.
    """
    if "\x00" in text:
        return "\x00"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return text[exc.start]
    return None


def storable(text: str) -> str:
    """``text`` with each :func:`unstorable_char` replaced by U+FFFD, the replacement character.

    For what a job writes (log lines, messages, errors): better kept marked than refused.

    :param text: the text to store.
    """
    if unstorable_char(text) is None:
        return text
    return "".join("\ufffd" if unstorable_char(c) is not None else c for c in text)


def describe_char(char: str) -> str:
    """Name an unstorable character without writing it: ``"NUL (U+0000)"``.

    :param char: one character returned by :func:`unstorable_char`.
    """
    code = f"U+{ord(char):04X}"
    return f"NUL ({code})" if char == "\x00" else f"a lone surrogate ({code})"


def _label(key: str, limit: int = 40) -> str:
    """A key as it may appear in a message: unprintable characters escaped, cut to ``limit``.

    :param key: a param's name or a key inside its value.
    :param limit: the most characters of ``key`` shown.
    """
    text = "".join(
        c if c.isprintable() and unstorable_char(c) is None else f"\\u{ord(c):04x}"
        for c in key[:limit]
    )
    return text + "..." if len(key) > limit else text


def unstorable_params(data: Mapping[str, Any]) -> dict[str, list[str]]:
    """Field errors for the params whose names or values hold an :func:`unstorable_char`.

    Nested lists and dicts are searched too, keys included; a message says where inside the
    param, never what the value is.

    :param data: params as JSON-ready data (what :meth:`JobType.validate` stores).
    """
    errors: dict[str, list[str]] = {}
    for key, value in data.items():
        field = _label(key)
        bad = unstorable_char(key)
        if bad is not None:
            errors[field] = [f"its name contains {describe_char(bad)}, {_CANNOT}"]
            continue
        found = first_unstorable(value)
        if found is not None:
            where, bad = found
            at = f" at {where}" if where else ""
            errors[field] = [f"contains {describe_char(bad)}{at}, {_CANNOT}"]
    return errors


_CANNOT = "which the database cannot store"


def first_unstorable(value: Any) -> tuple[str, str] | None:
    """Where in ``value`` (``'["k"][1]'``, ``"a key of it"``) the first unstorable character is.

    Walked with a stack, not recursion: nesting as deep as the params' size allows is no error.

    :param value: JSON-ready data (a param's value, a job's result).
    :returns: the place (``""`` for ``value`` itself) and the character, or ``None``.
    """
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            bad = unstorable_char(item)
            if bad is not None:
                return path, bad
        elif isinstance(item, dict):
            for key in item:
                bad = unstorable_char(key)
                if bad is not None:
                    return (f"a key of {path}" if path else "a key of it"), bad
            stack.extend((f'{path}["{_label(k)}"]', v) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(item))))
    return None


def _json_default(value: Any) -> Any:
    """Encode what WTForms fields produce (dates, decimals) as JSON."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class Registry:
    """The job types of one :class:`~jobs_admin.JobsAdmin`, by name."""

    def __init__(self) -> None:
        self._types: dict[str, JobType] = {}
        #: Schedules declared in code (``jobs.schedule`` / ``job_type(schedule=...)``), by
        #: name: :class:`jobs_admin.service.ScheduleSpec` values, stored by ``sync_schedules``.
        self.schedules: dict[str, Any] = {}

    def add(self, job_type: JobType, *, builtin: bool = False) -> None:
        """Register ``job_type``.

        :param job_type: the type to register.
        :param builtin: whether jobs_admin registers one of its own ``jobs_admin.*`` types;
            only those may use the prefix.
        :raises ValueError: the name is malformed, reserved for jobs_admin, or already taken
            by another function.
        """
        name = job_type.name
        if not name or not set(name) <= _NAME_CHARS:
            raise ValueError(
                f"job type name {name!r} must be lowercase letters, digits and . _ - : only"
            )
        if name.startswith(BUILTIN_PREFIX) != builtin:
            raise ValueError(
                f"job type name {name!r}: names starting with {BUILTIN_PREFIX!r} are reserved"
                " for jobs_admin's built-in job types"
                if not builtin
                else f"built-in job type {name!r} must be named {BUILTIN_PREFIX}*"
            )
        existing = self._types.get(name)
        if existing is not None and existing.func is not job_type.func:
            raise ValueError(f"job type {name!r} is already registered")
        if job_type.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if job_type.retry_backoff < 0:
            raise ValueError("retry_backoff must not be negative")
        if job_type.timeout is not None and job_type.timeout <= 0:
            raise ValueError("timeout must be positive")
        if not (isinstance(job_type.unique, bool) or callable(job_type.unique)):
            raise ValueError("unique must be True, False or a function of the params")
        check_while(job_type.unique_while)
        self._types[name] = job_type

    def get(self, name: str) -> JobType:
        """Return the job type called ``name``.

        :raises UnknownJobType: none is registered under that name.
        """
        try:
            return self._types[name]
        except KeyError:
            raise UnknownJobType(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Any:
        return iter(sorted(self._types.values(), key=lambda t: t.title.lower()))

    def __len__(self) -> int:
        return len(self._types)


def make_job_type(name: str, func: JobFunc, **options: Any) -> JobType:
    """Build a :class:`JobType` for ``func``, deriving the title and keeping its signature."""
    title = options.pop("title", None) or name.replace("_", " ").replace(".", " ").capitalize()
    # The docstring's first paragraph: its :param: fields are for developers, not the run form.
    doc = (inspect.getdoc(func) or "").split("\n\n", 1)[0].strip()
    description = options.pop("description", None) or doc or None
    try:
        signature: inspect.Signature | None = inspect.signature(func)
    except (TypeError, ValueError):
        signature = None
    from .limits import check_concurrency, normal_rate

    options["max_concurrency"] = check_concurrency(options.get("max_concurrency"))
    options["rate_limit"] = normal_rate(options.get("rate_limit"))
    return JobType(
        name=name,
        func=func,
        title=title,
        description=description,
        signature=signature,
        **options,
    )
