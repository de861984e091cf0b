"""Journey 1, find the service: anyone, signed in or not, reads the active stations and their
active areas (page and API); nothing about the people who work there; the page is light."""

from __future__ import annotations

import gzip
import re

from app.extensions import db
from app.org.models import Area, Station


def _deactivate(app, model, record_id) -> None:
    with app.app_context():
        db.session.get(model, record_id).active = False
        db.session.commit()


def test_anyone_reads_the_stations_and_areas_in_chinese(client, make):
    station = make.station()
    make.area(station)
    page = client.get("/m/", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "<h1>选择派出所</h1>" in text
    assert "测试派出所" in text and "测试社区" in text
    assert "上门前请准备" in text


def test_inactive_stations_and_areas_are_not_offered(client, make, app):
    open_station, closed_station = make.station(), make.station()
    kept, dropped = make.area(open_station, code="KEPT"), make.area(open_station, code="GONE")
    make.area(closed_station, code="SHUT")
    _deactivate(app, Area, dropped.id)
    _deactivate(app, Station, closed_station.id)
    listing = client.get("/api/v1/public/stations").get_json()
    codes = {(s["code"], a["code"]) for s in listing for a in s["areas"]}
    assert (open_station.code, "KEPT") in codes
    assert not {c for c in codes if c[1] in ("GONE", "SHUT")}
    assert kept.id  # the kept area is listed by its code above


def test_the_api_answers_a_citizen_where_areas_is_refused(client, make):
    station = make.station()
    area = make.area(station)
    citizen = make.user("citizen", phone="13912345678")
    headers = make.auth(citizen)
    assert client.get("/api/v1/areas", headers=headers).status_code == 403
    listing = client.get("/api/v1/public/stations", headers=headers).get_json()
    mine = next(s for s in listing if s["id"] == str(station.id))
    assert mine["areas"] == [{"id": str(area.id), "code": area.code, "name": "测试社区", "kind": "community"}]
    assert set(mine) == {"id", "code", "name", "areas"}  # no staff, no counts


def test_the_page_is_sent_with_the_kernels_security_headers(client):
    page = client.get("/m/")
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
    assert client.get("/m").status_code == 308


def test_the_page_with_its_assets_weighs_under_100_kb_compressed(client, make):
    station = make.station()
    for _ in range(5):
        make.area(station)
    html = client.get("/m/").get_data()
    total = len(gzip.compress(html))
    for url in re.findall(rb'(?:href|src)="(/[^"]+)"', html):
        asset = client.get(url.decode())
        assert asset.status_code == 200, url
        total += len(gzip.compress(asset.get_data()))
    print(f"\n/m/ with its assets: {total / 1024:.1f} kB gzip-compressed")
    assert total < 100 * 1024
