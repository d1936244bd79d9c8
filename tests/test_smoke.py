from __future__ import annotations


async def test_readyz_and_rooms(client, as_role):
    assert (await client.get("/readyz")).json()["status"] == "ok"
    page = (await client.get("/api/v1/rooms", params={"limit": 200}, headers=as_role["inspector"].headers)).json()
    assert page["total"] == 110
