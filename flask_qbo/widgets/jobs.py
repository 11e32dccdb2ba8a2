"""Jobs (sub-customers) on the card: a parent rolls up its jobs, a job names its parent.

QBO's ``BalanceWithJobs`` is what a customer and all its jobs owe together; the
card shows it under "Balance with jobs" with a short list of the jobs (each
with its own balance, a link to its contact's card when a contact is linked
to it, and a deep link into QBO).  A job's card says whose job it is.  All of
it comes from the mirror (``qbo_customer``), within the viewer's tenant.
"""

from __future__ import annotations

import dataclasses
import typing as t
from decimal import Decimal

from sqlalchemy.orm import Session

from ..models import Customer
from . import deeplinks

if t.TYPE_CHECKING:
    from .data import WidgetContext

#: Jobs listed on a parent's card; the rest are counted ("and 3 more").
MAX_LISTED = 10


@dataclasses.dataclass(frozen=True)
class JobLine:
    """One job (or the parent of one) as the card shows it."""

    name: str
    balance: Decimal | None
    currency: str | None
    #: The linked contact's key, for a link to its card (``None``: no contact in this CRM).
    contact_key: str | None
    qbo_url: str | None


def _line(customer: Customer, tenant_key: str) -> JobLine:
    key = customer.contact_key if customer.tenant_key == tenant_key else None
    return JobLine(
        name=customer.display_name or customer.qbo_id,
        balance=customer.balance,
        currency=customer.currency,
        contact_key=key,
        qbo_url=deeplinks.customer_url(customer.qbo_id, customer.realm_id),
    )


def _scoped(session: Session, ctx: WidgetContext, customer: Customer) -> t.Any:
    return session.query(Customer).filter(Customer.tenant_key == ctx.tenant_key, Customer.realm_id == customer.realm_id)


def card(session: Session, ctx: WidgetContext) -> dict[str, t.Any]:
    """The card's job context: ``jobs`` (first :data:`MAX_LISTED`), ``jobs_more``, ``balance_with_jobs``, ``job_of``."""
    customer = ctx.customer
    empty: dict[str, t.Any] = {"jobs": [], "jobs_more": 0, "balance_with_jobs": None, "job_of": None}
    if customer is None:
        return empty
    children = (
        _scoped(session, ctx, customer)
        .filter(Customer.parent_qbo_id == customer.qbo_id, Customer.active.is_(True))
        .order_by(Customer.display_name, Customer.id)
        .limit(MAX_LISTED + 1)
        .all()
    )
    more = 0
    if len(children) > MAX_LISTED:
        more = (
            _scoped(session, ctx, customer)
            .filter(Customer.parent_qbo_id == customer.qbo_id, Customer.active.is_(True))
            .count()
            - MAX_LISTED
        )
    job_of = None
    if customer.is_job or customer.parent_qbo_id or customer.parent_name:
        parent = (
            _scoped(session, ctx, customer).filter(Customer.qbo_id == customer.parent_qbo_id).one_or_none()
            if customer.parent_qbo_id
            else None
        )
        if parent is not None:
            job_of = _line(parent, ctx.tenant_key)
        else:
            name = customer.parent_name or _parent_path(customer) or customer.parent_qbo_id or "—"
            url = deeplinks.customer_url(customer.parent_qbo_id, customer.realm_id)
            job_of = JobLine(name=name, balance=None, currency=None, contact_key=None, qbo_url=url)
    with_jobs = customer.balance_with_jobs if children or customer.balance_with_jobs != customer.balance else None
    return {
        "jobs": [_line(child, ctx.tenant_key) for child in children[:MAX_LISTED]],
        "jobs_more": more,
        "balance_with_jobs": with_jobs,
        "job_of": job_of,
    }


def _parent_path(customer: Customer) -> str | None:
    """The parent's part of QBO's ``FullyQualifiedName`` (``"Acme:Phase 1"`` → ``"Acme"``)."""
    path = str((customer.raw or {}).get("FullyQualifiedName") or "")
    return path.rsplit(":", 1)[0] if ":" in path else None
