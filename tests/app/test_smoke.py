def test_health_and_login(client, world, make):
    assert client.get("/healthz").json == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200, r.json
    headers = make.auth(world.staff[0])
    r = client.get("/api/v1/me", headers=headers)
    assert r.status_code == 200, r.json
    assert r.json["role"] == "staff"
