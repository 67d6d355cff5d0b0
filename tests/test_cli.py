"""``flask jobs ...`` through ``app.test_cli_runner()``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from tests.support import Probe


@pytest.fixture
def cli(app: Flask) -> Any:
    runner = app.test_cli_runner()

    def invoke(*args: str) -> Any:
        return runner.invoke(args=["jobs", *args])

    return invoke


def test_cli_enqueue_with_params(cli: Any, jobs: Any, probe: Probe) -> None:
    result = cli(
        "enqueue",
        "test.echo",
        "--param",
        "text=hello world",
        "-p",
        "n=5",
        "-p",
        "flag=true",
        "-p",
        "nothing=null",
        "-p",
        'obj={"a": [1, 2]}',
        "-p",
        "tag=a",
        "-p",
        "tag=b",
        "-p",
        "tag=3",
        "-p",
        "date=2026-01-02",
        "--name",
        "From the shell",
        "--reference",
        "REF-9",
        "--priority",
        "3",
    )
    assert result.exit_code == 0, result.output
    job_id = int(result.output.strip())
    row = probe.job(job_id)
    assert row["status"] == "pending"
    assert row["params"] == {
        "text": "hello world",
        "n": 5,
        "flag": True,
        "nothing": None,
        "obj": {"a": [1, 2]},
        "tag": ["a", "b", 3],
        "date": "2026-01-02",
    }
    assert (row["name"], row["reference"], row["priority"]) == ("From the shell", "REF-9", 3)
    assert row["created_by"] == "cli"


def test_cli_enqueue_repeated_list_values_stay_items(cli: Any, probe: Probe) -> None:
    result = cli("enqueue", "test.echo", "-p", "rows=[1, 2]", "-p", "rows=[3]")
    assert result.exit_code == 0, result.output
    assert probe.job(int(result.output))["params"] == {"rows": [[1, 2], [3]]}
    single = cli("enqueue", "test.echo", "-p", "rows=[1, 2]")
    assert probe.job(int(single.output))["params"] == {"rows": [1, 2]}


def test_cli_enqueue_through_the_params_form(cli: Any, probe: Probe) -> None:
    result = cli("enqueue", "test.items", "-p", "count=4", "-p", 'label="4"')
    assert result.exit_code == 0, result.output
    assert probe.job(int(result.output))["params"] == {
        "count": 4,
        "fail_every": None,
        "label": "4",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("enqueue", "test.nope"), "unknown job type 'test.nope'"),
        (("enqueue", "test.items", "-p", "count=many"), "count"),
        (("enqueue", "test.items", "-p", "count=1", "-p", "colour=red"), "colour"),
        (("enqueue", "test.noop", "-p", "x=1"), "do not fit"),
        (("enqueue", "test.noop", "-p", "novalue"), "is not KEY=VALUE"),
        (("enqueue", "test.noop", "-p", "=1"), "is not KEY=VALUE"),
    ],
)
def test_cli_enqueue_bad_input_fails_clearly(
    cli: Any, probe: Probe, args: tuple[str, ...], message: str
) -> None:
    result = cli(*args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert probe.count("jobs") == 0


def test_cli_list_with_filters(cli: Any, make_job: Any) -> None:
    done = make_job("completed")
    failed = make_job("failed")
    pending = make_job("pending", "test.echo", name_="x")
    everything = cli("list")
    assert everything.exit_code == 0
    lines = everything.output.splitlines()
    assert lines[0].split()[:3] == ["ID", "STATUS", "TYPE"]
    listed = [int(line.split()[0]) for line in lines[1:]]
    assert sorted(listed) == sorted([done, failed, pending])
    only_failed = cli("list", "--status", "failed")
    assert [int(x.split()[0]) for x in only_failed.output.splitlines()[1:]] == [failed]
    assert "test.fail_once" in only_failed.output
    only_echo = cli("list", "--type", "test.echo")
    assert [int(x.split()[0]) for x in only_echo.output.splitlines()[1:]] == [pending]
    assert cli("list", "--status", "running").output.strip() == "no jobs"
    bad = cli("list", "--status", "exploded")
    assert bad.exit_code != 0 and "exploded" in bad.output
    assert len(cli("list", "--limit", "1").output.splitlines()) == 2


def test_cli_show(cli: Any, make_job: Any) -> None:
    job_id = make_job("failed")
    result = cli("show", str(job_id))
    assert result.exit_code == 0, result.output
    assert f"id: {job_id}" in result.output
    assert "status: failed" in result.output
    assert "error: ValueError: no luck" in result.output
    assert "traceback:" in result.output and "Traceback (most recent call last)" in result.output
    assert "events:" in result.output and "enqueued" in result.output
    missing = cli("show", "999999")
    assert missing.exit_code != 0 and "job 999999 does not exist" in missing.output


def test_cli_retry_cancel_delete(cli: Any, probe: Probe, make_job: Any) -> None:
    failed = make_job("failed")
    result = cli("retry", str(failed))
    assert result.exit_code == 0, result.output
    assert f"job {failed} queued again" in result.output
    assert probe.status(failed) == "pending"

    result = cli("cancel", str(failed))
    assert result.exit_code == 0 and f"job {failed} cancelled" in result.output
    assert probe.status(failed) == "cancelled"

    running = make_job("running", "test.slow_cancellable")
    result = cli("cancel", str(running))
    assert result.exit_code == 0 and f"job {running} asked to stop" in result.output
    assert probe.job(running)["cancel_requested"] is True

    result = cli("delete", str(failed))
    assert result.exit_code == 0 and f"job {failed} deleted" in result.output
    assert probe.job(failed) is None


def test_cli_refused_actions_fail_clearly(cli: Any, probe: Probe, make_job: Any) -> None:
    completed = make_job("completed")
    pending = make_job("pending")
    before = (probe.snapshot(completed), probe.snapshot(pending))
    for args, message in (
        (("retry", str(completed)), "cannot retry it"),
        (("cancel", str(completed)), "cannot cancel it"),
        (("delete", str(pending)), "still active"),
        (("retry", "999999"), "job 999999 does not exist"),
        (("delete", "abc"), "abc"),
    ):
        result = cli(*args)
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert (probe.snapshot(completed), probe.snapshot(pending)) == before


def test_cli_prune_and_dry_run(cli: Any, probe: Probe, make_job: Any) -> None:
    old = make_job("completed")
    new = make_job("completed")
    active = make_job("pending")
    probe.update(old, finished_at=datetime.now(UTC) - timedelta(days=10))
    dry = cli("prune", "--days", "7", "--dry-run")
    assert dry.exit_code == 0
    assert "would delete 1 finished job(s) older than 7 day(s)" in dry.output
    assert {r["id"] for r in probe.jobs()} == {old, new, active}  # nothing deleted
    default = cli("prune")  # 30 days by default
    assert "deleted 0 finished job(s) older than 30 day(s)" in default.output
    result = cli("prune", "--days", "7")
    assert result.exit_code == 0
    assert "deleted 1 finished job(s) older than 7 day(s)" in result.output
    assert {r["id"] for r in probe.jobs()} == {new, active}
    bad = cli("prune", "--days", "-1")
    assert bad.exit_code != 0
    assert {r["id"] for r in probe.jobs()} == {new, active}


def test_cli_types(cli: Any, jobs: Any) -> None:
    result = cli("types")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert set(lines) >= {"test.noop", "test.items", "test.uncancellable", "test.timeout"}
    assert "params: count, fail_every, label" in lines["test.items"]
    assert "not cancellable" in lines["test.uncancellable"]
    assert "timeout=0.3s" in lines["test.timeout"]
    assert "max_attempts=3" in lines["test.fail"]


def test_cli_recount(cli: Any, jobs: Any, probe: Probe, make_job: Any) -> None:
    make_job("completed")
    make_job("pending")
    counters = jobs.store.counts_table
    with jobs.db.engine.begin() as conn:
        conn.execute(counters.delete())
    assert jobs.counts()["total"] == 0
    result = cli("recount")
    assert result.exit_code == 0
    assert "pending=1" in result.output and "completed=1" in result.output
    assert "total=2" in result.output
    assert jobs.counts() == probe.group_by_status()
