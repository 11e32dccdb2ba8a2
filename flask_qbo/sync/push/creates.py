"""Backlogs of new contacts: three requests per 30, whatever the backlog.

One at a time, a new contact costs three requests (an email query, a
DisplayName query, the create).  For a claimed batch of up to 30 new contacts
this module sends one email query and one DisplayName query for all of them
(:mod:`flask_qbo.sync.push.lookup`), both at once, then one batch request of
up to 30 creates: three requests and two round trips per 30.  The rules stay
those of the single-row path
(:mod:`flask_qbo.sync.push.create`): an existing customer with the contact's
email, else with its DisplayName (inactive ones included, a different email
is another person), is matched instead of created; a new customer gets a
DisplayName no other customer holds ("Ann Lee (2)" ...).

No duplicate, ever:

* Before the batch is sent, each row's DisplayName and values are committed
  on the row (``create_sent``), as the single path does.  A row that comes
  back with a ``create_sent`` (its answer was lost) never enters a batch
  again: the single path adopts the customer it created
  (:func:`flask_qbo.sync.push.create.own_lost_create`).
* QBO's ``requestid`` dedupes a whole batch request, not its items (a batch's
  id is at most 36 characters; items have only a ``bId``).  The batch's id is
  derived from every item's own id, a UUID of the row's ``uuid``, the name
  sent and the values' hash: the client's retries of that request, and any
  repeat of exactly those items, get QBO's first answer instead of running it
  again.  A repeat in another composition gets a new id, which is why the
  ``create_sent`` adoption above, not the id, guards it.

QBO answers each item separately: an accepted create is recorded with the
batch's others in one commit (:func:`~flask_qbo.sync.push.settle.record_all`);
a duplicate name (6240, a customer created meanwhile, or two contacts of the
batch with one name) sends that row alone through the single path, which tries
"(2)", "(3)" ...; another validation fault parks the row as ``failed``; any
other fault leaves the row to the single path.  A matched contact is linked by
the single path too, with the customer found here (no query of its own); it
sends an update only when the two differ.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t
import uuid as uuidlib

from sqlalchemy import bindparam
from sqlalchemy import select
from sqlalchemy import update

from ...errors import QBOAuthError
from ...errors import QBODuplicateNameError
from ...errors import QBOError
from ...errors import QBORateLimitError
from ...errors import QBOStaleObjectError
from ...errors import QBOTokenDecryptError
from ...errors import QBOTransientError
from ...errors import QBOValidationError
from ...intuit.aside import Aside
from ...intuit.faults import batch_error
from ...models import CompanyPrefs
from ...models import Connection
from ...models import Customer
from ...models import Outbox
from ...models import utcnow
from ..currency import check_currency
from ..currency import create_currency
from ..locks import hold_connection
from ..payload import DELETED_SUFFIX
from ..payload import build_create_payload
from ..payload import contact_values
from ..payload import customer_hash
from ..payload import display_name
from ..payload import qbo_values
from ..payload import unique_display_name
from ..preflight import validate_values
from ..queue import OUTBOX
from . import rows
from .context import with_extra
from .create import active_first
from .create import same_person
from .lookup import customers_by_email
from .lookup import customers_by_name
from .settle import record_all

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ...extension import QBO
    from ...fieldmap import FieldMap
    from ...intuit.client import QBOClient


@dataclasses.dataclass
class New:
    """One new contact of a batch: its row and values (read before the session expires)."""

    row_id: int
    uuid: str
    contact_key: str
    values: dict[str, t.Any]
    created_at: dt.datetime | None
    #: The DisplayName it is created under (set when the create is planned).
    name: str = ""
    action: str = "created"
    #: What the create adds to the mapped values (its currency; see :func:`~flask_qbo.sync.push.context.with_extra`).
    extra: dict[str, t.Any] = dataclasses.field(default_factory=dict)

    @property
    def email(self) -> str | None:
        email = self.values.get("PrimaryEmailAddr.Address")
        return str(email).lower() if email else None

    @property
    def sent(self) -> list[str]:
        """The fields the create sets, as the single path logs them."""
        return [p for p, v in self.values.items() if v is not None]


def plan_new(row: Outbox, contact: object, fields: FieldMap, prefs: CompanyPrefs | None = None) -> New | None:
    """The batch entry of an unlinked contact's row, or ``None`` for the single path.

    A row whose earlier create may have landed (``create_sent``) and values
    that fail pre-flight (a currency the company ``prefs`` refuse included)
    go to the single path: it adopts the one, and explains the other.
    """
    if row.create_sent:
        return None
    values = contact_values(contact, fields)
    try:
        validate_values({p: v for p, v in values.items() if (f := fields.by_path(p)) is not None and f.pushes}, fields)
        check_currency(values, prefs, fields)
    except Exception:  # noqa: BLE001 - the single path classifies and reports it
        return None
    return New(
        row_id=row.id,
        uuid=row.uuid,
        contact_key=row.contact_key,
        values=values,
        created_at=row.created_at,
        extra=create_currency(values, prefs),
    )


@dataclasses.dataclass
class _Plan:
    """What a batch of new contacts comes to once QBO has been asked."""

    matched: list[tuple[New, dict[str, t.Any]]] = dataclasses.field(default_factory=list)
    create: list[New] = dataclasses.field(default_factory=list)
    single: list[int] = dataclasses.field(default_factory=list)


def push_new(qbo: QBO, session: Session, conn: Connection, client: QBOClient, news: list[New]) -> bool:
    """Match or create a batch of new contacts; False when the realm should pause this round.

    Every row in ``news`` is claimed and settled here: recorded, parked, put
    back, or pushed through the single path.
    """
    tenant_key = conn.tenant_key  # read now: commits expire conn
    try:
        plan = _match(qbo, session, conn, client, news)
    except QBOError as exc:
        if _paused(qbo, session, conn, tenant_key, [n.row_id for n in news], exc):
            return False
        plan = _Plan(single=[n.row_id for n in news])
    done: list[tuple[New, dict[str, t.Any]]] = []
    parked: list[tuple[int, QBOError]] = []
    if plan.create:
        _note_sent(session, conn, plan.create, qbo._registration().fields)
        try:
            answers = client.batch(
                [{"operation": "create", "Customer": _payload(qbo, n)} for n in plan.create],
                request_id=_batch_id(plan.create),
            )
        except QBOError as exc:
            if _paused(qbo, session, conn, tenant_key, [n.row_id for n in plan.create], exc):
                waiting = [new.row_id for new, _ in plan.matched] + plan.single
                OUTBOX.release(session, waiting, delay=0.0, attempts_back=True)
                return False
            answers = [{} for _ in plan.create]  # refused as a whole: each row goes the single path
        refused: list[int] = []
        for new, answer in zip(plan.create, answers):
            data = answer.get("Customer")
            error = batch_error(answer, intuit_tid=client.last_intuit_tid) if answer else None
            if error is None and isinstance(data, dict) and data.get("Id"):
                done.append((new, data))
            elif isinstance(error, QBODuplicateNameError):
                refused.append(new.row_id)
                plan.single.append(new.row_id)  # the single path tries "(2)", "(3)" ...
            elif (
                isinstance(error, QBOValidationError)
                and not isinstance(error, QBOStaleObjectError)
                and (answer.get("Fault") or {}).get("type") == "ValidationFault"
            ):
                refused.append(new.row_id)
                parked.append((new.row_id, error))
            else:
                plan.single.append(new.row_id)  # perhaps applied: the single path looks for it first
        if refused:  # QBO refused these items, so they created nothing: no lost create to look for
            session.execute(update(Outbox).where(Outbox.id.in_(refused)).values(create_sent=None))
            session.commit()
    if done:
        record_all(qbo, session, conn, done)
    for row_id, refusal in parked:
        rows.fail(qbo, row_id, refusal)
    queue = [(new.row_id, found) for new, found in plan.matched] + [(row_id, None) for row_id in sorted(plan.single)]
    for n, (row_id, hit) in enumerate(queue):
        if not rows.handle(qbo, row_id, client, found=hit):
            OUTBOX.release(session, [r for r, _ in queue[n + 1 :]], delay=0.0, attempts_back=True)
            return False
    return True


def _match(qbo: QBO, session: Session, conn: Connection, client: QBOClient, news: list[New]) -> _Plan:
    """Ask QBO for the batch's customers by email and by name at once; decide match, create or single path.

    The name lookup covers every contact of the batch, not only those the
    email lookup leaves, so the two need not wait for each other: it goes out
    from a helper thread (:class:`~flask_qbo.intuit.aside.Aside`) while this
    one asks by email, and a batch costs two round trips to QBO, not three.
    """
    plan = _Plan()
    names = {new.row_id: display_name(new.values) for new in news}
    wanted = [v for n in names.values() for v in (n, n + DELETED_SUFFIX)]
    with Aside(qbo, client, lambda helper: customers_by_name(helper, wanted)) as by_name_aside:
        by_email, unknown = customers_by_email(client, [n.email for n in news if n.email])
        found = by_name_aside.result()
    taken: set[str] = set()  # customer ids matched in this batch
    linked = _linked(session, conn, [r for hits in by_email.values() for r in hits] + found)
    rest: list[New] = []
    for new in news:
        if new.email in unknown:
            plan.single.append(new.row_id)
            continue
        hit = _free(active_first(by_email.get(new.email or "", [])), new, linked, taken)
        if hit is not None:
            plan.matched.append((new, hit))
        else:
            rest.append(new)
    by_name: dict[str, list[dict[str, t.Any]]] = {}
    for customer in found:
        by_name.setdefault(str(customer.get("DisplayName") or "").lower(), []).append(customer)
    used = set(by_name)  # names QBO holds, and those given to creates of this batch
    for new in rest:
        name = names[new.row_id]
        candidates = by_name.get(name.lower(), []) + by_name.get((name + DELETED_SUFFIX).lower(), [])
        hit = _free(active_first(same_person(candidates, new.email)), new, linked, taken)
        if hit is not None:
            plan.matched.append((new, hit))
            continue
        new.name = unique_display_name(name, lambda n: n.lower() in used)
        used.add(new.name.lower())
        plan.create.append(new)
    session.commit()
    return plan


def _linked(session: Session, conn: Connection, customers: list[dict[str, t.Any]]) -> dict[str, str | None]:
    """QBO id → contact key, from the mirror, for the customers QBO returned (one query)."""
    ids = sorted({str(c["Id"]) for c in customers if c.get("Id")})
    if not ids:
        return {}
    found = session.execute(
        select(Customer.qbo_id, Customer.contact_key).where(
            Customer.realm_id == str(conn.realm_id), Customer.qbo_id.in_(ids)
        )
    ).all()
    return {str(qbo_id): contact_key for qbo_id, contact_key in found}


def _free(
    candidates: list[dict[str, t.Any]], new: New, linked: dict[str, str | None], taken: set[str]
) -> dict[str, t.Any] | None:
    """The first candidate no other contact holds (as :func:`flask_qbo.sync.push.create._first_free`)."""
    for data in candidates:
        qbo_id = str(data["Id"])
        if data.get("Job") or qbo_id in taken or linked.get(qbo_id) not in (None, new.contact_key):
            continue
        taken.add(qbo_id)
        return data
    return None


def _payload(qbo: QBO, new: New) -> dict[str, t.Any]:
    return with_extra(build_create_payload(new.values, qbo._registration().fields, new.name), new.extra)


def _note_sent(session: Session, conn: Connection, creates: list[New], fields: FieldMap) -> None:
    """Commit what each create sends before sending it: a lost answer is adopted from it later."""
    hold_connection(session, conn)
    now = utcnow().isoformat()
    notes = [
        {
            "rid": new.row_id,
            "note": {
                "DisplayName": new.name,
                "values": qbo_values(with_extra(build_create_payload(new.values, fields, new.name), new.extra), fields),
                "sent_at": now,
            },
        }
        for new in creates
    ]
    table = OUTBOX.table
    session.execute(
        update(table).where(table.c.id == bindparam("rid")).values(create_sent=bindparam("note")),
        notes,
    )
    session.commit()


def _batch_id(creates: list[New]) -> str:
    """The batch's ``requestid``: one UUID over every item's own (see the module docstring)."""
    items = [
        str(uuidlib.uuid5(uuidlib.UUID(new.uuid), f"batch-create:{new.name}:{customer_hash(new.values)}"))
        for new in creates
    ]
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, "|".join(items)))


def _paused(qbo: QBO, session: Session, conn: Connection, tenant_key: str, row_ids: list[int], exc: QBOError) -> bool:
    """A whole request failed: put its rows back as a single row's would be; False to push them one by one.

    Rows whose create may have been applied (a timeout, a 5xx) keep their
    ``create_sent``, so their next attempt looks for the customer first.  A
    refusal that is about neither the connection nor QBO's load (a 400 for the
    whole request) is left to the single path, row by row.
    """
    if isinstance(exc, QBOAuthError):
        hold_connection(session, conn)  # a purge answers 401 too: then there is nothing left to mark
        rows.needs_reconnect(qbo, row_ids, tenant_key, exc)
    elif isinstance(exc, QBOTokenDecryptError):
        rows.wait_for_key(qbo, row_ids, tenant_key, exc)
    elif isinstance(exc, QBORateLimitError):
        wait = max(exc.retry_after or 0.0, OUTBOX.backoff(session, row_ids[0]))
        OUTBOX.release(session, row_ids, delay=wait, error=exc)
    elif isinstance(exc, QBOTransientError):
        OUTBOX.release(session, row_ids, delay=OUTBOX.backoff(session, row_ids[0]), error=exc)
    else:
        return False
    return True
