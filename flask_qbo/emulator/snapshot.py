"""JSON snapshots of an emulator's companies, so a restarted emulator keeps its data.

:func:`save` writes every company as it is and :func:`load` puts it back, ids,
SyncTokens, deletions and change log included, so every link a CRM made
before a restart still points at the same record (and CDC still answers).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import typing as t

from .company import Change
from .entities import ENTITIES

if t.TYPE_CHECKING:
    from .app import Emulator

SNAPSHOT_FORMAT = "flask-qbo-emulator"
SNAPSHOT_VERSION = 1


def save(emu: Emulator, path: str | os.PathLike[str]) -> None:
    """Write every company of ``emu`` to ``path`` as JSON (atomically).

    The store offers no dump of its own, so this serialises each
    :class:`~flask_qbo.emulator.company.Company` as it is: the entity tables
    (including the store's private ``_``-prefixed bookkeeping such as opening
    balances and void marks), the id and document-number sequences, the
    tombstones of deleted objects and the change log. Re-creating objects
    through ``store.create`` instead would renumber ids, reset SyncTokens and
    lose deletions, which would break every CRM link made before a restart.
    """
    store = emu.store
    with store.lock:
        companies = []
        for realm, name in store.companies():
            company = store.company(realm)
            companies.append(
                {
                    "realm": realm,
                    "name": name,
                    "tables": company.tables,
                    "next_ids": company.next_ids,
                    "doc_numbers": company.doc_numbers,
                    "tombstones": [
                        [entity, entity_id, when] for (entity, entity_id), when in company.tombstones.items()
                    ],
                    "changes": [
                        [change.when.isoformat(), change.entity, change.entity_id] for change in company.changes
                    ],
                }
            )
        text = json.dumps(
            {"format": SNAPSHOT_FORMAT, "version": SNAPSHOT_VERSION, "companies": companies},
            indent=1,
            sort_keys=True,
        )
    target = os.fspath(path)
    temporary = f"{target}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, target)


def load(emu: Emulator, path: str | os.PathLike[str]) -> None:
    """Replace the companies named in ``path`` (written by :func:`save`).

    Companies missing from ``emu`` are added first; loading fires no webhooks,
    because nothing changed from a client's point of view.
    """
    with open(os.fspath(path), encoding="utf-8") as handle:
        data = json.load(handle)
    if data.get("format") != SNAPSHOT_FORMAT or data.get("version") != SNAPSHOT_VERSION:
        raise ValueError(f"{os.fspath(path)} is not a flask-qbo emulator snapshot (version {SNAPSHOT_VERSION})")
    store = emu.store
    for entry in data["companies"]:
        realm = str(entry["realm"])
        if not store.has_company(realm):
            emu.add_company(realm, entry["name"])
        with store.lock:
            company = store.company(realm)
            company.name = entry["name"]
            saved = entry["tables"]
            # A table the snapshot predates (Preferences) keeps what the company was created with.
            company.tables = {
                name: {str(key): value for key, value in saved[name].items()} if name in saved else company.tables[name]
                for name in ENTITIES
            }
            company.next_ids = {str(k): int(v) for k, v in entry["next_ids"].items()}
            company.doc_numbers = {str(k): int(v) for k, v in entry["doc_numbers"].items()}
            company.tombstones = {(entity, entity_id): when for entity, entity_id, when in entry["tombstones"]}
            company.changes = [
                Change(dt.datetime.fromisoformat(when), entity, entity_id)
                for when, entity, entity_id in entry["changes"]
            ]
