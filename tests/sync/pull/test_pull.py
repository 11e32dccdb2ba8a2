"""Pull: webhooks and CDC applied to the mirror and to linked contacts."""

from __future__ import annotations

import datetime as dt

from flask_qbo import signals
from flask_qbo.models import Connection
from flask_qbo.models import Customer
from flask_qbo.models import Inbox
from flask_qbo.models import Outbox
from flask_qbo.models import SyncLog
from flask_qbo.models import Transaction
from flask_qbo.models import utcnow
from flask_qbo.state import get_qbo
from flask_qbo.sync.payload import customer_hash
from flask_qbo.sync.payload import qbo_values
from flask_qbo.testing import TEST_REALM
from tests.hostapp import Contact
from tests.hostapp import db
from tests.sync.pull.pull_support import add_customer
from tests.sync.pull.pull_support import add_invoice
from tests.sync.pull.pull_support import make_contact
from tests.sync.pull.pull_support import missing_customer_events
from tests.sync.pull.pull_support import poll
from tests.sync.pull.pull_support import pull
from tests.sync.pull.pull_support import route_webhooks

R = TEST_REALM


def link(app, emulator, customer, contact_id):
    """Mirror a customer and link it to a contact as a finished sync would."""
    from flask_qbo.sync.pull import mirror

    with app.app_context():
        qbo = get_qbo(app)
        row = mirror.upsert_customer(db.session, qbo.connection("acme"), customer, contact_key=str(contact_id))
        values = qbo_values(customer, qbo._registration().fields)
        row.synced_values, row.last_pulled_hash = values, customer_hash(values)
        db.session.commit()


def contact(app, contact_id):
    with app.app_context():
        found = db.session.get(Contact, contact_id)
        db.session.expunge(found)
        return found


def count(app, model, **filters):
    with app.app_context():
        return db.session.query(model).filter_by(**filters).count()


def test_qbo_edit_reaches_linked_contact_without_echo_to_outbox(app, emulator, connected):
    route_webhooks(app, emulator)
    cust = add_customer(emulator, GivenName="Ann", FamilyName="Lee", PrimaryEmailAddr={"Address": "ann@x.test"})
    cid = make_contact(app, first_name="Ann", last_name="Lee", email="ann@x.test")
    link(app, emulator, cust, cid)
    received = []
    signals.pulled.connect(lambda sender, **kw: received.append(kw), weak=False)
    try:
        emulator.store.update(
            R,
            "Customer",
            {"Id": cust["Id"], "SyncToken": cust["SyncToken"], "FamilyName": "Lee-Smith", "Notes": "VIP"},
            sparse=True,
        )
        emulator.webhooks.flush()
        assert pull(app) == 1
    finally:
        signals.pulled.receivers.clear()
    after = contact(app, cid)
    assert (after.last_name, after.notes, after.first_name) == ("Lee-Smith", "VIP", "Ann")
    assert count(app, Outbox) == 0  # written under suppress_capture: nothing goes back
    assert received and received[0]["contact_key"] == str(cid)
    with app.app_context():
        log = db.session.query(SyncLog).filter_by(direction="pull", action="updated").one()
        assert set(log.fields) == {"last_name", "notes"}
        assert {r.status for r in db.session.query(Inbox)} == {"done"}


def test_echo_of_our_own_push_changes_nothing(app, emulator, connected):
    route_webhooks(app, emulator)
    cust = add_customer(emulator, GivenName="Bo", FamilyName="Ng")
    cid = make_contact(app, first_name="Bo", last_name="Ng")
    link(app, emulator, cust, cid)
    # What push does: write QBO, then mirror the response (same SyncToken the webhook will bring).
    pushed = emulator.store.update(
        R, "Customer", {"Id": cust["Id"], "SyncToken": cust["SyncToken"], "FamilyName": "Nguyen"}, sparse=True
    )
    link(app, emulator, pushed, cid)
    with app.app_context():  # the contact meanwhile holds a newer local value that must survive
        c = db.session.get(Contact, cid)
        c.last_name = "Local"
        db.session.query(Outbox).delete()
        db.session.commit()
    emulator.webhooks.flush()
    assert pull(app) == 0
    assert contact(app, cid).last_name == "Local"
    assert count(app, SyncLog, direction="pull") == 0


