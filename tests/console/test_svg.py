"""The sak page's pictures: what each bar and mark means, and nothing unescaped in them."""

from __future__ import annotations

from helved.console import svg


def u(uid: str, action: str, *perioder: tuple[str, str]) -> dict:
    return {
        "uid": uid,
        "stønad": "DAGPENGER",
        "action": action,
        "perioder": [{"fom": f, "tom": t, "beløp": 100} for f, t in perioder],
    }


def test_days_no_longer_confirmed_are_drawn_stopped_and_pending_as_pending() -> None:
    shortened = {
        "uid": "a",
        "confirmed": u("a", "UPDATE", ("2025-08-04", "2025-08-06")),
        "pending": None,
        "wasConfirmed": u("a", "CREATE", ("2025-08-04", "2025-08-08"))["perioder"]
        + u("a", "UPDATE", ("2025-08-04", "2025-08-06"))["perioder"],
    }
    stopped = {
        "uid": "b",
        "confirmed": u("b", "DELETE"),
        "pending": None,
        "wasConfirmed": u("b", "CREATE", ("2025-08-18", "2025-08-22"))["perioder"],
    }
    waiting = {
        "uid": "c",
        "confirmed": None,
        "pending": u("c", "CREATE", ("2025-09-01", "2025-09-05")),
        "wasConfirmed": [],
    }
    rows = {r["uid"]: r["bars"] for r in svg.bars([stopped, waiting, shortened])}
    assert [(b[0], str(b[1]), str(b[2])) for b in rows["a"]] == [
        ("confirmed", "2025-08-04", "2025-08-06"),
        ("stopped", "2025-08-07", "2025-08-08"),
    ]
    assert [(b[0], str(b[1]), str(b[2])) for b in rows["b"]] == [("stopped", "2025-08-18", "2025-08-22")]
    assert [b[0] for b in rows["c"]] == ["pending"]
    picture = svg.periods([stopped, waiting, shortened])
    assert picture.count('class="bar confirmed"') == 1 and picture.count('class="bar stopped"') == 2
    assert picture.count('class="bar pending"') == 1


def test_text_in_the_pictures_is_escaped_and_idents_masked() -> None:
    request = {"originalKey": "<script>12345678910</script>", "request": {"timestamp": 0, "code": None},
               "oppdrag": [], "statuses": [{"status": "FEILET", "timestamp": 0}], "final": "FEILET"}  # fmt: skip
    picture = svg.timeline([request])
    assert "<script>" not in picture and "12345678910" not in picture and "123456*****" in picture
    assert svg.periods([]).count("No utbetalinger") == 1
