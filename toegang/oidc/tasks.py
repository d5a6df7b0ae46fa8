"""Jobs of back-channel logout (toegang/oidc/backchannel.py): deliver the logout tokens, and the sweep."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django_tasks import default_task_backend, task

from toegang.jobs.services import host_id, slot_enqueue
from toegang.oidc import backchannel

logger = logging.getLogger(__name__)


@task()
def backchannel_deliver() -> dict[str, Any]:
    """POST the due logout tokens; after failures, come back when the first of them is due again."""
    result = backchannel.backchannel_deliver_due()
    if result.retry_at is not None:
        _deliver_later(result.retry_at)
    return result.as_dict()


@task()
def backchannel_sweep() -> int:
    """Periodic: end the sessions past their absolute lifetime, and deliver what is due without a job."""
    ended = backchannel.oidc_sessions_expire()
    backchannel.backchannel_leases_expire()
    if backchannel.backchannel_due_count():
        backchannel_deliver.enqueue()
    return ended


def _deliver_later(at: datetime) -> None:
    # As the mail outbox: one retry job per minute; engines without run_after leave it to the sweep.
    if not default_task_backend.supports_defer:
        logger.info("task engine has no run_after: the back-channel sweep retries at %s", at)
        return
    slot = at.replace(second=0, microsecond=0)
    if slot < at:
        slot += timedelta(minutes=1)
    slot_enqueue(job="oidc.backchannel.retry", slot=slot, task=backchannel_deliver, host=host_id(), run_after=slot)