def test_field_hash_echo_refreshes_mirror_only(app, emulator, connected):
    route_webhooks(app, emulator)
    cust = add_customer(emulator, GivenName="Cy", FamilyName="Oh")
    cid = make_contact(app, first_name="Cy", last_name="Oh")
    link(app, emulator, cust, cid)
    with app.app_context():
        db.session.get(Contact, cid).last_name = "Changed locally"
        db.session.query(Outbox).delete()
        db.session.commit()
    # A QBO change to an unmapped field (terms): the mapped values hash as before.
    emulator.store.update(
        R, "Customer", {"Id": cust["Id"], "SyncToken": cust["SyncToken"], "SalesTermRef": {"value": "3"}}, sparse=True
    )
    emulator.webhooks.flush()
    pull(app)
    assert contact(app, cid).last_name == "Changed locally"
    with app.app_context():
        row = db.session.query(Customer).filter_by(qbo_id=cust["Id"]).one()
        assert row.terms_id == "3" and row.terms_name and row.sync_token == "1"


def test_new_customer_becomes_contact_only_when_enabled(app, emulator, connected):
    route_webhooks(app, emulator)
    add_customer(emulator, GivenName="Off", FamilyName="Flag")
    emulator.webhooks.flush()
    pull(app)
    assert count(app, Contact) == 0 and count(app, Customer, contact_key=None) == 1
    app.config["QBO_IMPORT_NEW_CUSTOMERS"] = True
    add_customer(emulator, GivenName="On", FamilyName="Flag", PrimaryEmailAddr={"Address": "on@x.test"})
    emulator.webhooks.flush()
    pull(app)
    with app.app_context():
        created = db.session.query(Contact).one()
        assert (created.first_name, created.email, created.tenant, created.archived) == (
            "On",
            "on@x.test",
            "acme",
            False,
        )
        assert db.session.query(Customer).filter_by(contact_key=str(created.id)).one().display_name == "On Flag"
        assert db.session.query(Outbox).count() == 0


def test_inactive_flags_contact_and_reactivation_unflags(app, emulator, connected):
    route_webhooks(app, emulator)
    cust = add_customer(emulator, GivenName="In", FamilyName="Active")
    cid = make_contact(app, first_name="In", last_name="Active")
    link(app, emulator, cust, cid)
    off = emulator.store.update(R, "Customer", {"Id": cust["Id"], "SyncToken": "0", "Active": False}, sparse=True)
    emulator.webhooks.flush()
    pull(app)
    assert contact(app, cid).archived is True  # flagged, never deleted
    emulator.store.update(R, "Customer", {"Id": cust["Id"], "SyncToken": off["SyncToken"], "Active": True}, sparse=True)
    emulator.webhooks.flush()
    pull(app)
    assert contact(app, cid).archived is False
    with app.app_context():
        actions = [r.action for r in db.session.query(SyncLog).filter_by(direction="pull").order_by(SyncLog.id)]
    assert actions == ["inactivated", "reactivated"]


def test_merge_moves_link_and_transactions(app, emulator, connected):
    route_webhooks(app, emulator)
    gone = add_customer(emulator, GivenName="Old", FamilyName="Dup")
    keep = add_customer(emulator, GivenName="Kept", FamilyName="One")
    cid = make_contact(app, first_name="Old", last_name="Dup")
    link(app, emulator, gone, cid)
    add_invoice(emulator, gone["Id"], 40)
    add_invoice(emulator, gone["Id"], 60)
    emulator.webhooks.flush()
    pull(app)
    assert count(app, Transaction, customer_qbo_id=gone["Id"]) == 2
    emulator.store.merge_customers(R, gone["Id"], keep["Id"])
    emulator.webhooks.flush()
    pull(app)
    with app.app_context():
        assert db.session.query(Transaction).filter_by(customer_qbo_id=keep["Id"]).count() == 2
        old = db.session.query(Customer).filter_by(qbo_id=gone["Id"]).one()
        new = db.session.query(Customer).filter_by(qbo_id=keep["Id"]).one()
        assert (old.active, old.merged_into, old.contact_key) == (False, keep["Id"], None)
        assert new.contact_key == str(cid)
        assert db.session.query(Contact).count() == 1  # nothing deleted in the CRM


