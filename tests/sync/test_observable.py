"""Registration checks of what capture can observe, on models shaped as hosts write them.

Each test builds its own Flask-SQLAlchemy object, so a model registered while
its relationships name a class not defined yet cannot leak into other tests.
"""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import column_property
from sqlalchemy.orm import synonym

from flask_qbo import QBO
from flask_qbo import TO_QBO
from flask_qbo import Field
from flask_qbo import FieldMap
from flask_qbo.errors import QBOConfigError
from flask_qbo.models import Outbox


def host_app() -> tuple[Flask, SQLAlchemy]:
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        SECRET_KEY="s",
        SQLALCHEMY_DATABASE_URI="sqlite://",
        QBO_TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        QBO_RUNNER="none",
    )
    return app, SQLAlchemy(app)


def outbox_count(db: SQLAlchemy) -> int:
    return int(db.session.query(Outbox).count())


def test_registering_before_a_related_class_exists_leaves_the_mappers_usable() -> None:
    app, db = host_app()
    qbo = QBO(app, db=db)

    class Contact(db.Model):  # type: ignore[name-defined,misc]
        id = db.Column(db.Integer, primary_key=True)
        name = db.Column(db.String(50))
        invoices = db.relationship("Invoice", back_populates="contact")

    qbo.register_contact(Contact, fields=FieldMap(Field("name", "CompanyName")))

    class Invoice(db.Model):  # type: ignore[name-defined,misc]  # defined later, e.g. in a module imported after
        id = db.Column(db.Integer, primary_key=True)
        contact_id = db.Column(db.ForeignKey("contact.id"))
        contact = db.relationship(Contact, back_populates="invoices")

    with app.app_context():
        db.create_all()
        contact = Contact(name="Acme")
        contact.invoices.append(Invoice())
        db.session.add(contact)
        db.session.commit()
        assert outbox_count(db) == 1


def test_a_related_link_must_be_a_relationship_to_the_contact() -> None:
    app, db = host_app()
    qbo = QBO(app, db=db)

    class Person(db.Model):  # type: ignore[name-defined,misc]
        id = db.Column(db.Integer, primary_key=True)
        name = db.Column(db.String(50))

    class Office(db.Model):  # type: ignore[name-defined,misc]
        id = db.Column(db.Integer, primary_key=True)

    class Address(db.Model):  # type: ignore[name-defined,misc]
        id = db.Column(db.Integer, primary_key=True)
        person_id = db.Column(db.ForeignKey("person.id"))
        office_id = db.Column(db.ForeignKey("office.id"))
        kind = db.Column(db.String(20))
        person = db.relationship(Person)
        office = db.relationship("Office")

    fields = FieldMap(Field("name", "CompanyName"))
    with pytest.raises(QBOConfigError, match=r"Address\.person_id is not a relationship.*not its key column"):
        qbo.register_contact(Person, fields=fields, related={Address: "person_id"})
    with pytest.raises(QBOConfigError, match=r"Address\.kind is not a relationship"):
        qbo.register_contact(Person, fields=fields, related={Address: "kind"})
    with pytest.raises(QBOConfigError, match=r"Address\.office leads to Office, not Person"):
        qbo.register_contact(Person, fields=fields, related={Address: "office"})
    assert qbo._contact is None
    qbo.register_contact(Person, fields=fields, related={Address: "person"})


def test_a_backref_link_is_checked_once_the_mappers_are_configured() -> None:
    app, db = host_app()
    qbo = QBO(app, db=db)

    class Person(db.Model):  # type: ignore[name-defined,misc]
        id = db.Column(db.Integer, primary_key=True)
        name = db.Column(db.String(50))

    class Note(db.Model):  # type: ignore[name-defined,misc]
        id = db.Column(db.Integer, primary_key=True)
        person_id = db.Column(db.ForeignKey("person.id"))

    Person.notes = db.relationship(Note, backref="owner")
    qbo.register_contact(Person, fields=FieldMap(Field("name", "CompanyName")), related={Note: "owner"})
    with app.app_context():
        db.create_all()
        person = Person(name="Ann")
        db.session.add(person)
        db.session.commit()
        db.session.query(Outbox).delete()
        db.session.add(Note(owner=person))
        db.session.commit()
        assert outbox_count(db) == 1


def test_what_capture_counts_as_a_column() -> None:
    app, db = host_app()
    qbo = QBO(app, db=db)

    class P(db.Model):  # type: ignore[name-defined,misc]
        id = db.Column(db.Integer, primary_key=True)
        first = db.Column(db.String(50))
        last = db.Column(db.String(50))
        _email = db.Column("email", db.String(100))
        full = column_property(first + " " + last)
        mail = synonym("_email")

        @hybrid_property
        def email(self) -> str | None:
            return self._email  # type: ignore[no-any-return]

        @email.inplace.setter
        def _email_setter(self, value: str | None) -> None:
            self._email = value

    with pytest.raises(QBOConfigError, match=r"P\.full is a SQL expression.*watches="):
        qbo.register_contact(P, fields=FieldMap(Field("full", "DisplayName", TO_QBO)))
    with pytest.raises(QBOConfigError, match=r"P\.email is a hybrid.*watches=\('_email',\)"):
        qbo.register_contact(P, fields=FieldMap(Field("email", "PrimaryEmailAddr.Address")))
    qbo.register_contact(P, fields=FieldMap(Field("email", "PrimaryEmailAddr.Address", watches=("_email",))))
    qbo.register_contact(P, fields=FieldMap(Field("mail", "PrimaryEmailAddr.Address")))  # a synonym of a column
    with app.app_context():
        db.create_all()
        p = P(first="Ann", last="Lee", _email="a@x.io")
        db.session.add(p)
        db.session.commit()
        db.session.query(Outbox).delete()
        db.session.commit()
        p.mail = "b@x.io"
        db.session.commit()
        assert outbox_count(db) == 1
        db.session.query(Outbox).delete()
        p.first = "Bo"  # not mapped
        db.session.commit()
        assert outbox_count(db) == 0


def test_watching_a_synonym_watches_its_column() -> None:
    app, db = host_app()
    qbo = QBO(app, db=db)

    class Q(db.Model):  # type: ignore[name-defined,misc]
        id = db.Column(db.Integer, primary_key=True)
        _name = db.Column("name", db.String(50))
        name = synonym("_name")

    qbo.register_contact(Q, fields=FieldMap(Field(path="CompanyName", get=lambda q: q.name, watches=("name",))))
    with app.app_context():
        db.create_all()
        q = Q(name="Ann")
        db.session.add(q)
        db.session.commit()
        db.session.query(Outbox).delete()
        db.session.commit()
        q.name = "Bo"
        db.session.commit()
        assert outbox_count(db) == 1
