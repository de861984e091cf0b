"""Visit windows: the public availability, the weekly template, date exceptions."""

from __future__ import annotations

from app.auth.permissions import current_actor, public, requires
from app.headers import etag_of, etagged, locates
from appointments.blueprint import blp
from appointments.windows import services as windows
from appointments.windows.schemas import (
    DayAvailabilityOut,
    ExceptionArgs,
    ExceptionIn,
    ExceptionOut,
    SlotArgs,
    TemplateIn,
    TemplateWindowOut,
)


def _template_tag(*, lock: bool, area_id, **_):
    return etag_of(windows.template_version(current_actor(), area_id, lock=lock))


@blp.route("/slots", methods=["GET"])
@public
@blp.arguments(SlotArgs, location="query")
@blp.response(200, DayAvailabilityOut(many=True))
def slots(args):
    """Public availability of an area's visit windows, day by day (no personal data)"""
    return windows.availability(args["area_id"], args["from_"], args["to"])


@blp.route("/areas/<uuid:area_id>/window-template", methods=["GET"])
@requires("window.manage")
@blp.response(200, TemplateWindowOut(many=True))
@etagged(_template_tag)
def get_template(area_id):
    """The area's weekly visit windows"""
    return windows.template_of(current_actor(), area_id)


@blp.route("/areas/<uuid:area_id>/window-template", methods=["PUT"])
@requires("window.manage")
@blp.arguments(TemplateIn)
@blp.response(200, TemplateWindowOut(many=True))
@etagged(_template_tag, edit=True)
def put_template(body, area_id):
    """Replace the area's weekly visit windows"""
    return windows.replace_template(current_actor(), area_id, body["windows"])


@blp.route("/areas/<uuid:area_id>/window-exceptions", methods=["GET"])
@requires("window.manage")
@blp.arguments(ExceptionArgs, location="query")
@blp.response(200, ExceptionOut(many=True))
def list_exceptions(args, area_id):
    """Date exceptions of the area between two dates"""
    return windows.exceptions_of(current_actor(), area_id, args["from_"], args["to"])


@blp.route("/areas/<uuid:area_id>/window-exceptions", methods=["POST"])
@requires("window.manage")
@blp.arguments(ExceptionIn)
@blp.response(201, ExceptionOut)
@locates("appointments.remove_exception", area_id="area_id", exception_id="id")
def add_exception(body, area_id):
    """Close a day or a window, or open an extra window or another capacity on a date"""
    return windows.add_exception(current_actor(), area_id, body)


@blp.route("/areas/<uuid:area_id>/window-exceptions/<uuid:exception_id>", methods=["DELETE"])
@requires("window.manage")
@blp.response(204)
def remove_exception(area_id, exception_id):
    """Withdraw a date exception"""
    windows.remove_exception(current_actor(), area_id, exception_id)
