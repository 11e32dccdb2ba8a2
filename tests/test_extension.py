"""The extension object: single registration, checked config and field maps, per-app state, the CLI."""

from __future__ import annotations

import typing as t

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_qbo import QBO
from flask_qbo import TO_QBO
from flask_qbo import FieldMap
from flask_qbo.config import get_config
from flask_qbo.errors import QBOConfigError
from flask_qbo.fieldmap import Field
from flask_qbo.models import metadata
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import make_emulator
from tests.hostapp import Contact
from tests.hostapp import make_app


def bare_app() -> tuple[Flask, SQLAlchemy]:
    app = Flask(__name__)
    app.config.update(TESTING=True, SQLALCHEMY_DATABASE_URI="sqlite://")
    db = SQLAlchemy(app)
    return app, db


def test_second_init_app_raises() -> None:
    app, db = bare_app()
    QBO(app, db=db)
    with pytest.raises(RuntimeError, match="already registered"):
        QBO(app, db=db)
    with pytest.raises(RuntimeError, match="already registered"):
        get_qbo(app).init_app(app)


def test_defaults_never_override_the_hosts_config() -> None:
    app, db = bare_app()
    app.config["QBO_URL_PREFIX"] = "/books"
    QBO(app, db=db)
    assert app.config["QBO_URL_PREFIX"] == "/books"
    assert app.config["QBO_MINOR_VERSION"] == 75


def test_mistyped_config_key_raises() -> None:
    app, db = bare_app()
    QBO(app, db=db)
    with app.app_context():
        with pytest.raises(QBOConfigError, match="QBO_CLIENTID"):
            get_config("QBO_CLIENTID")
        assert get_config("QBO_CLIENT_ID") is None


def test_register_contact_names_an_unknown_attribute() -> None:
    app, db = bare_app()
    qbo = QBO(app, db=db)
    fields = FieldMap(Field("first_name", "GivenName"), Field("favourite_colour", "Notes"))
    with pytest.raises(QBOConfigError, match="favourite_colour"):
        qbo.register_contact(Contact, fields=fields)
    with pytest.raises(QBOConfigError, match="'uuid'"):
        qbo.register_contact(Contact, fields=FieldMap.default(), key="uuid")
    assert qbo._contact is None


def test_register_contact_names_an_unknown_qbo_path() -> None:
    app, db = bare_app()
    qbo = QBO(app, db=db)
    with pytest.raises(QBOConfigError, match="BillAddr.Planet"):
        qbo.register_contact(Contact, fields=FieldMap(Field("billing_city", "BillAddr.Planet")))
    with pytest.raises(QBOConfigError, match="GivenNme"):
        qbo.register_contact(Contact, fields=FieldMap.from_dict({"first_name": "GivenNme"}))


def test_two_apps_keep_separate_state(tmp_path: t.Any) -> None:
    emulators = [make_emulator(), make_emulator()]
    apps = [make_app(f"sqlite:///{tmp_path / f'crm{i}.sqlite'}") for i in range(2)]
    for app, emu in zip(apps, emulators):
        attach_emulator(app, emu)
    connect_tenant(apps[0], emulators[0], "acme", TEST_REALM)
    qbos = [get_qbo(app) for app in apps]
    assert qbos[0] is not qbos[1]
    assert qbos[0].state(apps[0]) is not qbos[1].state(apps[1])
    assert qbos[0].state(apps[0]).cipher is not qbos[1].state(apps[1]).cipher
    assert qbos[0].state(apps[0]).adapters is not qbos[1].state(apps[1]).adapters
    with pytest.raises(RuntimeError, match="not registered on this app"):
        qbos[0].state(apps[1])
    with apps[1].app_context():
        assert qbos[1].connection("acme") is None  # the other app's database
    with apps[0].app_context():
        connection = qbos[0].connection("acme")
        assert connection is not None
        qbos[0].client(connection).company_info()
    assert emulators[0].counters[TEST_REALM]["reads"] == 1
    assert emulators[1].counters[TEST_REALM]["reads"] == 0


