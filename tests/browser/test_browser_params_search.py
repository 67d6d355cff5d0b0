"""Search by params in a real Chromium: a ``params.KEY:VALUE`` term typed in the list's search
box, and a term that does not parse (a message, the list unfiltered)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def table_ids(page: Any) -> list[int]:
    texts = page.locator("table.model-list td.col-id a").all_inner_texts()
    return [int(t.strip().lstrip("#")) for t in texts]


def test_browser_params_term_in_the_search_box(ui: Any, app: Any, jobs: Any) -> None:
    with app.app_context():
        acme = jobs.enqueue("test.echo", params={"customer": {"id": 4711}, "feed": "ACME feed"})
        other = jobs.enqueue("test.echo", params={"customer": {"id": 42}, "feed": "ACME feed"})
        jobs.db.session.commit()
        acme_id, other_id = int(acme.id), int(other.id)
    page = ui.page
    ui.login("admin")
    ui.go("/admin/jobs/")
    assert sorted(table_ids(page)) == sorted([acme_id, other_id])
    box = page.locator("input[type=text][name=search]")
    box.fill('params.feed:"ACME feed" params.customer.id:4711')
    with page.expect_navigation():
        box.press("Enter")
    assert table_ids(page) == [acme_id]
    expect(box).to_have_value('params.feed:"ACME feed" params.customer.id:4711')
    box.fill("params.customer.id")
    with page.expect_navigation():
        box.press("Enter")
    expect(page.locator(".alert-danger")).to_contain_text("needs KEY:VALUE; the search is ignored")
    assert sorted(table_ids(page)) == sorted([acme_id, other_id])
