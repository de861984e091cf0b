from __future__ import annotations

from marshmallow import fields, validate

from app.schemas import In, Out, text


class LoginIn(In):
    username = text(64, required=True, metadata={"example": "li.wei"})
    password = text(200, required=True, load_only=True)
    device_id = fields.UUID(load_default=None, metadata={"description": "Enrolled tablet; yields device-bound tokens"})


class TokenOut(Out):
    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String(metadata={"example": "Bearer"})
    expires_in = fields.Integer(metadata={"example": 900})
    device_credential = fields.String(
        dump_only=True,
        metadata={
            "description": "Device-bound log-in or refresh on an active tablet: the server-signed credential "
            "(ES256 JWS, typ dc) the tablet puts in the header of every receipt it signs"
        },
    )


class RefreshIn(In):
    refresh_token = text(200, required=True)


class OtpRequestIn(In):
    phone = fields.String(required=True, metadata={"example": "13812345678"})
    locale = fields.String(validate=validate.OneOf(["zh", "en"]), load_default="zh")


class OtpRequestOut(Out):
    expires_in = fields.Integer(metadata={"example": 300})


class OtpVerifyIn(In):
    phone = fields.String(required=True, metadata={"example": "13812345678"})
    code = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{6}$", error="must be 6 digits"))


class DeviceIn(In):
    label = text(100, required=True, metadata={"example": "Tablet 07"})
    station_id = fields.UUID(
        load_default=None, metadata={"description": "Admins name the station; staff get their own"}
    )


class DeviceCreatedOut(Out):
    id = fields.UUID()
    station_id = fields.UUID()
    enrollment_code = fields.String(metadata={"example": "7KQ2-MX9P-4HTR"})
    enrollment_expires_at = fields.DateTime()


class EnrollIn(In):
    enrollment_code = text(20, required=True)
    public_key = fields.Dict(
        required=True, metadata={"description": "The tablet's ES256 public JWK (kty EC, crv P-256)"}
    )


class EnrollOut(Out):
    device_id = fields.UUID(attribute="id")
    station_id = fields.UUID()


class RevokeIn(In):
    mode = fields.String(required=True, validate=validate.OneOf(["lost", "retired"]))


class DeviceOut(Out):
    id = fields.UUID()
    station_id = fields.UUID()
    label = fields.String()
    status = fields.String()
    enrolled_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    last_push_at = fields.DateTime(allow_none=True)
    last_pull_at = fields.DateTime(allow_none=True)
    last_seq = fields.Integer(metadata={"description": "highest mutation seq the server settled"})
    clock_skew_seconds = fields.Integer(
        allow_none=True, metadata={"description": "device clock minus server clock at the last push"}
    )
