"""Loading input with a marshmallow schema at the speed of a C decoder.

A tablet's push carries up to 500 mutations and each one's data goes through the input schema of
the online endpoint for the same action: marshmallow spent 30 µs a mutation on that, more than
everything else a create does. ``loader(Schema)`` keeps the schema as the one definition (the
OpenAPI document, the online endpoints and the error messages all come from it) and derives a
msgspec type from it that checks the same things in C.

The rule that keeps the two from ever disagreeing: the derived type is never laxer than the
schema. Whatever it accepts, the schema would accept with the same result; whatever it refuses
(a number sent as a string, a validator it does not translate failing) goes to marshmallow,
which decides — and writes the error message — as it always did. A schema using anything not
translated here (hooks, other field types, ``unknown = INCLUDE``) is simply loaded by
marshmallow."""

from __future__ import annotations

import datetime as dt
import functools
import types
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

import marshmallow as ma
import msgspec
from marshmallow import fields, validate

from app.schemas import JsonBoolean, JsonInteger

UNSET = msgspec.UNSET


class _Untranslatable(Exception):
    """The schema uses something this module does not translate: marshmallow loads it."""


_SCALARS = {
    JsonBoolean: bool,
    JsonInteger: int,
    fields.String: str,
    fields.Integer: int,
    fields.UUID: uuid.UUID,
    fields.Boolean: bool,
    fields.Date: dt.date,
}


def _constraints(field: fields.Field[Any], base: type) -> tuple[Any, list[Any]]:
    """The msgspec annotation for the field's validators it can check in C, and the validators
    it cannot (called on the decoded value)."""
    meta: dict[str, Any] = {}
    rest: list[Any] = []
    for v in field.validators:
        if type(v) is validate.Length and base in (str, list):
            if v.equal is not None:
                meta.update(min_length=v.equal, max_length=v.equal)
            else:
                meta.update({k: n for k, n in (("min_length", v.min), ("max_length", v.max)) if n is not None})
        elif type(v) is validate.Range and base is int:
            if v.min is not None:
                meta["ge" if v.min_inclusive else "gt"] = v.min
            if v.max is not None:
                meta["le" if v.max_inclusive else "lt"] = v.max
        elif type(v) is validate.OneOf and base is str and v.choices and all(type(c) is str for c in v.choices):
            if "literal" in meta:
                raise _Untranslatable("two OneOf validators")
            meta["literal"] = tuple(v.choices)
        else:
            rest.append(v)
    literal = meta.pop("literal", None)
    if literal is not None:
        if meta:
            raise _Untranslatable("OneOf with other constraints")
        return Literal[literal], rest
    return (Annotated[base, msgspec.Meta(**meta)] if meta else base), rest


class _Field:
    """How one field's decoded value becomes marshmallow's loaded value."""

    def __init__(self, name: str, validators: list[Any], convert: Callable[..., Any] | None) -> None:
        self.name, self.validators, self.convert = name, validators, convert


def _field_type(field: fields.Field[Any]) -> tuple[Any, list[Any], Callable[..., Any] | None]:
    kind = type(field)
    if kind in _SCALARS:
        typ, rest = _constraints(field, _SCALARS[kind])
        return typ, rest, None
    if type(field) is fields.Dict and field.key_field is None and field.value_field is None:
        typ, rest = _constraints(field, dict)
        return typ, rest, None
    if type(field) is fields.List:
        inner, inner_rest, inner_convert = _field_type(field.inner)
        if inner_rest:
            raise _Untranslatable("validators on list items")
        typ, rest = _constraints(field, list)
        # list[inner], spelt so that a type checker sees a value built at run time, not an annotation
        listed = types.GenericAlias(list, (inner,))
        typ = listed if typ is list else Annotated[listed, *typ.__metadata__]  # the Length
        convert = (lambda items: [inner_convert(i) for i in items]) if inner_convert else None
        return typ, rest, convert
    if (
        type(field) is fields.Nested
        and isinstance(field.nested, type)
        and not field.only
        and not field.exclude
        and getattr(field, "unknown", None) is None
    ):
        compiled = _compile(field.nested)
        if field.many:
            listed = types.GenericAlias(list, (compiled.type,))  # list[compiled.type], built at run time
            return listed, list(field.validators), lambda items: [compiled.to_dict(i) for i in items]
        return compiled.type, list(field.validators), compiled.to_dict
    raise _Untranslatable(f"{kind.__name__} fields")


