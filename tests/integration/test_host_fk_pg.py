"""A host table with a foreign key to a ``qbo_*`` table: ``db.create_all()`` and ``drop_all()`` on PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_qbo import QBO
from flask_qbo.models import Customer


def test_a_host_table_may_reference_a_qbo_table(pg: tuple[str, str]) -> None:
    url, _schema = pg
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        SQLALCHEMY_DATABASE_URI=url,
        QBO_TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode(),
    )
    db = SQLAlchemy(app)

    class Note(db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "customer_notes"
        id = db.Column(db.Integer, primary_key=True)
        customer_id = db.Column(db.Integer, sa.ForeignKey(Customer.id))

    QBO(app, db=db)
    with app.app_context():
        db.create_all()  # ours first: PostgreSQL refuses a foreign key to a table that does not exist yet
        names = sa.inspect(db.engine).get_table_names()
        assert {"customer_notes", "qbo_customer"} <= set(names)
        db.drop_all()
        assert sa.inspect(db.engine).get_table_names() == []
