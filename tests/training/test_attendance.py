"""The rotating attendance code (training/courses/attendance.py): pure, clock passed in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from training.courses.attendance import (
    GRACE_SECS,
    Verdict,
    code_mac,
    make_code,
    new_secret,
    parse_code,
    verify_code,
)

SID = "65f0c0ffee0000000000abcd"
OTHER_SID = "65f0c0ffee0000000000dcba"
SECRET = "s3cret-for-tests"
STEP = 30
T0 = 1_780_000_020.0  # the start of a step (divisible by 30)


def check(text: str, now: float, secret: str = SECRET, step: int = STEP) -> Verdict:
    parsed = parse_code(text)
    assert parsed is not None, text
    return verify_code(parsed, secret, now, step)


def test_code_format() -> None:
    code = make_code(SECRET, SID, T0 + 7, STEP)
    prefix, sid, step, mac = code.text.split(".")
    assert (prefix, sid, int(step)) == ("SWPX1", SID, int(T0 // STEP))
    assert len(mac) == 16 and mac == code_mac(SECRET, SID, code.step)
    assert code.expires_in == 23


def test_current_code_is_accepted() -> None:
    code = make_code(SECRET, SID, T0, STEP).text
    for now in (T0, T0 + 1, T0 + 29.999):
        assert check(code, now) is Verdict.OK


def test_previous_step_is_accepted_within_the_grace_only() -> None:
    code = make_code(SECRET, SID, T0 + 10, STEP).text
    assert check(code, T0 + STEP + 0.1) is Verdict.OK  # the QR just changed
    assert check(code, T0 + STEP + GRACE_SECS - 0.01) is Verdict.OK
    assert check(code, T0 + STEP + GRACE_SECS) is Verdict.STALE
    assert check(code, T0 + STEP + 20) is Verdict.STALE


def test_far_old_code_is_stale() -> None:
    screenshot = make_code(SECRET, SID, T0 - 3600, STEP).text
    assert check(screenshot, T0) is Verdict.STALE


def test_code_from_the_future_is_refused() -> None:
    ahead = make_code(SECRET, SID, T0 + STEP, STEP).text
    assert check(ahead, T0 + 5) is Verdict.EARLY


def test_another_sessions_code_does_not_verify_with_this_secret() -> None:
    theirs = make_code("another-secret", OTHER_SID, T0, STEP).text
    assert check(theirs, T0) is Verdict.INVALID
    # Pasting this session's id into the other's code does not make it ours either.
    forged = theirs.replace(OTHER_SID, SID)
    assert check(forged, T0) is Verdict.INVALID


def test_tampered_mac_or_step_is_refused() -> None:
    code = make_code(SECRET, SID, T0, STEP).text
    prefix, sid, step, mac = code.split(".")
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]
    assert check(f"{prefix}.{sid}.{step}.{flipped}", T0) is Verdict.INVALID
    assert check(f"{prefix}.{sid}.{int(step) + 1}.{mac}", T0 + STEP) is Verdict.INVALID


def test_parse_refuses_what_is_not_a_code_and_forgives_case_and_spaces() -> None:
    for text in ("", "hello", "SWPX1.x.1.AAAAAAAAAAAAAAAA", "SWPX2." + SID + ".1.AAAAAAAAAAAAAAAA",
                 "SWPX1." + SID + ".-1.AAAAAAAAAAAAAAAA", "SWPX1." + SID + ".1.AAAA", "x" * 500):
        assert parse_code(text) is None, text
    code = make_code(SECRET, SID, T0, STEP).text
    assert parse_code(f"  {code}\n") == parse_code(code)
    assert check(code.lower(), T0) is Verdict.OK


def test_secrets_are_random_and_long() -> None:
    assert len({new_secret() for _ in range(50)}) == 50
    assert len(new_secret()) >= 40


@given(made_at=st.floats(min_value=1e9, max_value=4e9, allow_nan=False),
       now=st.floats(min_value=1e9, max_value=4e9, allow_nan=False),
       step=st.sampled_from([10, 30, 60, 300]))
def test_a_code_verifies_exactly_within_its_window(made_at: float, now: float, step: int) -> None:
    code = make_code(SECRET, SID, made_at, step)
    s = code.step
    expected = s * step <= now < (s + 1) * step + GRACE_SECS
    assert (check(code.text, now, step=step) is Verdict.OK) == expected


@given(offset=st.floats(min_value=0, max_value=29.999), step_no=st.integers(min_value=40_000_000, max_value=100_000_000))
def test_at_any_moment_the_code_shown_is_valid(offset: float, step_no: int) -> None:
    now = step_no * STEP + offset
    code = make_code(SECRET, SID, now, STEP)
    assert check(code.text, now) is Verdict.OK
    assert 0 < code.expires_in <= STEP
