"""A small QBO-like web UI served at Intuit's own deep-link paths.

The extension's widgets link to ``/app/customerdetail?nameId=…``,
``/app/invoice?txnId=…`` and so on. Serving those paths here means the links a
CRM shows open something real in the demo and in browser tests, and a person
can change a customer "in QuickBooks" to watch the change come back through
webhooks and CDC. Every write goes through the same store methods the v3 API
uses, so validation faults, SyncTokens, balances and change events behave
exactly as they do for API clients.

This module owns the blueprint: its request hook (CSRF check, which company),
template helpers, error pages and the views. Request-scoped helpers are
:mod:`.ui_context`, the pages' read helpers :mod:`.ui_queries`, and the
conversions between forms and QBO JSON :mod:`.ui_forms`.

Which company is shown is chosen by ``?companyId=<realm>`` (as in Intuit's own
deep links) and remembered in the session. Ids in query strings must be all
digits; anything else is a 404, so no unvalidated value reaches the store.
"""

from __future__ import annotations

import hmac
import typing as t
from datetime import timedelta
from decimal import Decimal

from flask import Blueprint
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from .entities import DELIVERY_METHODS
from .entities import ESTIMATE_STATUSES
from .entities import VOIDABLE
from .errors import EmulatorFault
from .realms import is_realm_id
from .ui_context import DIGITS
from .ui_context import SESSION_CSRF
from .ui_context import SESSION_REALM
from .ui_context import TXN_PAGES
from .ui_context import Record
from .ui_context import clock_today
from .ui_context import csrf_token
from .ui_context import current_realm
from .ui_context import emulator
from .ui_context import link
from .ui_context import read_record
from .ui_context import txn_link
from .ui_context import valid_id
from .ui_forms import ACCEPTABLE
from .ui_forms import FormError
from .ui_forms import accept_body
from .ui_forms import customer_body
from .ui_forms import customer_form_values
from .ui_forms import estimate_body
from .ui_forms import invoice_body
from .ui_forms import is_void
from .ui_forms import money
from .ui_forms import payment_body
from .ui_forms import txn_status
from .ui_queries import customer_transactions
from .ui_queries import linked_rows
from .ui_queries import payable_invoices
from .ui_queries import reference_lists

bp = Blueprint("emulator_ui", __name__, template_folder="templates")


@bp.before_request
def _check_request() -> None:
    """Reject forged POSTs and settle which company this request is about."""
    if request.method == "POST":
        expected = session.get(SESSION_CSRF, "")
        sent = request.form.get("csrf_token", "")
        if not expected or not hmac.compare_digest(str(sent).encode(), str(expected).encode()):
            raise BadRequest("The form expired or did not come from this page. Reload and try again.")
    companies = emulator().store.companies()
    realms = [realm for realm, _name in companies]
    requested = request.args.get("companyId")
    if requested is not None:
        if not is_realm_id(requested) or requested not in realms:
            raise NotFound("No company with that id.")
        session[SESSION_REALM] = requested
    realm = session.get(SESSION_REALM)
    if realm not in realms:
        realm = realms[0] if realms else None
    g.ui_realm = realm
    g.ui_companies = companies


@bp.context_processor
def _template_helpers() -> dict[str, t.Any]:
    realm = g.get("ui_realm")
    companies = g.get("ui_companies", [])
    return {
        "csrf_token": csrf_token,
        "link": link,
        "txn_link": txn_link,
        "money": money,
        "current_realm": realm,
        "companies": companies,
        "company_name": next((n for r, n in companies if r == realm), ""),
        "choices": lambda records: [(str(r["Id"]), str(r.get("Name", ""))) for r in records],
        "pairs": lambda values: [(v, v) for v in values],
    }


@bp.errorhandler(NotFound)
def _not_found(error: NotFound) -> tuple[str, int]:
    return render_template("emulator/ui/error.html", title="Not found", error=error.description), 404


@bp.errorhandler(BadRequest)
def _bad_request(error: BadRequest) -> tuple[str, int]:
    return render_template("emulator/ui/error.html", title="Bad request", error=error.description), 400


@bp.get("/app")
@bp.get("/app/homepage")
def home() -> Response:
    return redirect(link("customers"))


# -- customers ---------------------------------------------------------------


