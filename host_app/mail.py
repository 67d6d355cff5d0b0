"""The demo's completion e-mail: what a host sends its users when their job ends.

Opt-in: sent only when the app sets ``DEMO_MAIL_SERVER`` (``"localhost"``; with
``DEMO_MAIL_PORT``, default 25, ``DEMO_MAIL_SENDER`` and ``DEMO_BASE_URL`` for the link). Sent
with the standard library's :mod:`smtplib`; a host on Flask-Mailman or similar writes the same
few lines with its own client.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any

from flask import Flask

from jobs_admin.admin.format import seconds

#: Seconds the SMTP client waits for the server before it gives up (the mail, not the job).
SMTP_TIMEOUT = 10


def job_mail(app: Flask, job: Any, to: str) -> EmailMessage:
    """The message telling ``to`` that ``job`` ended: status, duration, a link, the error.

    :param app: the app (its ``DEMO_MAIL_SENDER`` and ``DEMO_BASE_URL``).
    :param job: the finished job (the ``job_finished`` signal's snapshot).
    :param to: the creator's address.
    """
    base = str(app.config.get("DEMO_BASE_URL", "http://127.0.0.1:5000")).rstrip("/")
    link = f"{base}/admin/jobs/details/?id={job.id}"
    message = EmailMessage()
    message["Subject"] = f"Job #{job.id} {job.name or job.type}: {job.status}"
    message["From"] = str(app.config.get("DEMO_MAIL_SENDER", "jobs@shop.example"))
    message["To"] = to
    lines = [
        f"Your job #{job.id} {job.name or job.type} ended: {job.status}.",
        f"Duration: {seconds(job.duration)}",
        f"Details: {link}",
    ]
    if job.error:
        lines += ["", "Error:", str(job.error)]
    message.set_content("\n".join(lines) + "\n")
    return message


def send_job_mail(app: Flask, job: Any, to: str) -> bool:
    """Send :func:`job_mail` through ``DEMO_MAIL_SERVER``; ``False`` when mail is off.

    :raises OSError: the server could not be reached or refused the message.
    """
    server = app.config.get("DEMO_MAIL_SERVER")
    if not server:
        return False
    port = int(app.config.get("DEMO_MAIL_PORT", 25))
    with smtplib.SMTP(str(server), port, timeout=SMTP_TIMEOUT) as smtp:
        smtp.send_message(job_mail(app, job, to))
    return True
