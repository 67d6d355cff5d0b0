"""The job panel on the host's own pages (JobsPanelMixin, jobs_admin_panel) and "My jobs"."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import render_template_string

from host_app.extensions import db as host_db
from host_app.models import ExportProfile, Product, User
from tests.support import CSRF_FIELD


def profile(app: Any, name: str = "Spring", skus: str = "TS-001, MUG-001") -> int:
    with app.app_context():
        row = ExportProfile(name=name, definition="spring", skus=skus)
        host_db.session.add(row)
        host_db.session.commit()
        return int(row.id)


def export(jobs: Any, ref: str, by: str = "operator", **kw: Any) -> int:
    kw.setdefault("definition", "spring")
    kw.setdefault("skus", ["TS-001"])
    return int(jobs.enqueue("catalog.export", reference=ref, created_by=by, commit=True, **kw).id)


def panel_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-jobs-admin-panel-job="(\d+)"', html)]


def panel_of(html: str) -> str:
    start = html.index("data-jobs-admin-panel")
    return html[start:]


def forms(html: str, action: str) -> list[str]:
    return re.findall(rf'<form method="POST" action="(/admin/jobs/\d+/{action})"', html)


def run_links(html: str) -> list[str]:
    return [
        unescape(h)
        for h in re.findall(
            r'class="btn btn-sm btn-primary ml-2 jobs-admin-panel-run" href="([^"]+)"', html
        )
    ]


def add_user(app: Any, name: str, role: str) -> None:
    with app.app_context():
        user = User(username=name, email=f"{name}@shop.example", role=role)
        user.set_password(name)
        host_db.session.add(user)
        host_db.session.commit()


def test_panel_mixin_lists_last_executions_on_details_and_edit_pages(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    pid = profile(app)
    ref = f"export-profile:{pid}"
    with app.app_context():
        made = [export(jobs, ref) for _ in range(6)]
        other = export(jobs, "export-profile:999")
    auth.login("admin")
    for page in (f"/admin/exportprofile/details/?id={pid}", f"/admin/exportprofile/edit/?id={pid}"):
        html = client.get(page).get_data(as_text=True)
        assert "Last executions" in html
        shown = panel_ids(html)
        assert shown == sorted(made, reverse=True)[:5]
        assert other not in shown
        # Pending jobs: Stop for each (admin has cancel), no Retry.
        assert len(forms(html, "cancel")) == 5
        assert forms(html, "retry") == []
        assert len(run_links(html)) == 1
    # The host's own page is still there around the panel.
    html = client.get(f"/admin/exportprofile/edit/?id={pid}").get_data(as_text=True)
    assert 'name="skus"' in html


def test_panel_says_no_executions_yet(app: Any, client: Any, auth: Any) -> None:
    pid = profile(app)
    auth.login("admin")
    html = client.get(f"/admin/exportprofile/details/?id={pid}").get_data(as_text=True)
    assert "No executions yet." in html
    assert panel_ids(html) == []


def test_panel_viewer_sees_own_jobs_without_stop_or_run(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    pid = profile(app)
    ref = f"export-profile:{pid}"
    with app.app_context():
        mine = export(jobs, ref, by="viewer")
        theirs = export(jobs, ref, by="operator")
    auth.login("viewer")
    html = client.get(f"/admin/exportprofile/details/?id={pid}").get_data(as_text=True)
    assert panel_ids(html) == [mine]
    assert theirs not in panel_ids(html)
    assert forms(html, "cancel") == []  # no 'cancel' permission
    assert run_links(html) == []  # no 'run' permission


def test_panel_operator_gets_retry_on_failed_and_stop_on_pending(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    pid = profile(app)
    ref = f"export-profile:{pid}"
    with app.app_context():
        failed = int(jobs.enqueue("test.fail_once", reference=ref, commit=True).id)
        jobs.work_off()
        pending = export(jobs, ref)
    auth.login("operator")
    html = client.get(f"/admin/exportprofile/details/?id={pid}").get_data(as_text=True)
    # No type filter on this page's panel? ExportProfileView lists catalog.export only.
    assert panel_ids(html) == [pending]
    html = client.get(f"/admin/jobs/panel?reference={ref}&url=/x").get_data(as_text=True)
    assert panel_ids(html) == [pending, failed]
    assert forms(html, "retry") == [f"/admin/jobs/{failed}/retry"]
    assert forms(html, "cancel") == [f"/admin/jobs/{pending}/cancel"]


def test_panel_hidden_without_view(app: Any, client: Any, auth: Any, jobs: Any) -> None:
    pid = profile(app)
    with app.app_context():
        export(jobs, f"export-profile:{pid}", by="guest")
    add_user(app, "guest", "guest")
    auth.login("guest")
    html = client.get(f"/admin/exportprofile/details/?id={pid}").get_data(as_text=True)
    assert "Spring" in html
    assert "data-jobs-admin-panel" not in html
    assert "My jobs" not in html
    response = client.get(f"/admin/jobs/panel?reference=export-profile:{pid}")
    assert response.status_code == 403
    assert response.get_json()["error"]["status"] == 403


def test_panel_stop_cancels_and_comes_back_to_the_record(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    pid = profile(app)
    page = f"/admin/exportprofile/details/?id={pid}"
    with app.app_context():
        job = export(jobs, f"export-profile:{pid}")
    auth.login("operator")
    html = client.get(page).get_data(as_text=True)
    (action,) = forms(html, "cancel")
    token = CSRF_FIELD.search(panel_of(html)).group(1)
    back = unescape(re.search(r'name="url" value="([^"]+)"', panel_of(html)).group(1))
    assert back == page
    response = client.post(action, data={"csrf_token": token, "url": back})
    assert response.status_code == 302
    assert response.headers["Location"] == page
    with app.app_context():
        assert probe.status(job) == "cancelled"
    html = client.get(page).get_data(as_text=True)
    assert f"Job {job} is cancelled." in html
    assert forms(html, "cancel") == []


def test_panel_run_prefills_the_form_and_enqueues_with_the_reference(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    pid = profile(app, skus="TS-001, MUG-001, X-404")
    page = f"/admin/exportprofile/details/?id={pid}"
    auth.login("operator")
    (link,) = run_links(client.get(page).get_data(as_text=True))
    args = parse_qs(urlsplit(link).query)
    assert args["reference"] == [f"export-profile:{pid}"]
    assert args["url"] == [page]
    form = client.get(link).get_data(as_text=True)
    assert "TS-001, MUG-001, X-404</textarea>" in form
    assert f'name="reference" value="export-profile:{pid}"' in form
    token = CSRF_FIELD.search(form).group(1)
    response = client.post(
        "/admin/jobs/new?type=catalog.export",
        data={
            "csrf_token": token,
            "definition": "spring",
            "skus": "TS-001, MUG-001, X-404",
            "reference": f"export-profile:{pid}",
            "url": page,
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == page
    with app.app_context():
        (row,) = probe.jobs(type="catalog.export")
    assert row["reference"] == f"export-profile:{pid}"
    assert row["params"]["skus"] == ["TS-001", "MUG-001", "X-404"]
    assert row["created_by"] == "operator"
    html = client.get(page).get_data(as_text=True)
    assert "Started job" in html and f"#{row['id']} Export catalog" in html
    assert panel_ids(html) == [row["id"]]


def test_panel_run_refuses_a_foreign_return_url(
    app: Any, client: Any, auth: Any, probe: Any
) -> None:
    auth.login("operator")
    form = client.get("/admin/jobs/new?type=test.noop&url=https://evil.example/").get_data(
        as_text=True
    )
    token = CSRF_FIELD.search(form).group(1)
    response = client.post(
        "/admin/jobs/new?type=test.noop",
        data={"csrf_token": token, "url": "https://evil.example/", "reference": "r:1"},
    )
    assert response.headers["Location"] == "/admin/jobs/"
    with app.app_context():
        assert [r["reference"] for r in probe.jobs()] == ["r:1"]


def test_panel_jinja_global_on_a_host_template(app: Any, client: Any, auth: Any, jobs: Any) -> None:
    @app.route("/orders/<int:n>")
    def order(n: int) -> str:
        return render_template_string(
            "<h1>Order {{ n }}</h1>"
            "{{ jobs_admin_panel(reference='order:' ~ n, types=['test.noop'], run=['test.echo'],"
            " limit=2) }}",
            n=n,
        )

    with app.app_context():
        ids = [
            int(jobs.enqueue("test.noop", reference="order:5", commit=True).id) for _ in range(3)
        ]
        echo = int(jobs.enqueue("test.echo", reference="order:5", commit=True).id)
    auth.login("admin")
    html = client.get("/orders/5").get_data(as_text=True)
    assert panel_ids(html) == [ids[2], ids[1]]
    assert echo not in panel_ids(html)
    (link,) = run_links(html)
    assert parse_qs(urlsplit(link).query)["reference"] == ["order:5"]
    assert "jobs_admin_panel.js" in html
    auth.logout()
    assert "data-jobs-admin-panel" not in client.get("/orders/5").get_data(as_text=True)


def test_panel_fragment_refuses_bad_arguments(app: Any, client: Any, auth: Any) -> None:
    assert client.get("/admin/jobs/panel?reference=a").status_code == 401
    auth.login("admin")
    response = client.get("/admin/jobs/panel")
    assert response.status_code == 400
    assert response.get_json()["error"]["argument"] == "reference"
    response = client.get("/admin/jobs/panel?reference=a&type=no.such")
    assert response.get_json()["error"]["argument"] == "type"
    response = client.get("/admin/jobs/panel?reference=a&url=https://evil.example/")
    assert response.status_code == 200
    assert "evil.example" not in response.get_data(as_text=True)


def test_panel_escapes_what_users_typed(app: Any, client: Any, auth: Any, jobs: Any) -> None:
    pid = profile(app)
    with app.app_context():
        export(jobs, f"export-profile:{pid}", name="<script>alert(1)</script>")
    auth.login("admin")
    html = client.get(f"/admin/exportprofile/details/?id={pid}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_product_page_shows_the_imports_and_exports_that_touched_it(
    app: Any, client: Any, auth: Any, jobs: Any
) -> None:
    pid = profile(app, skus="ACME-00001, TS-001")
    other = profile(app, name="Other", skus="TS-002")
    with app.app_context():
        product = Product(sku="ACME-00001", name="Anvil", price=1, stock=1)
        host_db.session.add(product)
        host_db.session.commit()
        product_id = product.id
        imported = int(
            jobs.enqueue(
                "products.import",
                reference="supplier:ACME",
                rows=1,
                invalid_every=0,
                supplier="ACME",
                commit=True,
            ).id
        )
        exported = export(jobs, f"export-profile:{pid}")
        unrelated = export(jobs, f"export-profile:{other}")
    auth.login("admin")
    html = client.get(f"/admin/product/details/?id={product_id}").get_data(as_text=True)
    assert panel_ids(html) == [exported, imported]
    assert unrelated not in panel_ids(html)
    (link,) = run_links(html)
    args = parse_qs(urlsplit(link).query)
    assert args["reference"] == ["supplier:ACME"]
    assert args["param.supplier"] == ["ACME"]


@pytest.mark.parametrize(
    ("user", "sees_all"), [("admin", True), ("operator", True), ("viewer", False)]
)
def test_my_jobs_navbar_for_each_demo_user(
    app: Any, client: Any, auth: Any, jobs: Any, make_job: Any, user: str, sees_all: bool
) -> None:
    with app.app_context():
        own_running = make_job("running", created_by=user)
        own_done = make_job("completed", created_by=user)
        make_job("running", created_by="someone")
    auth.login(user)
    for page in ("/admin/", "/admin/jobs/", f"/admin/jobs/details/?id={own_done}"):
        html = client.get(page).get_data(as_text=True)
        menu = html[html.index("data-jobs-admin-my-jobs-menu") :]
        assert "My jobs" in menu
        badge = re.search(r"data-jobs-admin-running[^>]*>(\d+)<", menu)
        assert badge and badge.group(1) == "1"
        assert f"flt0_created_by_equals={user}" in menu
    items = client.get("/admin/jobs/my-jobs?limit=10").get_data(as_text=True)
    listed = [int(i) for i in re.findall(r'data-jobs-admin-my-job="(\d+)"', items)]
    assert listed == [own_done, own_running]
    assert 'data-running="1"' in items


def test_my_jobs_widget_on_the_demo_index(app: Any, client: Any, auth: Any, make_job: Any) -> None:
    with app.app_context():
        ids = [make_job("completed", created_by="operator") for _ in range(12)]
    auth.login("operator")
    html = client.get("/admin/").get_data(as_text=True)
    widget = html[html.index("data-jobs-admin-my-jobs ") :]
    listed = [int(i) for i in re.findall(r'data-jobs-admin-my-job="(\d+)"', widget)]
    assert listed == sorted(ids, reverse=True)[:10]


def test_my_jobs_menu_can_be_turned_off(make_app: Any) -> None:
    app = make_app(JOBS_ADMIN_MY_JOBS=False)
    client = app.test_client()
    from tests.support import login

    login(client, "admin")
    html = client.get("/admin/").get_data(as_text=True)
    assert "data-jobs-admin-my-jobs-menu" not in html
    assert "shop-sign-out" in html


def test_enqueue_with_flash_says_started_job_with_a_link(
    app: Any, client: Any, auth: Any, jobs: Any, probe: Any
) -> None:
    from flask import redirect

    @app.route("/orders/<int:n>/export", methods=["POST"])
    def export_order(n: int) -> Any:
        jobs.enqueue("test.noop", name=f"Order <{n}>", reference=f"order:{n}", flash=True)
        host_db.session.commit()
        return redirect("/admin/")

    auth.login("admin")
    response = client.post("/orders/5/export", follow_redirects=True)
    html = response.get_data(as_text=True)
    with app.app_context():
        (row,) = probe.jobs()
    assert row["id"] == 1 and row["reference"] == "order:5"
    assert 'Started job <a href="/admin/jobs/details/?id=1">#1 Order &lt;5&gt;</a>.' in html


def test_flash_started_is_plain_text_without_the_jobs_view(
    app: Any, jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flask import get_flashed_messages

    with app.test_request_context("/"):
        job = jobs.enqueue("test.noop", name="Nightly", commit=True)
        monkeypatch.delitem(app.view_functions, "jobs.details_view")
        jobs.flash_started(job, "info")
        assert get_flashed_messages(with_categories=True) == [
            ("info", f"Started job #{job.id} Nightly.")
        ]


def test_export_profiles_are_created_by_admins_and_operators_only(
    app: Any, client: Any, auth: Any
) -> None:
    auth.login("operator")
    response = client.post(
        "/admin/exportprofile/new/",
        data={"name": "Autumn", "definition": "autumn", "skus": "TS-001, X-404"},
    )
    assert response.status_code == 302
    with app.app_context():
        (row,) = host_db.session.scalars(host_db.select(ExportProfile)).all()
        assert (row.name, row.sku_list) == ("Autumn", ["TS-001", "X-404"])
        pid = row.id
    html = client.get(f"/admin/exportprofile/edit/?id={pid}").get_data(as_text=True)
    assert "No executions yet." in html
    auth.logout()
    auth.login("viewer")
    client.post("/admin/exportprofile/new/", data={"name": "Sneaky", "definition": "x"})
    html = client.get(f"/admin/exportprofile/details/?id={pid}").get_data(as_text=True)
    assert "Autumn" in html and "jobs-admin-panel-run" not in html
    with app.app_context():
        assert (
            host_db.session.scalar(host_db.select(host_db.func.count()).select_from(ExportProfile))
            == 1
        )