class _Compiled:
    def __init__(self, type_: type[msgspec.Struct], plan: list[_Field], has_unset: bool) -> None:
        self.type, self.plan, self.has_unset = type_, plan, has_unset
        self.simple = not has_unset and not any(f.validators or f.convert for f in plan)

    def to_dict(self, obj: msgspec.Struct) -> dict[str, Any]:
        """The decoded struct as marshmallow would have loaded it: a plain dict, nested ones too,
        absent optional fields absent; raises ``ma.ValidationError`` if a validator refuses."""
        out = msgspec.structs.asdict(obj)
        if self.simple:
            return out
        for f in self.plan:
            value = out[f.name]
            if value is UNSET:
                del out[f.name]
                continue
            if value is None:
                continue
            for validator in f.validators:
                validator(value)
            if f.convert is not None:
                out[f.name] = f.convert(value)
        return out


@functools.cache
def _compile(schema_class: type[ma.Schema]) -> _Compiled:
    schema = schema_class()
    # resolve_hooks is marshmallow's public class method (SchemaMeta) listing the decorated
    # pre/post-load hooks; a schema with any is left to marshmallow.
    if any(schema_class.resolve_hooks().values()):
        raise _Untranslatable("hooks")
    if schema.unknown not in (ma.RAISE, ma.EXCLUDE):
        raise _Untranslatable("unknown=INCLUDE")
    specs: list[tuple[str, Any, Any]] = []
    plan: list[_Field] = []
    has_unset = False
    default: Any
    for name, field in schema.load_fields.items():
        typ, rest, convert = _field_type(field)
        if field.allow_none:
            typ = typ | None
        if field.required:
            default = msgspec.NODEFAULT
        elif field.load_default is ma.missing:
            default, has_unset = UNSET, True
            typ = typ | msgspec.UnsetType
        else:
            default = field.load_default
        wire = field.data_key or name
        if callable(default):
            spec = msgspec.field(default_factory=default, name=wire)
        elif isinstance(default, (dict, list, set)):
            spec = msgspec.field(default_factory=functools.partial(type(default), default), name=wire)
        else:
            spec = msgspec.field(default=default, name=wire)
        specs.append((name, typ, spec))
        plan.append(_Field(name, rest, convert))
    struct = msgspec.defstruct(
        f"{schema_class.__name__}Fast", specs, forbid_unknown_fields=schema.unknown == ma.RAISE, kw_only=True
    )
    return _Compiled(struct, plan, has_unset)


def _marshmallow(schema_class: type[ma.Schema]) -> Callable[[Any], dict[str, Any]]:
    return schema_class().load


@functools.cache
def loader(schema_class: type[ma.Schema]) -> Callable[[Any], dict[str, Any]]:
    """``schema_class().load``, fast where it can be (see the module's docstring); refusals raise
    marshmallow's ``ValidationError`` with marshmallow's messages."""
    try:
        compiled = _compile(schema_class)
    except _Untranslatable:
        return _marshmallow(schema_class)
    slow: Callable[[Any], dict[str, Any]] = schema_class().load  # load(many=False) gives one dict
    convert = msgspec.convert

    def load(data: Any) -> dict[str, Any]:
        try:
            return compiled.to_dict(convert(data, compiled.type))
        except (msgspec.ValidationError, ma.ValidationError):
            return slow(data)  # marshmallow decides, and says why

    return load
