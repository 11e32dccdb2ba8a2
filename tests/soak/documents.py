"""The soak's quote-to-cash side: estimates and invoices made, sent, voided, deleted and converted under faults.

Documents go through the same doors a salesperson's form uses
(:func:`flask_qbo.billing.documents.queue_document` with a validated
:class:`~flask_qbo.billing.draft.Draft`, :func:`~flask_qbo.billing.actions.queue_action`,
:func:`~flask_qbo.billing.actions.convert_estimate`), for contacts whose
customer QBO already has and for contacts whose create is still queued, and
meanwhile customers accept estimates in QBO.  They share the churn's faults
(429s, timeouts before and after QBO executed a write, abandoned claims, the
database dropping mid-job), plus one of their own: QBO makes an invoice or
estimate (or carries out its send or void) and the answer is lost, so the
retry must reuse the ``requestid`` and adopt QBO's first answer.

Each document carries a unique ``CustomerMemo`` (``soak-doc-N``; an invoice
converted from an estimate copies the estimate's), so after the drain every
document is found in QBO by kind and memo:

* **duplicate_documents**: every QBO document with a soak memo is the one
  document of the CRM that made it (a void or delete of a converted invoice
  reopens its estimate, which may then be converted again: two invoices with
  one memo, each its own document's, are no duplicate);
* **lost_documents**: every document is ``created`` with exactly its QBO
  twin, or ``failed`` with a reason because its person was deleted meanwhile
  (QBO refuses a document of an inactive customer): never stuck ``sending``,
  never refused while QBO has it; every action row is done, or failed with a
  reason for a deleted person;
* **document_mirror**: the transaction mirror agrees with QBO on total,
  balance, status (void included) and deletion of every document;
* **conversions**: an estimate a live (not void, not deleted) invoice was
  made from is Closed in both, and no estimate has two live invoices.
"""

from __future__ import annotations

import collections
import datetime as dt
import typing as t
from decimal import Decimal

from flask_qbo.billing.actions import convert_estimate
from flask_qbo.billing.actions import queue_action
from flask_qbo.billing.catalog import Catalog
from flask_qbo.billing.documents import queue_document
from flask_qbo.billing.draft import Draft
from flask_qbo.billing.draft import DraftLine
from flask_qbo.billing.money import to_cents
from flask_qbo.billing.problems import ActionRefused
from flask_qbo.billing.validate import validate
from flask_qbo.emulator.errors import EmulatorFault
from flask_qbo.models import Customer
from flask_qbo.models import Document
from flask_qbo.models import DocumentState
from flask_qbo.models import Item
from flask_qbo.models import Outbox
from flask_qbo.models import OutboxOp
from flask_qbo.models import Transaction
from flask_qbo.models import qbo_today
from flask_qbo.sync.pull.docstatus import transaction_status
from flask_qbo.sync.pull.mirror import transaction_columns
from flask_qbo.testing import TEST_REALM

from ..hostapp import db

if t.TYPE_CHECKING:
    from flask_qbo.emulator.faults import FaultRule

    from .soak import Person
    from .soak import Soak

#: Document operations and their weights in the churn's mix.
DOC_MIX = (
    ("doc_create", 6),
    ("doc_send", 2),
    ("doc_void", 1),
    ("doc_delete", 1),
    ("doc_accept", 2),
    ("doc_convert", 2),
)
#: The documents' own fault: QBO carries out a document write and its answer is lost.
DOC_FAULTS = (("doc_lost_answer", 0.06),)
#: The emulator's default sales item (``Services``), mirrored as the catalog's one product.
ITEM_ID = "1"
MEMO = "soak-doc-"
ACTION_OPS = (OutboxOp.SEND_DOC, OutboxOp.VOID_DOC, OutboxOp.DELETE_DOC)