def test_transactions_status_void_delete(app, emulator, connected):
    route_webhooks(app, emulator)
    cust = add_customer(emulator)
    paid = add_invoice(emulator, cust["Id"], 50)
    voided = add_invoice(emulator, cust["Id"], 70)
    doomed = add_invoice(emulator, cust["Id"], 90, DueDate="2000-01-01")
    emulator.store.create(
        R,
        "Payment",
        {
            "CustomerRef": {"value": cust["Id"]},
            "TotalAmt": 50,
            "Line": [{"Amount": 50, "LinkedTxn": [{"TxnId": paid["Id"], "TxnType": "Invoice"}]}],
        },
    )
    emulator.store.create(
        R,
        "Estimate",
        {
            "CustomerRef": {"value": cust["Id"]},
            "TxnStatus": "Accepted",
            "Line": [
                {"Amount": 5, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
            ],
        },
    )
    emulator.webhooks.flush()
    pull(app)
    with app.app_context():
        status = {(t.txn_type, t.qbo_id): t.status for t in db.session.query(Transaction)}
    assert status[("Invoice", paid["Id"])] == "paid"
    assert status[("Invoice", doomed["Id"])] == "overdue"
    assert status[("Payment", "1")] == "applied"
    assert status[("Estimate", "1")] == "accepted"
    emulator.store.void(R, "Invoice", voided["Id"], emulator.store.read(R, "Invoice", voided["Id"])["SyncToken"])
    emulator.store.delete(R, "Invoice", doomed["Id"], emulator.store.read(R, "Invoice", doomed["Id"])["SyncToken"])
    emulator.webhooks.flush()
    pull(app)
    with app.app_context():
        rows = {t.qbo_id: t for t in db.session.query(Transaction).filter_by(txn_type="Invoice")}
        assert rows[voided["Id"]].status == "void" and not rows[voided["Id"]].deleted
        assert rows[doomed["Id"]].deleted


def _mirror_matches_emulator(app, emulator):
    with app.app_context():
        mirror_rows = {c.qbo_id: (c.sync_token, c.display_name) for c in db.session.query(Customer)}
        txns = {t.qbo_id: (t.sync_token, t.total) for t in db.session.query(Transaction).filter_by(deleted=False)}
    live = {
        c["Id"]: (c["SyncToken"], c["DisplayName"]) for c in emulator.store.list(R, "Customer", include_inactive=True)
    }
    invoices = {i["Id"]: (i["SyncToken"], float(i["TotalAmt"])) for i in emulator.store.list(R, "Invoice")}
    return mirror_rows == live and {k: (v[0], float(v[1])) for k, v in txns.items()} == invoices


def test_duplicated_reordered_dropped_webhooks_converge_through_cdc(app, emulator, connected):
    route_webhooks(app, emulator, duplicate_rate=0.5, drop_rate=0.3, reorder=True, seed=7)
    customers = [add_customer(emulator, GivenName=f"N{i}", FamilyName="Chaos") for i in range(6)]
    for round_ in range(3):
        for cust in customers:
            current = emulator.store.read(R, "Customer", cust["Id"])
            emulator.store.update(
                R,
                "Customer",
                {"Id": cust["Id"], "SyncToken": current["SyncToken"], "CompanyName": f"Co {round_}"},
                sparse=True,
            )
        add_invoice(emulator, customers[round_]["Id"], 10 + round_)
    emulator.webhooks.flush()
    assert emulator.webhooks.dropped, "the knob should have dropped some events"
    pull(app)
    poll(app)
    assert _mirror_matches_emulator(app, emulator)
    with app.app_context():
        assert {c.company_name for c in db.session.query(Customer)} == {"Co 2"}
        # Duplicates were stored once each.
        ids = [r.event_id for r in db.session.query(Inbox)]
        assert len(ids) == len(set(ids))


def test_lost_webhooks_are_recovered_by_the_cdc_poll(app, emulator, connected):
    route_webhooks(app, emulator, drop_rate=1.0)
    cust = add_customer(emulator, GivenName="Lost", FamilyName="Hook")
    add_invoice(emulator, cust["Id"], 33)
    emulator.webhooks.flush()
    assert pull(app) == 0 and count(app, Customer) == 0
    poll(app)
    assert _mirror_matches_emulator(app, emulator) and count(app, Transaction) == 1


def test_older_version_never_overwrites_newer(app, emulator, connected):
    from flask_qbo.sync.pull.apply import Applier

    cust = add_customer(emulator, GivenName="Time", FamilyName="Line")
    newer = emulator.store.update(R, "Customer", {"Id": cust["Id"], "SyncToken": "0", "FamilyName": "New"}, sparse=True)
    with app.app_context():
        qbo = get_qbo(app)
        applier = Applier(qbo, qbo.connection("acme"))
        assert applier.customer(newer)
        assert not applier.customer(cust)  # the late, older version
        db.session.commit()
        assert db.session.query(Customer).one().family_name == "New"


def test_events_are_read_in_bulk_one_query_per_entity_type(app, emulator, connected):
    route_webhooks(app, emulator)
    customers = [add_customer(emulator, GivenName=f"B{i}", FamilyName="Bulk") for i in range(8)]
    for customer in customers[:3]:
        add_invoice(emulator, customer["Id"], 10)
    emulator.webhooks.flush()
    emulator.reset_counters()
    pull(app)
    # One Customer query and one Invoice query; the invoices' customers came with the first.
    assert emulator.counters[R]["reads"] == 2
    assert count(app, Customer) == 8 and count(app, Transaction) == 3
    with app.app_context():
        assert db.session.query(Connection).one().reads_count >= 2


def test_create_events_of_objects_the_mirror_holds_cost_no_read(app, emulator, connected):
    """Our own pushed create comes back as a Create event: the mirror holds it already, so it costs no read.

    Later versions still come with their own Update events, which are read as before.
    """
    route_webhooks(app, emulator)
    held = add_customer(emulator, GivenName="Held", FamilyName="Echo")
    add_invoice(emulator, held["Id"], 10)
    poll(app)  # the mirror holds the customer and its invoice, as a push's record or a CDC poll leaves them
    fresh = add_customer(emulator, GivenName="Fresh", FamilyName="Create")
    emulator.webhooks.flush()
    emulator.reset_counters()
    pull(app)
    # One Customer query, for the customer the mirror did not hold; no Invoice query.
    assert emulator.counters[R]["reads"] == 1
    assert count(app, Customer, qbo_id=fresh["Id"]) == 1
    assert count(app, Inbox, status="done") == 3 and count(app, Inbox) == 3
    emulator.store.update(R, "Customer", {"Id": held["Id"], "SyncToken": "0", "FamilyName": "Later"}, sparse=True)
    emulator.webhooks.flush()
    pull(app)
    assert emulator.counters[R]["reads"] == 2
    with app.app_context():
        assert db.session.query(Customer).filter_by(qbo_id=held["Id"]).one().family_name == "Later"


def test_a_flood_of_events_for_missing_customers_costs_one_query_per_thousand(app, emulator, connected):
    """20,000 such events once cost one read each; now a turn of 1,000 costs one query."""
    from flask_qbo.sync.pull import pull as pull_mod

    real = add_customer(emulator, GivenName="Real", FamilyName="One")
    missing_customer_events(app, 2_400)
    missing_customer_events(app, 1, first_id=int(real["Id"]))
    emulator.reset_counters()
    turns = 0
    with app.app_context():
        qbo = get_qbo(app)
        while pull_mod.pending_count(qbo):
            pull_mod.process(qbo)
            turns += 1
    assert turns == 3  # 1,000 + 1,000 + 401 events
    assert emulator.counters[R]["reads"] == 3
    assert count(app, Inbox, status="done") == 2_401
    assert count(app, Customer) == 1  # the one that exists; the missing ones left nothing behind


def test_an_id_qbo_cannot_have_does_not_fail_the_bulk_read(app, emulator, connected):
    cust = add_customer(emulator, GivenName="Good", FamilyName="Id")
    with app.app_context():
        db.session.add_all(
            [
                Inbox(
                    event_id="bad",
                    realm_id=R,
                    entity="Customer",
                    entity_id="12') OR ('1",
                    operation="Update",
                    event_time=utcnow(),
                ),
                Inbox(
                    event_id="good",
                    realm_id=R,
                    entity="Customer",
                    entity_id=cust["Id"],
                    operation="Update",
                    event_time=utcnow(),
                ),
            ]
        )
        db.session.commit()
    emulator.reset_counters()
    pull(app)
    assert emulator.counters[R]["reads"] == 1
    assert count(app, Inbox, status="done") == 2 and count(app, Customer) == 1


def test_balance_refresh_reads_inactive_customers_too(app, emulator, connected):
    """A deleted invoice of an inactive customer: the re-read must not skip the customer (QBO hides inactive ones)."""
    route_webhooks(app, emulator)
    cust = add_customer(emulator, GivenName="Gone", FamilyName="Quiet")
    invoice = add_invoice(emulator, cust["Id"], 80)
    emulator.webhooks.flush()
    pull(app)
    current = emulator.store.read(R, "Customer", cust["Id"])
    emulator.store.update(
        R, "Customer", {"Id": cust["Id"], "SyncToken": current["SyncToken"], "Active": False}, sparse=True
    )
    emulator.webhooks.flush()
    pull(app)
    assert _mirrored_balance(app, cust["Id"]) == 80
    emulator.store.delete(R, "Invoice", invoice["Id"], emulator.store.read(R, "Invoice", invoice["Id"])["SyncToken"])
    emulator.webhooks.flush()
    pull(app)
    assert _mirrored_balance(app, cust["Id"]) == 0


def test_cdc_poll_without_webhooks_and_stale_cursor_falls_back_to_query(app, emulator, connected):
    cust = add_customer(emulator, GivenName="Cdc", FamilyName="Only")
    add_invoice(emulator, cust["Id"], 12)
    assert poll(app) == 2
    assert poll(app) == 0  # overlap window re-delivers; dedupe makes it a no-op
    with app.app_context():
        conn = db.session.query(Connection).one()
        assert conn.last_cdc_at is not None and conn.cdc_cursor is not None
        conn.cdc_cursor = utcnow() - dt.timedelta(days=40)
        db.session.query(Customer).delete()
        db.session.commit()
    assert poll(app) == 1
    with app.app_context():
        assert db.session.query(SyncLog).filter_by(action="resynced").count() == 1
        assert db.session.query(Customer).one().display_name == "Cdc Only"


def test_poll_due_respects_interval(app, emulator, connected):
    from flask_qbo.sync.pull import pull as pull_mod

    app.config["QBO_CDC_INTERVAL"] = 60
    add_customer(emulator, GivenName="Due", FamilyName="Poll")
    with app.app_context():
        assert pull_mod.poll_due() == 1
        add_customer(emulator, GivenName="Not", FamilyName="Yet")
        assert pull_mod.poll_due() == 0  # interval not over
        conn = db.session.query(Connection).one()
        conn.last_cdc_at = utcnow() - dt.timedelta(seconds=61)
        db.session.commit()
        assert pull_mod.poll_due() == 1


def test_unpushed_newer_crm_edit_wins_a_true_conflict(app, emulator, connected):
    route_webhooks(app, emulator)
    cust = add_customer(emulator, GivenName="Con", FamilyName="Flict")
    cid = make_contact(app, first_name="Con", last_name="Flict")
    link(app, emulator, cust, cid)
    emulator.store.update(
        R, "Customer", {"Id": cust["Id"], "SyncToken": "0", "FamilyName": "FromQBO", "Notes": "qbo note"}, sparse=True
    )
    with app.app_context():  # a CRM edit captured after QBO's change, not pushed yet
        db.session.get(Contact, cid).last_name = "FromCRM"
        db.session.commit()
        row = db.session.query(Outbox).one()
        row.updated_at = utcnow() + dt.timedelta(minutes=5)
        db.session.commit()
    emulator.webhooks.flush()
    pull(app)
    after = contact(app, cid)
    assert (after.last_name, after.notes) == ("FromCRM", "qbo note")
    with app.app_context():
        conflict = db.session.query(SyncLog).filter_by(action="conflict").one()
        assert conflict.conflict["last_name"]["winner"] == "crm"


def _mirrored_balance(app, qbo_id):
    with app.app_context():
        return db.session.query(Customer).filter_by(realm_id=R, qbo_id=qbo_id).one().balance


def test_new_invoice_refreshes_the_customers_balance_with_one_query(app, emulator, connected):
    """QBO sends no Customer event when an invoice moves the balance; the card must still show it."""
    route_webhooks(app, emulator)
    cust = add_customer(emulator)
    emulator.webhooks.flush()
    pull(app)
    assert _mirrored_balance(app, cust["Id"]) == 0
    add_invoice(emulator, cust["Id"], 120)
    add_invoice(emulator, cust["Id"], 30)
    emulator.webhooks.flush()
    emulator.reset_counters()
    pull(app)
    assert _mirrored_balance(app, cust["Id"]) == 150
    # One invoice query and one customer query, whatever the number of invoices.
    assert emulator.counters[R]["reads"] == 2
    invoice = emulator.store.list(R, "Invoice")[0]
    emulator.store.delete(R, "Invoice", invoice["Id"], invoice["SyncToken"])
    emulator.webhooks.flush()
    pull(app)
    assert _mirrored_balance(app, cust["Id"]) == 150 - float(invoice["TotalAmt"])


def test_cdc_poll_refreshes_balances_too(app, emulator, connected):
    cust = add_customer(emulator)
    poll(app)
    emulator.clock.advance(3600)
    with app.app_context():  # the customer's own change now lies before the CDC window
        db.session.query(Connection).filter_by(tenant_key="acme").update({"cdc_cursor": emulator.clock.now()})
        db.session.commit()
    add_invoice(emulator, cust["Id"], 75)
    emulator.clock.advance(5)
    poll(app)
    assert _mirrored_balance(app, cust["Id"]) == 75


def test_query_resync_does_not_swallow_pending_delete_events(app, emulator, connected):
    """A re-sync by query cannot see deletions, so a pending Delete event must stay to be applied."""
    route_webhooks(app, emulator)
    cust = add_customer(emulator, GivenName="Gone", FamilyName="Soon")
    doomed = add_invoice(emulator, cust["Id"], 40)
    emulator.webhooks.flush()
    pull(app)
    emulator.store.delete(R, "Invoice", doomed["Id"], emulator.store.read(R, "Invoice", doomed["Id"])["SyncToken"])
    emulator.webhooks.flush()  # stored, not processed yet
    with app.app_context():
        db.session.query(Connection).update({"cdc_cursor": utcnow() - dt.timedelta(days=40)})
        db.session.commit()
    poll(app)  # falls back to queries (cursor older than CDC's 30 days)
    pull(app)
    with app.app_context():
        assert db.session.query(SyncLog).filter_by(action="resynced").count() == 1
        assert db.session.query(Transaction).filter_by(qbo_id=doomed["Id"]).one().deleted


def test_pull_settles_conflicts_with_the_same_rule_as_push(app, emulator, connected):
    """Newest-wins with an unknown QBO edit time favours the queued CRM edit, as :func:`merge.winner_for` does."""
    from flask_qbo.sync.pull.apply import Applier

    cust = add_customer(emulator, GivenName="Same", FamilyName="Rule")
    cid = make_contact(app, first_name="Same", last_name="Rule")
    link(app, emulator, cust, cid)
    changed = emulator.store.update(
        R, "Customer", {"Id": cust["Id"], "SyncToken": "0", "FamilyName": "FromQBO"}, sparse=True
    )
    changed = {k: v for k, v in changed.items() if k != "MetaData"}
    with app.app_context():
        db.session.get(Contact, cid).last_name = "FromCRM"
        db.session.commit()
        qbo = get_qbo(app)
        Applier(qbo, qbo.connection("acme")).customer(changed)
        db.session.commit()
        assert db.session.get(Contact, cid).last_name == "FromCRM"
        assert db.session.query(SyncLog).filter_by(action="conflict").one().conflict["last_name"]["winner"] == "crm"


def test_a_link_pointing_at_another_tenants_contact_is_never_written(app, emulator, connected):
    route_webhooks(app, emulator)
    cust = add_customer(emulator, GivenName="Ann", FamilyName="Lee")
    cid = make_contact(app, tenant="globex", first_name="Other", last_name="Tenant")
    link(app, emulator, cust, cid)  # a corrupt link: acme's customer, globex's contact
    emulator.store.update(
        R, "Customer", {"Id": cust["Id"], "SyncToken": cust["SyncToken"], "FamilyName": "Leaked"}, sparse=True
    )
    emulator.webhooks.flush()
    pull(app)
    assert contact(app, cid).last_name == "Tenant"


def test_pulled_control_characters_are_stripped_before_the_contact_is_written(app, emulator, connected):
    """QBO data is untrusted: bidi overrides and controls would spoof or break the CRM's text."""
    route_webhooks(app, emulator)
    cust = add_customer(emulator, GivenName="Ann", FamilyName="Lee")
    cid = make_contact(app, first_name="Ann", last_name="Lee")
    link(app, emulator, cust, cid)
    emulator.store.update(
        R,
        "Customer",
        {
            "Id": cust["Id"],
            "SyncToken": cust["SyncToken"],
            "sparse": True,
            "FamilyName": "Lee\u202egnp.exe",
            "Notes": "paid\x00\r\nthanks\x07",
            "DisplayName": "Ann \u2066Lee\u2069",
        },
    )
    emulator.webhooks.flush()
    pull(app)
    after = contact(app, cid)
    assert (after.last_name, after.notes) == ("Leegnp.exe", "paid\nthanks")
    with app.app_context():
        assert db.session.query(Customer).filter_by(qbo_id=cust["Id"]).one().display_name == "Ann Lee"
        assert db.session.query(Outbox).count() == 0  # written with capture suppressed, and clean already
        from flask_qbo.sync.push import push

        emulator.reset_counters()
        push.request_sync(cid)
        push.process(get_qbo(app))
        assert emulator.counters[R]["writes"] == 0  # the contact matches what was pulled: no push back


def test_a_crm_value_differing_only_by_stripped_characters_is_no_conflict(app, emulator, connected):
    """The CRM's tab is sent as a space: QBO's later edit of that field is not a conflict with it."""
    cust = add_customer(emulator, GivenName="Ann Marie", FamilyName="Lee")
    cid = make_contact(app, first_name="Ann\tMarie", last_name="Lee")
    link(app, emulator, cust, cid)
    emulator.store.update(R, "Customer", {"Id": cust["Id"], "SyncToken": "0", "GivenName": "Anne"}, sparse=True)
    with app.app_context():
        db.session.get(Contact, cid).phone = "555-0100"  # an unpushed CRM edit of another field
        db.session.commit()
        db.session.query(Outbox).update({"updated_at": utcnow() + dt.timedelta(minutes=5)})
        db.session.commit()
    poll(app)
    assert contact(app, cid).first_name == "Anne"
    assert count(app, SyncLog, action="conflict") == 0


def test_deletes_reach_the_crm_by_cdc_alone(app, emulator, connected):
    """No webhook arrives: a merged-away customer and a deleted invoice come only as CDC's ``status: Deleted``."""
    gone = add_customer(emulator, GivenName="Gone", FamilyName="Away")
    keep = add_customer(emulator, GivenName="Kept", FamilyName="Here")
    payer = add_customer(emulator, GivenName="Pay", FamilyName="Er")
    cid = make_contact(app, first_name="Gone", last_name="Away")
    link(app, emulator, gone, cid)
    doomed = add_invoice(emulator, payer["Id"], 90)
    poll(app)
    assert count(app, Transaction, qbo_id=doomed["Id"], deleted=False) == 1
    assert _mirrored_balance(app, payer["Id"]) == 90
    emulator.clock.advance(3600)
    with app.app_context():  # the customers' own changes now lie before the next CDC window
        db.session.query(Connection).filter_by(tenant_key="acme").update({"cdc_cursor": emulator.clock.now()})
        db.session.commit()
    emulator.store.delete(R, "Invoice", doomed["Id"], emulator.store.read(R, "Invoice", doomed["Id"])["SyncToken"])
    emulator.store.merge_customers(R, gone["Id"], keep["Id"])
    emulator.clock.advance(5)
    poll(app)
    assert count(app, Inbox) == 0  # nothing came by webhook
    with app.app_context():
        assert db.session.query(Transaction).filter_by(qbo_id=doomed["Id"]).one().deleted
        old = db.session.query(Customer).filter_by(qbo_id=gone["Id"]).one()
        assert (old.active, old.contact_key) == (False, str(cid))
        logged = {(r.qbo_id, r.action) for r in db.session.query(SyncLog).filter_by(direction="pull")}
        assert {(doomed["Id"], "deleted"), (gone["Id"], "inactivated")} <= logged
    assert contact(app, cid).last_name == "Away"  # a merge never deletes or archives the contact
    assert _mirrored_balance(app, payer["Id"]) == 0  # the deleted invoice no longer counts
