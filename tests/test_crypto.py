"""server/crypto.py: encryption at rest, blind indexes, masking (ARCHITECTURE invariant 6)."""

from __future__ import annotations

import base64
import json
import re
import uuid

import pytest
from bson import ObjectId
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from server.config import load_settings
from server.crypto import CURRENT_KEY_ID, Cipher, mask_name, mask_phone, normalise_phone
from server.staff.service import PHONE_CONTEXT

KEY_1 = b"1" * 32
KEY_2 = b"2" * 32
BLIND_1 = b"b" * 32
BLIND_2 = b"c" * 32


def cipher(key: bytes = KEY_1, blind: bytes = BLIND_1) -> Cipher:
    return Cipher(keys={CURRENT_KEY_ID: key}, current=CURRENT_KEY_ID, blind_key=blind)


@hypothesis_settings(max_examples=50)
@given(st.text(max_size=200))
def test_round_trip(plaintext: str) -> None:
    c = cipher()
    token = c.encrypt(plaintext, context="reader.phone")
    assert c.decrypt(token, context="reader.phone") == plaintext


def test_ciphertext_names_its_key_and_hides_the_plaintext() -> None:
    token = cipher().encrypt("13812345678", context="staff.phone")
    key_id, _, body = token.partition(":")
    assert key_id == CURRENT_KEY_ID
    assert "13812345678" not in token and "5678" not in base64.b64decode(body).decode("latin-1")


def test_ciphertext_differs_each_time() -> None:
    c = cipher()
    tokens = {c.encrypt("13812345678", context="staff.phone") for _ in range(20)}
    assert len(tokens) == 20


def test_context_is_bound() -> None:
    c = cipher()
    token = c.encrypt("13812345678", context="staff.phone")
    with pytest.raises(InvalidTag):
        c.decrypt(token, context="reader.phone")


def test_wrong_key_fails() -> None:
    token = cipher(KEY_1).encrypt("120101199001011234", context="reader.id_number")
    with pytest.raises(InvalidTag):
        cipher(KEY_2).decrypt(token, context="reader.id_number")


def test_tampering_is_detected() -> None:
    c = cipher()
    token = c.encrypt("13812345678", context="staff.phone")
    key_id, _, body = token.partition(":")
    raw = bytearray(base64.b64decode(body))
    raw[-1] ^= 1
    with pytest.raises(InvalidTag):
        c.decrypt(f"{key_id}:{base64.b64encode(bytes(raw)).decode()}", context="staff.phone")


def test_old_ciphertexts_still_decrypt_after_a_new_key_is_added() -> None:
    old = cipher(KEY_1).encrypt("13812345678", context="staff.phone")
    rotated = Cipher(keys={"k1": KEY_1, "k2": KEY_2}, current="k2", blind_key=BLIND_1)
    assert rotated.decrypt(old, context="staff.phone") == "13812345678"
    new = rotated.encrypt("13812345678", context="staff.phone")
    assert new.startswith("k2:")
    assert rotated.decrypt(new, context="staff.phone") == "13812345678"


def test_blind_index_is_stable_and_keyed() -> None:
    a = cipher(blind=BLIND_1).blind_index("13812345678", context="reader.phone")
    assert a == cipher(blind=BLIND_1).blind_index("13812345678", context="reader.phone")
    assert re.fullmatch(r"[0-9a-f]{64}", a)
    assert "13812345678" not in a
    # Another key, another context or another value: another index.
    assert a != cipher(blind=BLIND_2).blind_index("13812345678", context="reader.phone")
    assert a != cipher(blind=BLIND_1).blind_index("13812345678", context="staff.phone")
    assert a != cipher(blind=BLIND_1).blind_index("13812345679", context="reader.phone")
    # The blind key is not the encryption key.
    assert cipher(KEY_2, BLIND_1).blind_index("x", context="c") == cipher(KEY_1, BLIND_1).blind_index("x", context="c")


