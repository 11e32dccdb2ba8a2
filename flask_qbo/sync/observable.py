"""Registration checks: can capture see every edit of what a field map pushes?

Capture (:mod:`flask_qbo.sync.capture`) sees changes of the contact's own
columns and of the rows of the related models the host declares.  A field that
reads anything else (a plain property, a hybrid over a private column, a SQL
expression) would never be pushed after an edit, silently; so registration
refuses it, saying what to declare instead.

The checks read each mapper's own properties without configuring the mappers
(``Mapper.get_property`` does not), because a host registers its contact at
import time, when classes its relationships name may not exist yet: configuring
then would fail and leave SQLAlchemy's registry broken for the whole app.
"""

from __future__ import annotations

import inspect
import typing as t

from sqlalchemy import Column
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import ColumnProperty
from sqlalchemy.orm import Mapper
from sqlalchemy.orm import RelationshipProperty
from sqlalchemy.orm import SynonymProperty

from ..errors import QBOConfigError
from ..fieldmap import FieldMap

if t.TYPE_CHECKING:
    from ..extension import RelatedLink


def column_key(mapper: Mapper[t.Any], name: str) -> str | None:
    """The column attribute ``name`` stands for (through synonyms), or ``None`` when it is not a table column.

    A ``column_property`` over an expression is not one: its value changes when
    the columns it reads do, which capture would not connect to it.
    """
    for _ in range(10):  # a synonym of a synonym ...; a cycle is the host's bug, not ours to loop on
        if not mapper.has_property(name):
            return None
        prop = mapper.get_property(name)
        if isinstance(prop, SynonymProperty):
            name = prop.name
            continue
        if not isinstance(prop, ColumnProperty):
            return None
        tables = set(mapper.tables)
        ok = all(isinstance(col, Column) and col.table in tables for col in prop.columns)
        return prop.key if ok else None
    return None


def check_observable(model: type, fields: FieldMap, related: t.Mapping[type, RelatedLink]) -> None:
    """Refuse a pushed field whose changes capture could never see, and a ``related`` link that leads nowhere.

    A field is observable when it maps a column (or a synonym of one), or names
    the columns it depends on (``watches=``).  Declaring ``related`` models
    vouches for the contact's other attributes: they are taken to read those rows.
    """
    mapper: Mapper[t.Any] | None = sa_inspect(model, raiseerr=False)
    if mapper is None:
        raise QBOConfigError(f"{model.__name__} is not a mapped SQLAlchemy model.")
    for related_model, link in related.items():
        _check_link(model, related_model, link)
    for field in fields:
        if not field.pushes:
            continue
        bad = [name for name in field.watches if column_key(mapper, name) is None]
        if bad:
            raise QBOConfigError(
                f"Field {field.name!r} watches {', '.join(map(repr, bad))}, which are not columns of "
                f"{model.__name__}; watch columns, and declare rows of other tables with related={{Model: 'contact'}}."
            )
        if field.watches or related or (field.attr and field.get is None and column_key(mapper, field.attr)):
            continue
        raise QBOConfigError(_unobservable(mapper, model, field.attr if field.get is None else None, field.name))


def check_parent(model: type, parent: RelatedLink | None, watches: t.Sequence[str]) -> None:
    """Refuse a job ``parent=`` link whose changes capture could never see (see ``register_contact``).

    A relationship of the contact model to itself is watched through its key
    column; an attribute that is not one, or a callable, must name the columns
    it reads in ``parent_watches``.
    """
    if parent is None:
        return
    mapper: Mapper[t.Any] = sa_inspect(model)
    bad = [name for name in watches if column_key(mapper, name) is None]
    if bad:
        raise QBOConfigError(f"parent_watches: {', '.join(map(repr, bad))} are not columns of {model.__name__}.")
    if isinstance(parent, str):
        if not hasattr(model, parent):
            raise QBOConfigError(f"parent: {model.__name__} has no attribute {parent!r}.")
        prop = mapper.get_property(parent) if mapper.has_property(parent) else None
        if isinstance(prop, RelationshipProperty):
            target = _named(prop.argument)
            if target is not None and target not in {c.__name__ for c in model.__mro__}:
                raise QBOConfigError(f"parent: {model.__name__}.{parent} leads to {target}, not to a contact.")
            return
    elif not callable(parent):
        raise QBOConfigError("parent must be an attribute name or a callable (contact) -> parent contact.")
    if not watches:
        raise QBOConfigError(
            "parent is not a relationship of the contact model, so capture cannot see a contact move to another "
            "parent: name the columns it reads, register_contact(..., parent_watches=('account_id',))."
        )


