"""Jobs where the work lives: a job panel on the host's own admin pages and "My jobs".

* :class:`JobsPanelMixin` adds a record's last executions (with Stop, Retry and "Run <type>")
  to the details and edit pages of a host's Flask-Admin ``ModelView``;
* ``{{ jobs_admin_panel(reference, types=None, run=None, limit=5) }}`` renders the same panel in
  any template of the host, ``{{ jobs_admin_my_jobs(limit=10) }}`` the user's latest jobs;
* "My jobs" in the navbar of every admin page (``JOBS_ADMIN_MY_JOBS``), with the "job finished"
  toasts.
"""

from __future__ import annotations

from .mixin import JobsPanelMixin

__all__ = ["JobsPanelMixin"]
