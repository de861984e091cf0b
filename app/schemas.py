"""Schema building blocks shared by every feature package."""
from __future__ import annotations

import marshmallow as ma
import sqlalchemy as sa
from marshmallow import fields, validate

from app.extensions import db


class In(ma.Schema):
    """Input schemas refuse unknown fields: a field the caller may not set is a 422, never ignored."""

    class Meta:
        unknown = ma.RAISE


class Out(ma.Schema):
    pass


def text(max_len: int, *, min_len: int = 1, **kw):
    return fields.String(validate=validate.Length(min=min_len, max=max_len), **kw)


def paginate(query, pagination_parameters):
    """Run a scoped select for one page and tell flask-smorest the total for ``X-Pagination``."""
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    pagination_parameters.item_count = total
    return db.session.execute(
        query.limit(pagination_parameters.page_size).offset(pagination_parameters.first_item)
    ).scalars().all()
