"""Contacts: list with search and paging, the contact dashboard, create/edit/archive/delete.

Every query is scoped to the signed-in user's account, so another account's
contact is a plain 404.  The views never call Flask-QBO: saving a contact is
an ordinary SQLAlchemy commit, and the extension's session hooks queue the
push to QuickBooks in the same transaction.
"""

from __future__ import annotations

import typing as t

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from sqlalchemy import or_

from flask_qbo import field_limits
from flask_qbo.views.inputs import ROW_ID
from flask_qbo.views.inputs import page_arg

from .forms import ContactForm
from .models import Contact
from .models import db

bp = Blueprint("contacts", __name__, url_prefix="/contacts")

#: Columns the list's search box looks in.
SEARCH_COLUMNS = (Contact.first_name, Contact.last_name, Contact.company, Contact.email, Contact.phone)
#: Words of a search that count (a full name is two; a pasted paragraph is not a search).
SEARCH_WORDS = 5


@bp.before_request
def _signed_in() -> t.Any:
    """Every contacts page needs a signed-in user; others go to the sign-in page."""
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
    return None


def _scoped() -> t.Any:
    return db.select(Contact).where(Contact.account_id == current_user.account_id)


def get_contact(contact_id: int) -> Contact:
    """The contact if it belongs to the current account, else 404 (never 403: no existence leak)."""
    contact = db.session.execute(_scoped().where(Contact.id == contact_id)).scalar_one_or_none()
    if contact is None:
        abort(404)
    return contact


@bp.route("/")
def index() -> str:
    query = (request.args.get("q") or "").strip()
    show_archived = request.args.get("archived") == "1"
    stmt = _scoped().where(Contact.archived.is_(show_archived))
    for word in query.split()[:SEARCH_WORDS]:  # "Rosa Galloway": every word matches some column
        stmt = stmt.where(or_(*(column.ilike(f"%{word}%") for column in SEARCH_COLUMNS)))
    stmt = stmt.order_by(Contact.last_name, Contact.first_name, Contact.company, Contact.id)
    number = page_arg(request.args)  # db.paginate's own parse lets 10**22 through to SQLite
    page = db.paginate(stmt, page=number, per_page=current_app.config["DEMO_PAGE_SIZE"], error_out=False)
    return render_template("contacts/list.html", page=page, q=query, show_archived=show_archived)


@bp.route("/new", methods=["GET", "POST"])
def create() -> t.Any:
    form = ContactForm()
    if form.validate_on_submit():
        contact = Contact(account_id=current_user.account_id, archived=False, **form.values())
        db.session.add(contact)
        db.session.commit()
        flash(f"{contact.display_name} was added.", "success")
        return redirect(url_for(".show", contact_id=contact.id))
    return render_template("contacts/form.html", form=form, contact=None, limits=field_limits())


@bp.route(f"/<{ROW_ID}:contact_id>")
def show(contact_id: int) -> str:
    return render_template("contacts/show.html", contact=get_contact(contact_id))


@bp.route(f"/<{ROW_ID}:contact_id>/details")
def details(contact_id: int) -> t.Any:
    """The details panel alone, for the dashboard's poll; 204 while nothing changed.

    Edits pulled from QuickBooks land in the contact row in the background, so
    an open dashboard learns about them here without a reload.
    """
    contact = get_contact(contact_id)
    if request.args.get("v") == contact.version:
        return "", 204
    return render_template("contacts/_details.html", contact=contact)


@bp.route(f"/<{ROW_ID}:contact_id>/edit", methods=["GET", "POST"])
def edit(contact_id: int) -> t.Any:
    contact = get_contact(contact_id)
    form = ContactForm(obj=contact)
    if form.validate_on_submit():
        for name, value in form.values().items():
            setattr(contact, name, value)
        db.session.commit()
        flash("Contact saved.", "success")
        return redirect(url_for(".show", contact_id=contact.id))
    return render_template("contacts/form.html", form=form, contact=contact, limits=field_limits())


@bp.route(f"/<{ROW_ID}:contact_id>/archive", methods=["POST"])
def archive(contact_id: int) -> t.Any:
    """Archive or restore; QuickBooks marks the customer inactive or active to match."""
    contact = get_contact(contact_id)
    contact.archived = not contact.archived
    db.session.commit()
    flash(f"{contact.display_name} was {'archived' if contact.archived else 'restored'}.", "success")
    return redirect(url_for(".show", contact_id=contact.id))


@bp.route(f"/<{ROW_ID}:contact_id>/delete", methods=["GET", "POST"])
def delete(contact_id: int) -> t.Any:
    """Delete in the CRM; QBO never hard-deletes, so the customer is made inactive there.

    GET is the confirmation page, which says what the contact still owes
    (Flask-QBO's delete warning partial); POST deletes.
    """
    contact = get_contact(contact_id)
    if request.method == "GET":
        return render_template("contacts/delete.html", contact=contact)
    name = contact.display_name
    db.session.delete(contact)
    db.session.commit()
    flash(f"{name} was deleted.", "success")
    return redirect(url_for(".index"))
