"""Dumping an output schema without marshmallow's per-field machinery, to the same dict.

Every response, and every audit snapshot, goes through an output schema. marshmallow serialises
each field through ``Field.serialize`` → ``get_value`` → ``utils.get_value`` → ``_serialize``:
a booking's response and its audit snapshot cost ~45 Python calls a field, more than the
statement that inserts the booking. ``plan(schema)`` reads the schema's own bound fields once and
returns one function per schema instance that does, for the field types it knows, exactly what
marshmallow's code for them does — an attribute read, ``None`` kept, then ``str``, ``isoformat``,
``strftime``, the field's function, a nested schema's dump, a mapping's copy.

The rule that keeps the two from ever disagreeing: whatever is not plainly one of those — a
field of another type or a subclass, a dotted ``attribute``, a ``dump_default``, a value missing
from the object, an object read by key (``__getitem__``) rather than attribute, a schema with
dump hooks or its own ``get_attribute`` — goes through marshmallow's own code for that field or
that object. The schema stays the one definition (OpenAPI, loading, error messages); only how a
dump is computed changes, and ``tests/app/test_fastdump.py`` compares the two, byte for byte."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from marshmallow import fields, missing
from marshmallow.decorators import POST_DUMP, PRE_DUMP

Dumper = Callable[[Any], dict[str, Any]]
_Convert = Callable[[Any], Any]


def _temporal(field: fields.Date | fields.Time | fields.DateTime) -> _Convert:
    """``_TemporalField._serialize``: a named format's function, else ``strftime``."""
    fmt = field.format or field.DEFAULT_FORMAT
    func = field.SERIALIZATION_FUNCS.get(fmt)
    if func is not None:
        return lambda v: None if v is None else func(v)
    return lambda v: None if v is None else v.strftime(fmt)


def _string(v: Any) -> Any:
    """``String._serialize`` (``utils.ensure_text_type``)."""
    if v is None or type(v) is str:
        return v
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _uuid(v: Any) -> Any:
    """``UUID._serialize``."""
    return None if v is None else str(v)


def _converter(field: fields.Field[Any]) -> _Convert | None:
    """What ``field._serialize`` does with a value, or None where that is not plainly known."""
    kind = type(field)
    if kind is fields.String:
        return _string
    if kind is fields.UUID:
        return _uuid
    if kind in (fields.Date, fields.Time, fields.DateTime):
        return _temporal(field)  # type: ignore[arg-type]
    if kind is fields.Nested:
        nested: fields.Nested = field  # type: ignore[assignment]
        schema = nested.schema
        many = bool(schema.many or nested.many)
        dump = schema.dump
        return lambda v: None if v is None else dump(v, many=many)
    if kind is fields.List:
        inner = _converter(field.inner)  # type: ignore[attr-defined]
        if inner is None:
            return None
        return lambda v: None if v is None else [inner(each) for each in v]
    if kind is fields.Dict:
        mapping: fields.Dict = field  # type: ignore[assignment]
        if mapping.key_field is not None or mapping.value_field is not None:
            return None
        mapping_type = mapping.mapping_type
        return lambda v: None if v is None else mapping_type(v)
    return None


def _step(schema: ma.Schema, name: str, field: fields.Field[Any]) -> Callable[[Any, dict[str, Any]], None]:
    """Put one field of ``obj`` into the output, as ``Schema._serialize`` would."""
    key = field.data_key if field.data_key is not None else name
    accessor = schema.get_attribute

    def slow(obj: Any, out: dict[str, Any]) -> None:
        value = field.serialize(name, obj, accessor=accessor)
        if value is not missing:
            out[key] = value

    if type(field) is fields.Function:
        func = field.serialize_func
        if func is None:
            return slow

        def function(obj: Any, out: dict[str, Any]) -> None:
            value = func(obj)
            if value is not missing:
                out[key] = value

        return function
    attr = name if field.attribute is None else field.attribute
    convert = _converter(field)
    if convert is None or "." in attr or field.dump_default is not missing:
        return slow

    def plain(obj: Any, out: dict[str, Any]) -> None:
        value = getattr(obj, attr, missing)
        if value is missing:  # marshmallow decides (dump_default, omission)
            slow(obj, out)
        else:
            out[key] = convert(value)

    return plain


def plan(schema: ma.Schema) -> Dumper | None:
    """One object's dump for ``schema`` (its ``only``/``exclude`` already in its bound fields), or
    None if the schema must be dumped by marshmallow (hooks, its own attribute access)."""
    # resolve_hooks is marshmallow's public class method listing the decorated hooks (as
    # app/fastload.py reads it); a schema with dump hooks is left to marshmallow.
    hooks = type(schema).resolve_hooks()
    if (
        hooks[PRE_DUMP]
        or hooks[POST_DUMP]
        or type(schema).get_attribute is not ma.Schema.get_attribute
        or schema.dict_class is not dict
    ):
        return None
    steps = [_step(schema, name, field) for name, field in schema.dump_fields.items()]
    serialize = ma.Schema._serialize

    def dump_one(obj: Any) -> dict[str, Any]:
        if hasattr(obj, "__getitem__"):  # read by key first, then attribute: marshmallow's way
            result: dict[str, Any] = serialize(schema, obj)
            return result
        out: dict[str, Any] = {}
        for step in steps:
            step(obj, out)
        return out

    return dump_one