def test_cli_create_tables(tmp_path: t.Any) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'cli.sqlite'}")
    with app.app_context():
        engine = get_qbo(app).state().db.engine
        metadata.drop_all(engine)
        assert not any(name.startswith("qbo_") for name in sa.inspect(engine).get_table_names())
    result = app.test_cli_runner().invoke(args=["qbo", "create-tables"])
    assert result.exit_code == 0, result.output
    assert "tables are ready" in result.output
    with app.app_context():
        names = set(sa.inspect(get_qbo(app).state().db.engine).get_table_names())
    assert {table.name for table in metadata.sorted_tables} <= names
    again = app.test_cli_runner().invoke(args=["qbo", "create-tables"])
    assert again.exit_code == 0  # idempotent


# -- contact keys: one canonical form -----------------------------------------------------

OTHER_SPELLINGS_OF_7 = ["07", "+7", " 7", "7 ", "7\n", "٧", "７", "7.0", "7_0", "0x7", "-07", ""]


def test_integer_keys_load_only_in_their_canonical_form(tmp_path: t.Any) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'keys.sqlite'}")
    with app.app_context():
        qbo = get_qbo(app)
        db = qbo.state().db
        db.session.add_all(
            [Contact(id=7, tenant="acme", first_name="Seven"), Contact(id=-3, tenant="acme", first_name="Negative")]
        )
        db.session.commit()
        assert qbo.load_contact("7").first_name == "Seven" and qbo.load_contact(7).first_name == "Seven"
        # What contact_key() writes always loads back, a negative id included.
        negative = qbo.load_contact(qbo._contact_key(db.session.get(Contact, -3)))
        assert negative is not None and negative.first_name == "Negative"
        spellings = [*OTHER_SPELLINGS_OF_7, "-0", "1" + "0" * 22, "9" * 5000, None, 7.0, True]
        assert [s for s in spellings if qbo.load_contact(s) is not None] == []
        assert set(qbo._load_contacts(["7", "07", "٧", "1" + "0" * 22])) == {"7"}
        assert qbo._canonical_key("7") == "7" and qbo._canonical_key(7) == "7"
        for spelling in spellings:
            with pytest.raises(ValueError, match="is not a contact key: contact keys are whole numbers"):
                qbo._canonical_key(spelling)


def test_string_keys_are_exact_and_bounded() -> None:
    app, db = bare_app()

    class Person(db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "people"
        code = db.Column(db.String(80), primary_key=True)
        first_name = db.Column(db.String(100))

    qbo = QBO(app, db=db)
    qbo.register_contact(Person, fields=FieldMap(Field("first_name", "GivenName")), key="code")
    with app.app_context():
        db.create_all()
        qbo.create_all()
        db.session.add_all([Person(code="AbC-1", first_name="Code"), Person(code="x" * 80, first_name="Long")])
        db.session.commit()
        assert qbo._canonical_key("AbC-1") == "AbC-1" and qbo.load_contact("AbC-1").first_name == "Code"
        assert qbo.load_contact("abc-1") is None  # keys are not folded: the host decides what a key is
        for bad in ("AbC-1\x00", "AbC\u202e-1", "x" * 80, "", None):
            assert qbo.load_contact(bad) is None, bad
            with pytest.raises(ValueError, match="is not a contact key"):
                qbo._canonical_key(bad)


def test_request_sync_refuses_a_key_in_another_spelling(app: t.Any, emulator: t.Any) -> None:
    from flask_qbo.models import Outbox
    from flask_qbo.sync.push import push

    connect_tenant(app, emulator, "acme", TEST_REALM)
    with app.app_context():
        qbo = get_qbo(app)
        db = qbo.state().db
        with qbo.suppress_capture():
            contact = Contact(tenant="acme", first_name="Sync")
            db.session.add(contact)
            db.session.commit()
        key = str(contact.id)
        for spelling in ("0" + key, "+" + key, key.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))):
            with pytest.raises(ValueError, match="is not a contact key"):
                push.request_sync(spelling, "acme")
        assert db.session.query(Outbox).count() == 0
        assert push.request_sync(key, "acme").contact_key == key