def parent_columns(mapper: Mapper[t.Any], parent: RelatedLink | None, watches: t.Sequence[str]) -> list[str]:
    """The contact columns whose change moves it to another parent (read at flush time, mappers configured)."""
    columns = [column_key(mapper, name) or name for name in watches]
    relationship = mapper.relationships.get(parent) if isinstance(parent, str) else None
    if relationship is not None:
        columns += [mapper.get_property_by_column(col).key for col in relationship.local_columns]
    return columns


def _unobservable(mapper: Mapper[t.Any], model: type, attr: str | None, name: str) -> str:
    """Why a field cannot be captured, and what to write instead."""
    if attr is None:
        return (
            f"the get= of field {name!r} is not a column and watches none, so edits of what it reads can never "
            f"be captured and pushed to QuickBooks: add watches=('column', ...), or declare related rows with related=."
        )
    what = f"{model.__name__}.{attr}"
    if mapper.has_property(attr) and isinstance(mapper.get_property(attr), ColumnProperty):
        return (
            f"{what} is a SQL expression, not a column, so edits of the columns it reads are not captured: "
            f"map it with Field({attr!r}, ..., watches=('column', ...)) naming them."
        )
    private = f"_{attr}"
    if isinstance(inspect.getattr_static(model, attr, None), hybrid_property) and column_key(mapper, private):
        return (
            f"{what} is a hybrid property, so capture cannot see its edits: name the column it reads, "
            f"Field({attr!r}, ..., watches=({private!r},)); QBO's values still go through its setter."
        )
    return (
        f"{what} is not a column, so edits to it can never be captured and pushed to QuickBooks. "
        f"If it reads rows of another table, declare them: register_contact(..., related={{Address: 'contact'}}); "
        f"if it is computed from columns, add watches=('column', ...) to its Field."
    )


def _check_link(model: type, related_model: type, link: RelatedLink) -> None:
    """A ``related`` value must be a callable, or a relationship of ``related_model`` leading to ``model``."""
    target: Mapper[t.Any] | None = sa_inspect(related_model, raiseerr=False)
    if target is None:
        raise QBOConfigError(f"related: {related_model!r} is not a mapped SQLAlchemy model.")
    if not isinstance(link, str):
        if not callable(link):
            raise QBOConfigError(f"related: the link of {related_model.__name__} must be a name or a callable.")
        return
    where = f"{related_model.__name__}.{link}"
    prop = target.get_property(link) if target.has_property(link) else None
    if prop is None:  # a backref= of the other side's relationship: made only when the mappers are configured
        prop, leads_to = _backref(target, link)
    else:
        leads_to = _named(prop.argument) if isinstance(prop, RelationshipProperty) else None
    if not isinstance(prop, RelationshipProperty):
        raise QBOConfigError(
            f"related: {where} is not a relationship; name the relationship that leads to the "
            f"{model.__name__} (not its key column), or give a callable (row) -> contact."
        )
    if leads_to is not None and leads_to not in {c.__name__ for c in model.__mro__}:
        raise QBOConfigError(f"related: {where} leads to {leads_to}, not {model.__name__}.")


def _named(argument: object) -> str | None:
    """The class name a relationship's target is given as (``None`` for a callable, resolved later)."""
    if isinstance(argument, type):
        return argument.__name__
    return argument.rsplit(".", 1)[-1] if isinstance(argument, str) else None


def _backref(target: Mapper[t.Any], link: str) -> tuple[RelationshipProperty[t.Any] | None, str | None]:
    """The relationship whose ``backref`` will be ``target.<link>``, and the class name that backref leads to."""
    for mapper in target.registry.mappers:
        for prop in mapper._props.values():  # noqa: SLF001 - the public views configure the mappers
            if not isinstance(prop, RelationshipProperty):
                continue
            name = prop.backref[0] if isinstance(prop.backref, tuple) else prop.backref
            if name == link and _named(prop.argument) in (target.class_.__name__, None):
                return prop, mapper.class_.__name__
    return None, None
