"""Refresh tokens: rotated on every use, a reused one kills its whole family, exactly one of
many concurrent uses wins, and log-out ends the login."""

from __future__ import annotations

import sqlalchemy as sa

from app.auth.models import RefreshToken
from app.extensions import db
from app.org.models import User
from tests.app.auth.helpers import bearer, in_parallel, shift_back
from tests.problems import assert_problem

REFRESH, LOGOUT, ME = "/api/v1/auth/refresh", "/api/v1/auth/logout", "/api/v1/me"


def refresh(client, token):
    return client.post(REFRESH, json={"refresh_token": token})


def family_rows(app, user_id):
    with app.app_context():
        return (
            db.session.execute(
                sa.select(RefreshToken).where(RefreshToken.user_id == user_id).order_by(RefreshToken.issued_at)
            )
            .scalars()
            .all()
        )


def test_refresh_rotates_and_the_old_token_stops_working(app, client, make, world):
    user = world.officer[0]
    first = make.tokens(user)
    r = refresh(client, first["refresh_token"])
    assert r.status_code == 200, r.json
    second = r.json
    assert second["token_type"] == "Bearer" and second["expires_in"] == 900
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert client.get(ME, headers=bearer(second["access_token"])).json["id"] == str(user.id)
    assert_problem(refresh(client, first["refresh_token"]), 401)
    rows = family_rows(app, user.id)
    assert len({r.family_id for r in rows}) == 1 and len(rows) == 2


def test_refresh_tokens_are_stored_only_as_hashes(app, make, world):
    token = make.tokens(world.staff[0])["refresh_token"]
    with app.app_context():
        for (value,) in db.session.execute(sa.select(RefreshToken.token_hash)):
            assert token not in value and len(value) == 64


def test_reuse_of_a_rotated_token_kills_the_family(app, client, make, world):
    user = world.officer[0]
    stolen = make.tokens(user)["refresh_token"]
    newest = refresh(client, stolen).json["refresh_token"]  # the legitimate holder rotates
    newest = refresh(client, newest).json["refresh_token"]  # …and again
    other_login = make.tokens(user)["refresh_token"]  # a separate login (another family)

    assert_problem(refresh(client, stolen), 401, "refresh-token-reused")
    assert_problem(refresh(client, newest), 401)  # the newest link is dead too
    rows = family_rows(app, user.id)
    family = rows[0].family_id
    assert all(r.revoked_at is not None for r in rows if r.family_id == family)
    assert refresh(client, other_login).status_code == 200  # other logins are untouched


def test_refresh_token_reuse_after_family_revocation_stays_refused(client, make, world):
    token = make.tokens(world.staff[0])["refresh_token"]
    refresh(client, token)
    assert_problem(refresh(client, token), 401, "refresh-token-reused")
    assert_problem(refresh(client, token), 401)


def test_concurrent_refresh_of_one_token_has_exactly_one_winner(app, make, world):
    for _ in range(3):
        token = make.tokens(world.officer[0])["refresh_token"]
        results = in_parallel(app, 8, lambda c, i, token=token: refresh(c, token))
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200] + [401] * 7, statuses
        for r in results:
            if r.status_code == 401:
                assert_problem(r, 401)
        with app.app_context():
            from app.auth.tokens import _hash_refresh

            family = db.session.execute(
                sa.select(RefreshToken.family_id).where(RefreshToken.token_hash == _hash_refresh(token))
            ).scalar_one()
            links = db.session.execute(sa.select(RefreshToken).where(RefreshToken.family_id == family)).scalars().all()
            assert len(links) == 2, "only the winner was issued a new refresh token"
            assert sum(1 for t in links if t.used_at is not None) == 1


def test_unknown_garbage_and_access_tokens_are_not_refresh_tokens(client, make, world):
    pair = make.tokens(world.staff[0])
    for token in ("x", "A" * 43, pair["access_token"][:200]):
        assert_problem(refresh(client, token), 401)
    assert_problem(client.post(REFRESH, json={}), 422, field="refresh_token")
    assert_problem(client.post(REFRESH, json={"refresh_token": "x" * 201}), 422, field="refresh_token")


def test_expired_refresh_token_is_refused(app, client, make, world):
    user = world.staff[0]
    token = make.tokens(user)["refresh_token"]
    shift_back(app, RefreshToken, 30 * 86400 + 1, "issued_at", "expires_at", user_id=user.id)
    assert_problem(refresh(client, token), 401)


def test_refresh_of_a_deactivated_user_fails_and_revokes(app, client, make, world):
    user = world.officer[0]
    token = make.tokens(user)["refresh_token"]
    with app.app_context():
        db.session.execute(sa.update(User).where(User.id == user.id).values(active=False))
        db.session.commit()
    assert_problem(refresh(client, token), 401)
    with app.app_context():
        db.session.execute(sa.update(User).where(User.id == user.id).values(active=True))
        db.session.commit()
    assert_problem(refresh(client, token), 401)  # re-activating does not revive the old login
    assert all(r.revoked_at is not None for r in family_rows(app, user.id))


def test_deactivation_through_the_api_revokes_refresh_tokens(client, make, world):
    user = world.officer[0]
    token = make.tokens(user)["refresh_token"]
    r = client.patch(f"/api/v1/users/{user.id}", json={"active": False}, headers=make.auth(world.staff[0]))
    assert r.status_code == 200, r.json
    assert_problem(refresh(client, token), 401)


def test_role_change_is_carried_into_refreshed_tokens(app, client, make, world):
    user = world.officer[0]
    pair = make.tokens(user)
    with app.app_context():
        db.session.execute(sa.update(User).where(User.id == user.id).values(role="auxiliary"))
        db.session.commit()
    assert_problem(client.get(ME, headers=bearer(pair["access_token"])), 401)
    r = refresh(client, pair["refresh_token"])
    assert r.status_code == 200
    assert client.get(ME, headers=bearer(r.json["access_token"])).json["role"] == "auxiliary"


def test_logout_revokes_the_family(app, client, make, world):
    user = world.staff[0]
    first = make.tokens(user)["refresh_token"]
    current = refresh(client, first).json["refresh_token"]
    other = make.tokens(user)["refresh_token"]
    r = client.post(LOGOUT, json={"refresh_token": current})
    assert r.status_code == 204 and r.get_data() == b""
    assert_problem(refresh(client, current), 401)
    assert_problem(refresh(client, first), 401)
    assert refresh(client, other).status_code == 200  # only this login ends
    with app.app_context():
        from app.audit.models import AuditEvent

        assert db.session.execute(sa.select(sa.func.count()).where(AuditEvent.action == "auth.logout")).scalar() == 1


def test_logout_ends_the_access_tokens_of_that_login_at_once(client, make, world):
    user = world.staff[0]
    pair = make.tokens(user)
    rotated = refresh(client, pair["refresh_token"]).json
    other = make.tokens(user)
    for token in (pair["access_token"], rotated["access_token"], other["access_token"]):
        assert client.get(ME, headers=bearer(token)).status_code == 200
    assert client.post(LOGOUT, json={"refresh_token": rotated["refresh_token"]}).status_code == 204
    for token in (pair["access_token"], rotated["access_token"]):
        resp = client.get(ME, headers=bearer(token))
        assert_problem(resp, 401)
        assert resp.json["type"].endswith("/token-revoked")
    assert client.get(ME, headers=bearer(other["access_token"])).status_code == 200  # another login goes on


def test_logout_with_an_unknown_token_reveals_nothing(client, world):
    r = client.post(LOGOUT, json={"refresh_token": "never-issued"})
    assert r.status_code == 204