class Documents:
    """The soak's documents: the operations that make them and the checks that follow them."""

    def __init__(self, soak: Soak) -> None:
        self.soak = soak
        self.made = 0
        #: Creates queued for a contact whose customer QBO did not have yet.
        self.unlinked = 0
        self.lost_answers: list[FaultRule] = []
        #: Person of each document, by memo (a converted invoice's memo is its estimate's).
        self.owner: dict[str, Person] = {}
        with soak.app.app_context():
            if db.session.query(Item).filter_by(realm_id=TEST_REALM, qbo_id=ITEM_ID).one_or_none() is None:
                item = soak.emu.store.read(TEST_REALM, "Item", ITEM_ID)
                db.session.add(
                    Item(realm_id=TEST_REALM, qbo_id=ITEM_ID, name=str(item["Name"]), type=str(item["Type"]))
                )
                db.session.commit()

    # -- operations -----------------------------------------------------------------

    def operate(self, kind: str) -> bool:
        """One document operation; False when nothing fitted (no contact, no document in the right state)."""
        return bool(getattr(self, "_" + kind.removeprefix("doc_"))())

    def _create(self, kind: str | None = None) -> bool:
        """A salesperson saves an invoice or estimate (``kind``, else either) for a random live contact.

        A third of them go to a contact QBO has no customer for yet, when there
        is one: its document waits behind the contact's create.
        """
        soak = self.soak
        live = [p for p in soak.people if p.deleted is None]
        linked = {key for (key,) in db.session.query(Customer.contact_key).filter(Customer.contact_key.is_not(None))}
        unlinked = [p for p in live if p.origin == "crm" and p.contact_key not in linked]
        if unlinked and soak.rng.random() < 1 / 3:
            live = unlinked
        if not live:
            return False
        person = soak.rng.choice(live)
        contact = soak._contact(person)
        if contact is None:
            return False  # created in QBO and not imported yet
        person.contact_key = str(contact.id)
        self.made += 1
        memo = f"{MEMO}{self.made}"
        qty, price = Decimal(soak.rng.randint(1, 9)), Decimal(soak.rng.randint(100, 99999)) / 100
        draft = Draft(
            kind=kind or soak.rng.choice(("Invoice", "Estimate")),
            lines=(DraftLine(ITEM_ID, f"Soak work {self.made}", qty, price, to_cents(qty * price), None),),
            customer_memo=memo,
            bill_email=person.email,
        )
        catalog = Catalog.load(db.session, TEST_REALM)
        problems = validate(draft, catalog, None, person.email)
        if problems:
            raise AssertionError(f"the soak's draft is invalid: {problems}")
        linked = db.session.query(Customer).filter_by(contact_key=person.contact_key).first() is not None
        self.unlinked += not linked
        queue_document(
            db.session,
            tenant_key=contact.tenant,
            realm_id=TEST_REALM,
            contact_key=person.contact_key,
            draft=draft,
            catalog=catalog,
            created_by="soak",
        )
        db.session.commit()
        self.owner[memo] = person
        return True

    def _made(self, kind: str, status: str | None = None) -> list[tuple[Document, Transaction]]:
        """Documents QBO made, of ``kind``, with their mirror rows (not deleted; of ``status`` when given)."""
        query = (
            db.session.query(Document, Transaction)
            .join(
                Transaction,
                (Transaction.realm_id == Document.realm_id)
                & (Transaction.txn_type == Document.kind)
                & (Transaction.qbo_id == Document.qbo_id),
            )
            .filter(Document.kind == kind, Document.state == DocumentState.CREATED, Transaction.deleted.is_(False))
        )
        if status is not None:
            query = query.filter(Transaction.status == status)
        return list(query.order_by(Document.id))

    def _act(self, kind: str, action: str, status: str | None = None) -> bool:
        found = self._made(kind, status)
        if not found:
            return False
        document, txn = self.soak.rng.choice(found)
        try:
            queue_action(
                db.session, tenant_key=document.tenant_key, contact_key=document.contact_key, txn=txn, action=action
            )
        except ActionRefused:
            db.session.rollback()
            return False
        db.session.commit()
        return True

    def _send(self) -> bool:
        return self._act(self.soak.rng.choice(("Invoice", "Estimate")), "send")

    def _void(self) -> bool:
        return self._act("Invoice", "void", "open")

    def _delete(self) -> bool:
        return self._act("Estimate", "delete", "pending")

    def _accept(self) -> bool:
        """The customer accepts a pending estimate in QBO."""
        soak = self.soak
        pending = [
            e
            for e in soak.emu.store.list(TEST_REALM, "Estimate")
            if e.get("TxnStatus", "Pending") == "Pending" and _memo(e).startswith(MEMO)
        ]
        if not pending:
            return False
        estimate = soak.rng.choice(pending)
        try:
            soak.emu.store.update(
                TEST_REALM,
                "Estimate",
                {
                    "Id": estimate["Id"],
                    "SyncToken": estimate["SyncToken"],
                    "sparse": True,
                    "TxnStatus": "Accepted",
                    "AcceptedDate": dt.date.today().isoformat(),
                },
            )
        except EmulatorFault:
            return False  # QBO refuses to change a document of an inactive customer
        return True

    def _convert(self) -> bool:
        found = self._made("Estimate", "accepted")
        if not found:
            return False
        document, txn = self.soak.rng.choice(found)
        try:
            convert_estimate(
                db.session,
                tenant_key=document.tenant_key,
                contact_key=document.contact_key,
                estimate=txn,
                catalog=Catalog.load(db.session, TEST_REALM),
                created_by="soak",
            )
        except ActionRefused:
            db.session.rollback()
            return False
        db.session.commit()
        return True

    def inject(self, kind: str, path: str | None = None) -> None:
        """QBO carries out the next invoice or estimate write (create, send, void) and its answer is lost."""
        path = path or self.soak.rng.choice(("/invoice", "/estimate"))
        rule = self.soak.emu.faults.timeout_next(1, after_execute=True, path_contains=path, method="POST")
        self.lost_answers.append(rule)

    # -- drain and figures ------------------------------------------------------------

    def state(self) -> tuple[t.Any, ...]:
        """What the drain watches: documents' states and QBO's documents' versions."""
        with self.soak.app.app_context():
            docs = tuple(sorted((d.id, str(d.state), d.qbo_id) for d in db.session.query(Document)))
            db.session.commit()
        qbo = tuple(
            sorted((kind, e["Id"], e["SyncToken"]) for kind in ("Invoice", "Estimate") for e in self._qbo(kind))
        )
        return docs, qbo

    def _qbo(self, kind: str) -> list[dict[str, t.Any]]:
        return list(self.soak.emu.store.list(TEST_REALM, kind))

    def figures(self) -> dict[str, t.Any]:
        with self.soak.app.app_context():
            documents = db.session.query(Document).all()
            states = collections.Counter(str(d.state) for d in documents)
            refusals = collections.Counter(str(d.error_code) for d in documents if d.state == DocumentState.FAILED)
            actions = collections.Counter(
                f"{OutboxOp(r.op).value.removesuffix('_doc')}:{r.status}"
                for r in db.session.query(Outbox).filter(Outbox.op.in_(ACTION_OPS))
            )
            converted = db.session.query(Document).filter(Document.estimate_qbo_id.is_not(None)).count()
            db.session.commit()
        return {
            "documents": sum(states.values()),
            "documents_by_state": dict(states),
            "refusals_by_code": dict(refusals),
            "documents_for_unlinked_contacts": self.unlinked,
            "conversions": converted,
            "actions": sum(actions.values()),
            "actions_by_outcome": dict(actions),
            "lost_answers_on_documents": sum(1 for rule in self.lost_answers if rule.remaining == 0),
        }

    # -- checks -------------------------------------------------------------------------

    def check(self) -> dict[str, list[str]]:
        """The document checks (see the module's docstring); each list is empty when all is well."""
        problems: dict[str, list[str]] = {
            "duplicate_documents": [],
            "lost_documents": [],
            "document_mirror": [],
            "conversions": [],
        }
        qbo: dict[tuple[str, str], list[dict[str, t.Any]]] = collections.defaultdict(list)
        for kind in ("Invoice", "Estimate"):
            for data in self._qbo(kind):
                qbo[(kind, _memo(data))].append(data)
        with self.soak.app.app_context():
            problems["duplicate_documents"] += _orphans(qbo)
            for document in db.session.query(Document).order_by(Document.id):
                memo = str(document.draft.get("customer_memo") or "")
                twins = qbo.get((document.kind, memo), [])
                problems["lost_documents"] += self._lost(document, memo, twins)
                problems["document_mirror"] += _mirror_problems(document, twins)
                problems["conversions"] += self._conversion_problems(document)
            problems["conversions"] += self._double_conversions()
            for row in db.session.query(Outbox).filter(Outbox.op.in_(ACTION_OPS)).order_by(Outbox.id):
                problems["lost_documents"] += self._lost_action(row)
            db.session.commit()
        return problems

    def _claimed(self) -> set[str | None]:
        """QBO ids some CRM document was made as (a conversion shares its estimate's memo with earlier ones)."""
        return {qbo_id for (qbo_id,) in db.session.query(Document.qbo_id).filter(Document.qbo_id.is_not(None))}

    def _deleted(self, memo: str) -> bool:
        person = self.owner.get(memo)
        return person is not None and person.deleted is not None

    def _lost(self, document: Document, memo: str, twins: list[dict[str, t.Any]]) -> list[str]:
        name = f"document {document.id} ({document.kind} {memo})"
        if document.state == DocumentState.CREATED:
            ids = [str(d["Id"]) for d in twins]
            deleted = _mirrored(document)
            if document.qbo_id in ids or (not ids and deleted is not None and deleted.deleted):
                return []
            return [f"{name}: created as {document.qbo_id}, QBO has {ids}"]
        if document.state == DocumentState.FAILED:
            made = [str(d["Id"]) for d in twins if str(d["Id"]) not in self._claimed()]
            if made:
                return [f"{name}: refused ({document.error_message}) but QBO has {made}"]
            if document.error_message and self._deleted(memo):
                return []
            return [f"{name}: refused for a live person: {document.error_code} {document.error_message}"]
        return [f"{name}: still {document.state}"]

    def _lost_action(self, row: Outbox) -> list[str]:
        if row.status == "done":
            return []
        document = (
            db.session.query(Document)
            .filter_by(kind=(row.target or {}).get("txn_type"), qbo_id=(row.target or {}).get("qbo_id"))
            .first()
        )
        memo = str(document.draft.get("customer_memo") or "") if document is not None else ""
        if row.status in ("failed", "dead") and row.last_error and self._deleted(memo):
            return []
        return [f"outbox {row.id} {row.op} {row.target}: {row.status} ({row.last_error})"]

    def _live_invoices(self) -> set[str]:
        return {str(i["Id"]) for i in self._qbo("Invoice") if transaction_status("Invoice", i, qbo_today()) != "void"}

    def _double_conversions(self) -> list[str]:
        """Estimates with two live invoices made from them."""
        live = self._live_invoices()
        by_estimate: dict[str, list[str]] = collections.defaultdict(list)
        for document in db.session.query(Document).filter(Document.estimate_qbo_id.is_not(None)):
            if document.state == DocumentState.CREATED and document.qbo_id in live:
                by_estimate[str(document.estimate_qbo_id)].append(str(document.qbo_id))
        return [f"estimate {e} has live invoices {ids}" for e, ids in by_estimate.items() if len(ids) > 1]

    def _conversion_problems(self, document: Document) -> list[str]:
        if document.estimate_qbo_id is None or document.state != DocumentState.CREATED:
            return []
        if document.qbo_id not in self._live_invoices():
            return []  # QBO reopened the estimate: its conversion was undone
        estimate = next((e for e in self._qbo("Estimate") if str(e["Id"]) == document.estimate_qbo_id), None)
        mirrored = (
            db.session.query(Transaction)
            .filter_by(realm_id=TEST_REALM, txn_type="Estimate", qbo_id=document.estimate_qbo_id)
            .one_or_none()
        )
        qbo_status = estimate.get("TxnStatus") if estimate is not None else None
        crm_status = mirrored.status if mirrored is not None else None
        if qbo_status == "Closed" and crm_status == "closed":
            return []
        return [
            f"estimate {document.estimate_qbo_id} converted by document {document.id}: QBO {qbo_status}, CRM {crm_status}"
        ]


