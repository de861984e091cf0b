"""The public directory as the API shows it: names and codes, nothing about who works there."""

from __future__ import annotations

from marshmallow import fields

from app.schemas import Out


class PublicAreaOut(Out):
    id = fields.UUID()
    code = fields.String()
    name = fields.String()
    kind = fields.String()


class PublicStationOut(Out):
    id = fields.UUID()
    code = fields.String()
    name = fields.String()
    areas = fields.List(fields.Nested(PublicAreaOut))
