"""Benchmark: the mail outbox. Queue 10,000 mails in one transaction, then deliver them over SMTP.

    .venv/bin/python bench/mail_outbox.py [--mails 10000] [--deliver 2000] [--keep]

SQLite under a temporary directory; PostgreSQL when TOEGANG_DATABASE_URL points at a server (a
scratch database beside it, dropped afterwards unless --keep). JSON: one entry per database vendor.

Prints mails/second for ``mail_enqueue_many`` (one bulk insert, what a CSV import of 10,000 users
calls), for ``mail_enqueue`` row by row in one transaction (what a service queuing one mail per
change calls), and for ``mail_deliver_due`` (the job body: claim, send, mark sent, one row at a
time) handing ``--deliver`` of them to a real SMTP server on 127.0.0.1 (tests/smtp_sink.py, a thread
of this process, so the figure includes serving SMTP on the same cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import ROOT, bench_database, django_setup, free_port, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mails", type=int, default=10_000)
    parser.add_argument("--deliver", type=int, default=2_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "mail_outbox.json")
    args = parser.parse_args()
    port = free_port()
    with bench_database("mail", keep=args.keep) as (url, tmp):
        django_setup(url, tmp, TOEGANG_EMAIL_URL=f"smtp://127.0.0.1:{port}", TOEGANG_TASK_ENGINE="database")
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        results = _run(args, port, vendor=url.split(":", 1)[0])
    # One entry per database vendor: a run on PostgreSQL keeps the SQLite figures beside it.
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    write_json(args.out, {k: v for k, v in previous.items() if k in {"sqlite", "postgres"}} | results)


def _run(args: argparse.Namespace, port: int, *, vendor: str) -> dict[str, object]:
    from django.db import transaction
    from django_tasks_db.models import DBTaskResult

    sys.path.insert(0, str(ROOT))
    from tests.smtp_sink import smtp_sink
    from toegang.mail.models import MailStatus, OutgoingMail
    from toegang.mail.services import mail_deliver_due, mail_enqueue, mail_enqueue_many

    n = args.mails
    messages = [
        (f"user{i}@example.test", f"Access changed {i}", f"Hello user {i},\n\nyour access changed.\n") for i in range(n)
    ]
    rows: list[tuple[str, float]] = []

    t = time.perf_counter()
    with transaction.atomic():
        assert mail_enqueue_many(messages) == n
    rows.append(("mail_enqueue_many (one transaction)", time.perf_counter() - t))

    t = time.perf_counter()
    with transaction.atomic():
        for to, subject, body in messages:
            mail_enqueue(to=to, subject=subject, body=body)
    rows.append(("mail_enqueue one by one (one transaction)", time.perf_counter() - t))
    jobs = DBTaskResult.objects.filter(task_path="toegang.mail.tasks.mail_deliver").count()
    assert jobs == 2, jobs  # one delivery job per transaction, however many mails it queued

    deliver = min(args.deliver, 2 * n)
    with smtp_sink(port) as sink:
        t = time.perf_counter()
        result = mail_deliver_due(limit=deliver)
        elapsed = time.perf_counter() - t
    assert result.sent == deliver == len(sink.messages), (result, len(sink.messages))
    assert OutgoingMail.objects.filter(status=MailStatus.SENT).count() == deliver

    print(f"{vendor}: {n:,} mails per transaction")
    print(f"{'step':48} {'seconds':>8} {'mails/s':>10}")
    for label, seconds in rows:
        print(f"{label:48} {seconds:8.2f} {n / seconds:10,.0f}")
    label = f"mail_deliver_due over SMTP ({deliver:,} mails)"
    print(f"{label:48} {elapsed:8.2f} {deliver / elapsed:10,.0f}")
    return {
        vendor: {
            "mails": n,
            **{label: {"seconds": round(s, 3), "per_second": round(n / s)} for label, s in rows},
            "mail_deliver_due over SMTP": {
                "mails": deliver,
                "seconds": round(elapsed, 3),
                "per_second": round(deliver / elapsed),
            },
            "delivery jobs enqueued": jobs,
        }
    }


if __name__ == "__main__":
    main()