def _memo(data: t.Mapping[str, t.Any]) -> str:
    memo = data.get("CustomerMemo")
    return str(memo.get("value") or "") if isinstance(memo, t.Mapping) else ""


def _orphans(qbo: t.Mapping[tuple[str, str], list[dict[str, t.Any]]]) -> list[str]:
    """QBO documents with a soak memo that no CRM document made, and QBO documents two CRM documents claim."""
    claimed = collections.Counter(
        (kind, qbo_id)
        for kind, qbo_id in db.session.query(Document.kind, Document.qbo_id).filter(Document.qbo_id.is_not(None))
    )
    found = []
    for (kind, memo), documents in qbo.items():
        if not memo.startswith(MEMO):
            continue
        extra = [str(d["Id"]) for d in documents if claimed[(kind, str(d["Id"]))] != 1]
        if extra:
            ids = {str(d["Id"]): claimed[(kind, str(d["Id"]))] for d in documents}
            found.append(f"{kind} {memo}: QBO ids and how many CRM documents claim each {ids}")
    return found


def _mirrored(document: Document) -> Transaction | None:
    if document.qbo_id is None:
        return None
    return (
        db.session.query(Transaction)
        .filter_by(realm_id=document.realm_id, txn_type=document.kind, qbo_id=document.qbo_id)
        .one_or_none()
    )


def _mirror_problems(document: Document, twins: list[dict[str, t.Any]]) -> list[str]:
    """The mirror row of a made document says what QBO says (or that it is deleted, when QBO has none)."""
    if document.state != DocumentState.CREATED:
        return []
    row = _mirrored(document)
    name = f"{document.kind} {document.qbo_id} (document {document.id})"
    if row is None:
        return [f"{name}: not in the mirror"]
    data = next((d for d in twins if str(d["Id"]) == document.qbo_id), None)
    if data is None:
        return [] if row.deleted else [f"{name}: deleted in QBO, not in the mirror"]
    expected = transaction_columns(document.kind, data, qbo_today())  # the day the mirror judges overdue by
    seen = {name: getattr(row, name) for name in ("deleted", "total", "balance", "status", "sync_token")}
    wrong = {k: (v, expected[k]) for k, v in seen.items() if v != expected[k]}
    return [f"{name}: mirror differs (mirror, QBO) {wrong}"] if wrong else []
