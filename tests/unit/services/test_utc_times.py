"""Vendor end times are instants only as ISO 8601 text with a stated offset; anything else reads as None."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_cloudflows.services.utc_times import epoch_seconds


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2019-01-01T01:01:01.001Z", 1546304461.001),  # CloudFlow
        ("2018-02-07T09:30:23Z", 1517995823.0),  # Tencent Batch
        ("2018-02-07T17:30:23+08:00", 1517995823.0),
        ("2018-02-07T09:30:23.123456Z", 1517995823.123456),
    ],
)
def test_iso_text_with_its_offset_is_the_instant_it_names(text: str, epoch: float) -> None:
    assert epoch_seconds(text) == pytest.approx(epoch, abs=1e-6)


@pytest.mark.parametrize(
    "value",
    [
        "2018-02-07T09:30:23",  # no zone: which instant is unknown
        "2018-02-07 09:30:23Z",
        "2018-02-07T09:30Z",
        "2018-02-30T00:00:00Z",
        "2018-02-07T09:30:23+99:00",
        "0000-01-01T00:00:00Z",
        "20180207T093023Z",
        " 2018-02-07T09:30:23Z",
        "",
        None,
        1517995823,
        1517995823.0,
        True,
        ["2018-02-07T09:30:23Z"],
    ],
)
def test_anything_else_reads_as_none(value: Any) -> None:
    assert epoch_seconds(value) is None
