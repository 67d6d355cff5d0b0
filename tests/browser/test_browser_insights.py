"""The Insights and Failures pages in a real Chromium: the charts render from the package's
uPlot, hover shows exact values, a click on a bar opens the filtered list, the current interval
grows without a reload; a failure group's "Retry all" queues its job."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser]


def test_browser_insights_charts_render_hover_click_and_grow(
    ui: Any, jobs: Any, make_job: Any
) -> None:
    page = ui.page
    failed = make_job("failed", created_by="admin")
    make_job("completed", created_by="admin")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    ui.login("admin")
    ui.go("/admin/jobs/insights/?range=1h")
    expect(page.locator("#jobs-admin-chart-ends canvas")).to_have_count(1)
    expect(page.locator("#jobs-admin-chart-rate canvas")).to_have_count(1)
    # uPlot came from the package's static files, not a CDN.
    assert page.evaluate("typeof uPlot") == "function"
    # Hover the newest interval: the legend shows each status's own count.
    page.evaluate(
        """() => { const c = window.jobsAdminInsights, d = c.data();
                   let i = d.times.length - 1;
                   while (i > 0 && !d.counts.failed[i]) { i--; }
                   window.jobsAdminTestIndex = i;
                   c.ends.setCursor({left: c.ends.valToPos(d.times[i], "x"), top: 10}); }"""
    )
    legend = page.locator("#jobs-admin-chart-ends .u-legend")
    expect(legend.locator("tr", has_text="failed").locator(".u-value")).to_have_text("1")
    expect(legend.locator("tr", has_text="completed").locator(".u-value")).to_have_text("1")
    # The current interval grows without a reload (the page asks for the figures again).
    page.evaluate("window.jobsAdminTestMark = 1")
    make_job("failed", created_by="admin")
    page.wait_for_function(
        "() => window.jobsAdminInsights.data().counts.failed.reduce((a, b) => a + b, 0) === 2",
        timeout=15000,
    )
    assert page.evaluate("window.jobsAdminTestMark") == 1
    # A click on the failed band of a bar: the list of the jobs that failed in that interval.
    box = page.evaluate(
        """() => { const c = window.jobsAdminInsights, d = c.data();
                   const i = d.times.length - 1 - [...d.counts.failed].reverse().findIndex(n => n);
                   const top = d.counts.completed[i] + d.counts.partial[i]
                     + d.counts.failed[i] - 0.5;
                   const r = c.ends.over.getBoundingClientRect();
                   return {x: r.left + c.ends.valToPos(d.times[i], "x"),
                           y: r.top + c.ends.valToPos(top, "y")}; }"""
    )
    page.mouse.move(box["x"], box["y"])
    with page.expect_navigation():
        page.mouse.click(box["x"], box["y"])
    assert "flt0_status_equals=failed" in page.url and "finished_between" in page.url
    expect(page.locator(f'a[href*="details/?id={failed}"]').first).to_be_visible()
    assert errors == []


def test_browser_failures_group_and_retry_all(
    ui: Any, jobs: Any, make_job: Any, probe: Any
) -> None:
    page = ui.page
    for _ in range(3):
        make_job("failed", created_by="admin")
    ui.login("admin")
    ui.go("/admin/jobs/failures/")
    group = page.locator(".jobs-admin-failure-group")
    expect(group).to_have_count(1)
    expect(group.locator(".badge-danger")).to_have_text("3")
    expect(group.locator(".jobs-admin-failure-message")).to_have_text("no luck")
    group.locator("summary").click()
    expect(group.locator("pre")).to_contain_text("Traceback")
    with page.expect_navigation():
        group.get_by_role("button", name="Retry all").click()
    expect(page.locator(".alert")).to_contain_text("Started job")
    assert len(probe.jobs(type="jobs_admin.failure_group")) == 1
