from __future__ import annotations

from marshmallow import fields, validate

from app import pii
from app.auth.actor import ROLE_PERMISSIONS
from app.org.models import AREA_KINDS, ROLES
from app.schemas import In, JsonBoolean, Out, text

CODE = validate.Regexp(r"^[A-Z0-9][A-Z0-9_-]{0,31}$", error="upper-case letters, digits, '-' and '_' (1-32)")
USERNAME = validate.Regexp(r"^[A-Za-z0-9._-]{3,64}$", error="3-64 letters, digits, '.', '_' or '-'")


class StationIn(In):
    code = fields.String(required=True, validate=CODE, metadata={"example": "XH01"})
    name = text(100, required=True, metadata={"example": "西湖派出所"})


class StationPatch(In):
    name = text(100)
    active = JsonBoolean()


class StationOut(Out):
    id = fields.UUID()
    code = fields.String()
    name = fields.String()
    active = fields.Boolean()
    created_at = fields.DateTime()


class AreaIn(In):
    station_id = fields.UUID(required=True)
    code = fields.String(required=True, validate=CODE, metadata={"example": "BSQ"})
    name = text(100, required=True, metadata={"example": "北山社区"})
    kind = fields.String(validate=validate.OneOf(AREA_KINDS), load_default="community")


class AreaPatch(In):
    name = text(100)
    kind = fields.String(validate=validate.OneOf(AREA_KINDS))
    active = JsonBoolean()


class AreaArgs(In):
    station_id = fields.UUID()


class AreaOut(Out):
    id = fields.UUID()
    station_id = fields.UUID()
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    active = fields.Boolean()


class UserIn(In):
    username = fields.String(required=True, validate=USERNAME, metadata={"example": "li.wei"})
    password = text(200, required=True, load_only=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    station_id = fields.UUID(allow_none=True)
    display_name = text(100, min_len=0, load_default="")
    phone = fields.String(allow_none=True, metadata={"example": "13812345678"})
    area_ids = fields.List(fields.UUID(), load_default=list)


class UserPatch(In):
    role = fields.String(validate=validate.OneOf(ROLES))
    station_id = fields.UUID(allow_none=True)
    display_name = text(100, min_len=0)
    phone = fields.String(allow_none=True)
    active = JsonBoolean()
    area_ids = fields.List(fields.UUID())
    password = text(200, load_only=True)


class UserArgs(In):
    station_id = fields.UUID()
    role = fields.String(validate=validate.OneOf(ROLES))
    active = fields.Boolean()


class UserOut(Out):
    id = fields.UUID()
    username = fields.String(allow_none=True)
    role = fields.String()
    station_id = fields.UUID(allow_none=True)
    display_name = fields.String()
    phone = fields.Function(lambda u: pii.mask_phone(u.phone), metadata={"example": "138****5678"})
    active = fields.Boolean()
    area_ids = fields.Function(lambda u: sorted(str(a.id) for a in u.areas))
    created_at = fields.DateTime()


class UserPiiOut(Out):
    id = fields.UUID()
    phone = fields.String(allow_none=True)


class MeOut(UserOut):
    """Dumps the account as the request's authentication read it (``app.auth.tokens.Account``)."""

    area_ids = fields.Function(lambda u: sorted(str(a) for a in u.area_ids))
    permissions = fields.Function(lambda u: sorted(ROLE_PERMISSIONS[u.role]))
