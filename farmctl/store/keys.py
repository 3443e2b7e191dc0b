"""API keys for the HTTP server, and the customers' share links: stored as hashes, shown once
(table `api_keys`, schema step API_KEYS_VERSION in migrations.py).

A key is 32 random bytes (`secrets.token_urlsafe`), so a plain SHA-256 of it is as good as a slow
password hash: there is nothing to guess and nothing to look up in a dictionary, and a fast hash lets
every request be checked with one indexed lookup. The key itself is never stored, logged or listed;
`add_api_key` returns it once and the operator copies it into the slicer.

Scopes are ordered: each includes the ones before it (a slicer's `upload` key may also read the
printer list it asks for; a `control` key may pause printers and queue files; `admin` may do all).

A share link (`farmctl orders share ID`) is a token of the same kind with the scope `share`, named
`share-o<ID>-<n>`: it opens that order's customer page and nothing else (it is below every API scope),
and it is hashed, listed (by `orders share --list`, not `keys list`) and revoked like a key.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, select
from sqlalchemy.exc import IntegrityError

from farmctl.errors import UserError
from farmctl.ids import ID_PREFIX, UnknownKey, UnknownOrder, format_id, parse_id
from farmctl.store.base import StoreBase
from farmctl.store.tables import api_keys, orders

SCOPES = ("read", "upload", "control", "admin")
SHARE_SCOPE = "share"
_SHARE_NAME = re.compile(rf"^share-({ID_PREFIX['order']}\d+)-\d+$")  # share-o3-1: o3's first link
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")




class KeyNameTaken(UserError):
    """`add_api_key` with the name of a key that exists (each face says how to revoke that one)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a key named '{name}' exists; revoke it first or pick another name")
        self.name = name


@dataclass(frozen=True)
class ApiKey:
    """A key as listed: never the key itself."""

    name: str
    scope: str
    created_at: float

    def allows(self, needed: str) -> bool:
        """A share link's token allows no API scope at all."""
        return self.scope in SCOPES and SCOPES.index(self.scope) >= SCOPES.index(needed)

    @property
    def shared_order(self) -> int | None:
        """The order a share link opens (None for an API key)."""
        match = _SHARE_NAME.match(self.name) if self.scope == SHARE_SCOPE else None
        return parse_id("order", match.group(1)) if match else None


def _share_names(order_id: int) -> str:
    """The prefix of every share link's name of one order ("share-o3-"), n counts on from it."""
    return f"share-{format_id('order', order_id)}-"


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


class KeyOps(StoreBase):
    def add_api_key(self, name: str, scope: str) -> tuple[ApiKey, str]:
        """Create a key; returns it with its secret, which exists nowhere else afterwards."""
        if not _NAME.match(name):
            raise UserError(
                f"'{name}' is not a usable key name: use letters, digits, '.', '_' or '-' (up to 64)"
            )
        if scope not in SCOPES:
            raise UserError(f"unknown scope '{scope}'; use one of {', '.join(SCOPES)}")
        secret = secrets.token_urlsafe(32)
        now = self.now()
        try:
            with self._write() as conn:
                row = {"name": name, "scope": scope, "key_sha256": hash_key(secret), "created_at": now}
                conn.execute(api_keys.insert().values(**row))
                self._event(conn, "key.added", name, scope=scope)
        except IntegrityError:
            raise KeyNameTaken(name) from None
        return ApiKey(name=name, scope=scope, created_at=now), secret

    def list_api_keys(self) -> list[ApiKey]:
        """The API keys (share links are listed by `list_shares`)."""
        with self._read() as conn:
            rows = conn.execute(
                select(api_keys).where(api_keys.c.scope != SHARE_SCOPE).order_by(api_keys.c.name)
            ).all()
        return [ApiKey(name=r.name, scope=r.scope, created_at=r.created_at) for r in rows]

    def share_order(self, order_id: int) -> tuple[ApiKey, str]:
        """A new share link token for one order (its earlier links stay valid until revoked)."""
        now = self.now()
        with self._write() as conn:
            order = conn.execute(select(orders.c.id).where(orders.c.id == order_id)).first()
            if order is None:
                raise UnknownOrder(order_id)
            names = api_keys.c.name.like(f"{_share_names(order_id)}%")
            taken = conn.execute(select(func.count()).select_from(api_keys).where(names)).scalar_one()
            name = f"{_share_names(order_id)}{int(taken) + 1}"
            secret = secrets.token_urlsafe(24)
            row = {"name": name, "scope": SHARE_SCOPE, "key_sha256": hash_key(secret), "created_at": now}
            conn.execute(api_keys.insert().values(**row))
            self._event(conn, "order.shared", format_id("order", order_id), link=name)
        return ApiKey(name=name, scope=SHARE_SCOPE, created_at=now), secret

    def list_shares(self, order_id: int) -> list[ApiKey]:
        with self._read() as conn:
            rows = conn.execute(select(api_keys).where(and_(
                api_keys.c.scope == SHARE_SCOPE, api_keys.c.name.like(f"{_share_names(order_id)}%")
            )).order_by(api_keys.c.created_at)).all()
        return [ApiKey(name=r.name, scope=r.scope, created_at=r.created_at) for r in rows]

    def revoke_shares(self, order_id: int) -> int:
        """Every share link of the order stops working; returns how many there were."""
        with self._write() as conn:
            if conn.execute(select(orders.c.id).where(orders.c.id == order_id)).first() is None:
                raise UnknownOrder(order_id)
            done = conn.execute(delete(api_keys).where(and_(
                api_keys.c.scope == SHARE_SCOPE, api_keys.c.name.like(f"{_share_names(order_id)}%")
            )))
            revoked = int(done.rowcount or 0)
            self._event(conn, "order.unshared", format_id("order", order_id), links=revoked)
        return revoked

    def revoke_api_key(self, name: str) -> ApiKey:
        with self._write() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.name == name)).first()
            if row is None:
                raise UnknownKey(name)
            conn.execute(delete(api_keys).where(api_keys.c.name == name))
            self._event(conn, "key.revoked", name, scope=row.scope)
        return ApiKey(name=row.name, scope=row.scope, created_at=row.created_at)

    def find_api_key(self, secret: str) -> ApiKey | None:
        """The key with this secret, or None (unknown or revoked)."""
        with self._read() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_sha256 == hash_key(secret))).first()
        return None if row is None else ApiKey(name=row.name, scope=row.scope, created_at=row.created_at)

    def count_api_keys(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(api_keys)).scalar_one())