@bp.get("/app/customers")
def customers() -> str:
    realm = current_realm()
    store = emulator().store
    search = request.args.get("q", "").strip()
    status = request.args.get("status", "active")
    if status not in ("active", "inactive", "all"):
        status = "active"
    today = clock_today()
    overdue: dict[str, Decimal] = {}
    for invoice in store.list(realm, "Invoice"):
        if txn_status("Invoice", invoice, today) == "Overdue":
            key = str(invoice["CustomerRef"]["value"])
            overdue[key] = overdue.get(key, Decimal(0)) + Decimal(str(invoice["Balance"]))
    needle = search.casefold()
    rows: list[Record] = []
    for customer in store.list(realm, "Customer", include_inactive=True):
        active = customer.get("Active", True)
        if (status == "active" and not active) or (status == "inactive" and active):
            continue
        haystack = " ".join(
            str(v)
            for v in (
                customer.get("DisplayName"),
                customer.get("CompanyName"),
                (customer.get("PrimaryEmailAddr") or {}).get("Address"),
                (customer.get("PrimaryPhone") or {}).get("FreeFormNumber"),
            )
            if v
        ).casefold()
        if needle and needle not in haystack:
            continue
        rows.append({"customer": customer, "overdue": overdue.get(str(customer["Id"]), Decimal(0))})
    rows.sort(key=lambda r: str(r["customer"].get("DisplayName", "")).casefold())
    return render_template("emulator/ui/customers.html", rows=rows, search=search, status=status)