class _LoginUser:
    """A Flask-Login user with only the attributes a test names."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user_id: str, **attributes: str) -> None:
        self.id = user_id
        self.__dict__.update(attributes)

    def get_id(self) -> str:
        return self.id


def _login_app() -> tuple[Flask, QBO, dict[str, _LoginUser]]:
    from flask_login import LoginManager

    app, db = bare_app()
    app.config["SECRET_KEY"] = "s"
    users = {
        "1": _LoginUser("1", email="ada@crm.test", name="Ada"),
        "2": _LoginUser("2", username="grace", name="Grace"),
        "3": _LoginUser("3", name="Linus"),
        "4": _LoginUser("4"),
    }
    login = LoginManager(app)
    login.user_loader(users.get)
    return app, QBO(app, db=db), users


def test_flask_login_user_is_the_default_identity() -> None:
    from flask_login import login_user

    app, qbo, users = _login_app()
    expected = {"1": "ada@crm.test", "2": "grace", "3": "Linus", "4": "4"}
    for user_id, name in expected.items():
        with app.test_request_context():
            login_user(users[user_id])
            assert qbo._current_user_name() == name
    with app.test_request_context():
        assert qbo._current_user_name() is None  # anonymous
    with app.app_context():
        assert qbo._current_user_name() is None  # no request (CLI, runner)


def test_user_name_hook_overrides_the_flask_login_default() -> None:
    from flask_login import login_user

    app, qbo, users = _login_app()
    qbo.user_name(lambda: "from the hook")
    with app.test_request_context():
        login_user(users["1"])
        assert qbo._current_user_name() == "from the hook"


def test_identity_fits_the_audit_columns_and_survives_a_user_without_id() -> None:
    from flask_login import UserMixin
    from flask_login import login_user

    class NoId(UserMixin):  # UserMixin.get_id() raises when the model has no ``id``
        pass

    app, qbo, users = _login_app()
    with app.test_request_context():
        login_user(_LoginUser("5", name="N" * 400))
        assert qbo._current_user_name() == "N" * 255
    app.login_manager.request_loader(lambda request: NoId())  # e.g. a user found by an API token
    with app.test_request_context():
        assert qbo._current_user_name() is None


def test_without_flask_login_or_hook_nobody_is_named() -> None:
    app, db = bare_app()
    qbo = QBO(app, db=db)
    with app.test_request_context():
        assert qbo._current_user_name() is None


def test_db_must_be_flask_sqlalchemy() -> None:
    app = Flask(__name__)
    with pytest.raises(QBOConfigError, match="Flask-SQLAlchemy"):
        QBO(app, db=object())  # type: ignore[arg-type]  # the wrong object on purpose


def test_an_attribute_capture_cannot_observe_is_refused_with_what_to_do() -> None:
    app, db = bare_app()

    class Member(db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "members"
        id = db.Column(db.Integer, primary_key=True)
        first = db.Column(db.String(50))
        last = db.Column(db.String(50))

        @property
        def street(self) -> str:
            return "1 Main St"

    class Home(db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "homes"
        id = db.Column(db.Integer, primary_key=True)
        member_id = db.Column(db.Integer, db.ForeignKey("members.id"))
        member = db.relationship(Member)

    qbo = QBO(app, db=db)
    street = FieldMap(Field("street", "BillAddr.Line1", TO_QBO))
    with pytest.raises(QBOConfigError, match=r"Member\.street is not a column.*related=.*watches="):
        qbo.register_contact(Member, fields=street)
    with pytest.raises(QBOConfigError, match="is not a column"):
        qbo.register_contact(Member, fields=FieldMap(Field(path="DisplayName", get=lambda m: m.first)))
    with pytest.raises(QBOConfigError, match="'nickname'"):
        qbo.register_contact(
            Member, fields=FieldMap(Field(path="DisplayName", get=str, watches=("first",))), key="nickname"
        )
    with pytest.raises(QBOConfigError, match="watches 'street'.*not columns"):
        qbo.register_contact(Member, fields=FieldMap(Field(path="DisplayName", get=str, watches=("street",))))
    with pytest.raises(QBOConfigError, match=r"Home\.owner is not a relationship"):
        qbo.register_contact(Member, fields=street, related={Home: "owner"})
    assert qbo._contact is None
    qbo.register_contact(Member, fields=street, related={Home: "member"})
    qbo.register_contact(Member, fields=FieldMap(Field(path="DisplayName", get=str, watches=("first", "last"))))
    assert qbo._contact is not None and qbo._contact.related == {}


@pytest.mark.parametrize("key", ["QBO_DISPLAY_NAME", "QBO_MIRROR"])
def test_a_setting_of_a_few_words_is_checked_at_init_app(key: str) -> None:
    app, db = bare_app()
    app.config[key] = "folow"
    with pytest.raises(QBOConfigError, match=f"{key} must be one of .*'folow'"):
        QBO(app, db=db)