def test_cipher_from_settings_uses_the_configured_keys() -> None:
    settings = load_settings({}, data_key=base64.b64encode(KEY_1).decode(),
                             blind_index_key=base64.b64encode(BLIND_1).decode())
    from_settings = Cipher.from_settings(settings)
    token = from_settings.encrypt("x", context="c")
    assert cipher().decrypt(token, context="c") == "x"
    assert from_settings.blind_index("x", context="c") == cipher().blind_index("x", context="c")


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+86 138-1234-5678", "138****5678"),
        ("8613812345678", "138****5678"),
        ("(022) 2869-1234", "022****1234"),
        ("12345", "*****"),
        ("", ""),
    ],
)
def test_mask_phone(raw: str, masked: str) -> None:
    assert mask_phone(raw) == masked


@given(st.from_regex(r"1[3-9]\d{9}", fullmatch=True))
def test_mask_phone_hides_the_middle_four(phone: str) -> None:
    masked = mask_phone(phone)
    assert masked == phone[:3] + "****" + phone[-4:]
    assert normalise_phone(masked) == phone[:3] + phone[-4:]


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张三", "张*"), ("王秀英", "王**"), ("欧阳娜娜", "欧***"), ("张", "张*"), ("", "")],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@given(st.text(min_size=2, max_size=20))
def test_mask_name_keeps_only_the_first_character(name: str) -> None:
    masked = mask_name(name)
    assert masked[0] == name[0] and set(masked[1:]) == {"*"} and len(masked) == len(name)


# -- personal data in the stored staff document ---------------------------------------------


async def test_staff_phone_is_encrypted_at_rest_and_masked_in_responses(client, as_role, deps) -> None:
    admin = as_role["district_admin"]
    phone = "13922334455"
    username = f"enc-{uuid.uuid4().hex[:8]}"
    response = await client.post("/api/v1/staff", headers=admin.headers, json={
        "username": username, "name": "测试员", "password": "correct horse battery", "role": "district_staff",
        "phone": phone,
    })
    assert response.status_code == 201, response.text
    assert response.json()["phone"] == "139****4455"
    assert phone not in response.text

    raw = await deps.db.staff.find_one({"_id": ObjectId(response.json()["id"])})
    assert raw is not None and "phone" not in raw
    dumped = json.dumps(raw, default=str, ensure_ascii=False)
    for fragment in (phone, phone[3:], phone[:7], "2233"):
        assert fragment not in dumped, fragment
    # It is the real phone, encrypted under the staff.phone context.
    assert deps.cipher.decrypt(raw["phone_enc"], context=PHONE_CONTEXT) == phone

    for path in (f"/api/v1/staff/{raw['_id']}", "/api/v1/staff?limit=200"):
        listed = await client.get(path, headers=admin.headers)
        assert listed.status_code == 200
        assert phone not in listed.text
    assert "139****4455" in (await client.get(f"/api/v1/staff/{raw['_id']}", headers=admin.headers)).text

    # The account's own view of itself is masked too.
    me = await client.post("/api/v1/auth/token", json={"username": username, "password": "correct horse battery"})
    assert me.status_code == 201
    assert me.json()["staff"]["phone"] == "139****4455" and phone not in me.text


async def test_room_administrators_phones_are_masked_on_rooms(client, as_role, deps) -> None:
    """A room lists its administrators; their phones appear only masked."""
    raw_admin = await deps.db.staff.find_one({"username": "jn-xsg-001"})
    assert raw_admin is not None
    phone = deps.cipher.decrypt(raw_admin["phone_enc"], context=PHONE_CONTEXT)
    response = await client.get("/api/v1/rooms/JN-XSG-001", headers=as_role["inspector"].headers)
    admins = response.json()["administrators"]
    assert [a["username"] for a in admins] == ["jn-xsg-001"]
    assert admins[0]["phone"] == mask_phone(phone)
    # The room's own public number is the room's, not the administrator's private one.
    assert phone not in json.dumps(admins, ensure_ascii=False)