def _render_customer(
    realm: str,
    customer: Record,
    *,
    forms: dict[str, dict[str, str]] | None = None,
    errors: dict[str, FormError | EmulatorFault] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    """Render the customer page; ``forms`` carries a failed form's input back."""
    customer_id = str(customer["Id"])
    transactions = customer_transactions(realm, customer_id)
    open_invoices = payable_invoices(transactions)
    others = [c for c in emulator().store.list(realm, "Customer") if str(c["Id"]) != customer_id]
    others.sort(key=lambda c: str(c.get("DisplayName", "")).casefold())
    today = clock_today()
    overdue = sum(
        (Decimal(str(r["txn"].get("Balance", 0))) for r in transactions if r["status"] == "Overdue"),
        Decimal(0),
    )
    forms = dict(forms or {})
    forms.setdefault("customer", customer_form_values(customer))
    forms.setdefault(
        "invoice",
        {
            "TxnDate": today.isoformat(),
            "SalesTermRef": str((customer.get("SalesTermRef") or {}).get("value", "")),
        },
    )
    forms.setdefault(
        "payment",
        {
            "TxnDate": today.isoformat(),
            "PaymentMethodRef": str((customer.get("PaymentMethodRef") or {}).get("value", "")),
        },
    )
    forms.setdefault(
        "estimate",
        {"TxnDate": today.isoformat(), "ExpirationDate": (today + timedelta(days=30)).isoformat()},
    )
    html = render_template(
        "emulator/ui/customer_detail.html",
        customer=customer,
        parent=customer.get("ParentRef"),
        transactions=transactions,
        open_invoices=open_invoices,
        others=others,
        overdue=overdue,
        forms=forms,
        errors=errors or {},
        estimate_statuses=ESTIMATE_STATUSES,
        delivery_methods=DELIVERY_METHODS,
        **reference_lists(realm),
    )
    return html, status


@bp.get("/app/customerdetail")
def customer_detail() -> tuple[str, int]:
    realm = current_realm()
    customer_id = valid_id(request.args.get("nameId"), "customer")
    return _render_customer(realm, read_record(realm, "Customer", customer_id))


@bp.post("/app/customerdetail")
def customer_action() -> Response | tuple[str, int]:
    """Handle the customer page's forms; the ``action`` field says which one."""
    realm = current_realm()
    customer_id = valid_id(request.args.get("nameId"), "customer")
    customer = read_record(realm, "Customer", customer_id)
    store = emulator().store
    action = request.form.get("action", "")
    form_name = "customer" if action == "save" else action
    try:
        if action == "save":
            store.update(realm, "Customer", customer_body(request.form, customer), sparse=True)
            flash("Customer saved.", "ok")
        elif action in ("deactivate", "reactivate"):
            store.update(
                realm,
                "Customer",
                {
                    "Id": customer_id,
                    "SyncToken": request.form.get("SyncToken", ""),
                    "Active": action == "reactivate",
                },
                sparse=True,
            )
            flash("Customer made inactive." if action == "deactivate" else "Customer reactivated.", "ok")
        elif action == "merge":
            into = request.form.get("into", "")
            if not DIGITS.fullmatch(into):
                raise FormError("Choose a customer to merge into.", element="into")
            survivor = store.merge_customers(realm, customer_id, into)
            flash(f"Merged {customer.get('DisplayName', '')} into {survivor.get('DisplayName', '')}.", "ok")
            return redirect(link("customer_detail", nameId=into))
        elif action in ("invoice", "payment", "estimate"):
            builders = {"invoice": invoice_body, "payment": payment_body, "estimate": estimate_body}
            entity = {"invoice": "Invoice", "payment": "Payment", "estimate": "Estimate"}[action]
            refs: dict[str, list[Record]] = dict(reference_lists(realm))
            refs["open_invoices"] = payable_invoices(customer_transactions(realm, customer_id))
            body = builders[action](request.form, customer, refs, clock_today())
            created = store.create(realm, entity, body)
            flash(f"{entity} {created.get('DocNumber') or created['Id']} created.", "ok")
            return redirect(txn_link(entity, str(created["Id"])))
        else:
            raise BadRequest("Unknown action.")
    except (EmulatorFault, FormError) as error:
        submitted = {key: request.form.get(key, "") for key in request.form if key != "csrf_token"}
        return _render_customer(
            realm,
            read_record(realm, "Customer", customer_id),
            forms={form_name: submitted},
            errors={form_name: error},
            status=400 if isinstance(error, FormError) else error.status,
        )
    return redirect(link("customer_detail", nameId=customer_id))


@bp.route("/app/customer/new", methods=["GET", "POST"])
def customer_new() -> Response | tuple[str, int]:
    realm = current_realm()
    form: dict[str, str] = {}
    error: FormError | EmulatorFault | None = None
    if request.method == "POST":
        form = {key: request.form.get(key, "") for key in request.form if key != "csrf_token"}
        try:
            created = emulator().store.create(realm, "Customer", customer_body(request.form, None))
        except (EmulatorFault, FormError) as exc:
            error = exc
        else:
            flash(f"Customer {created.get('DisplayName', '')} created.", "ok")
            return redirect(link("customer_detail", nameId=str(created["Id"])))
    status = 200 if error is None else (400 if isinstance(error, FormError) else error.status)
    html = render_template(
        "emulator/ui/customer_new.html",
        form=form,
        error=error,
        delivery_methods=DELIVERY_METHODS,
        **reference_lists(realm),
    )
    return html, status


# -- transactions -------------------------------------------------------------


def _transaction_page(page: str) -> Response | tuple[str, int]:
    entity = TXN_PAGES[page]
    realm = current_realm()
    txn_id = valid_id(request.args.get("txnId"), entity)
    store = emulator().store
    error: EmulatorFault | None = None
    if request.method == "POST":
        action = request.form.get("action", "")
        sync_token = request.form.get("SyncToken", "")
        try:
            if action == "void" and entity in VOIDABLE:
                store.void(realm, entity, txn_id, sync_token)
                flash(f"{entity} voided.", "ok")
            elif action == "delete":
                txn = read_record(realm, entity, txn_id)
                store.delete(realm, entity, txn_id, sync_token)
                flash(f"{entity} deleted.", "ok")
                customer_id = str((txn.get("CustomerRef") or {}).get("value", ""))
                if DIGITS.fullmatch(customer_id):
                    return redirect(link("customer_detail", nameId=customer_id))
                return redirect(link("customers"))
            elif action == "mark_paid" and entity == "Invoice":
                payment = store.pay_invoice(realm, txn_id, note="Marked paid in the emulator")
                flash(f"Payment {payment['Id']} recorded; the invoice is paid.", "ok")
            elif action == "accept" and entity == "Estimate":
                accepted_by = str((read_record(realm, entity, txn_id).get("CustomerRef") or {}).get("name") or "")
                store.update(
                    realm, "Estimate", accept_body(txn_id, sync_token, accepted_by, clock_today()), sparse=True
                )
                flash("Estimate accepted.", "ok")
            elif action == "status" and entity == "Estimate":
                new_status = request.form.get("TxnStatus", "")
                if new_status not in ESTIMATE_STATUSES:
                    raise BadRequest("Unknown estimate status.")
                store.update(
                    realm, "Estimate", {"Id": txn_id, "SyncToken": sync_token, "TxnStatus": new_status}, sparse=True
                )
                flash(f"Estimate marked {new_status}.", "ok")
            else:
                raise BadRequest("That action is not available for this transaction.")
        except EmulatorFault as fault:
            error = fault
        else:
            return redirect(txn_link(entity, txn_id))
    txn = read_record(realm, entity, txn_id)
    customer_ref = txn.get("CustomerRef") or {}
    customer_id = str(customer_ref.get("value", ""))
    html = render_template(
        "emulator/ui/transaction.html",
        entity=entity,
        page=page,
        txn=txn,
        status=txn_status(entity, txn, clock_today()),
        customer_ref=customer_ref,
        customer_url=link("customer_detail", nameId=customer_id) if DIGITS.fullmatch(customer_id) else None,
        linked=linked_rows(realm, entity, txn),
        can_void=entity in VOIDABLE and not is_void(txn),
        can_mark_paid=entity == "Invoice" and not is_void(txn) and Decimal(str(txn.get("Balance") or 0)) > 0,
        can_accept=entity == "Estimate" and txn.get("TxnStatus") in ACCEPTABLE,
        estimate_statuses=ESTIMATE_STATUSES,
        error=error,
    )
    return html, (error.status if error else 200)


for _page in TXN_PAGES:
    bp.add_url_rule(
        f"/app/{_page}",
        endpoint=_page,
        view_func=_transaction_page,
        methods=["GET", "POST"],
        defaults={"page": _page},
    )
