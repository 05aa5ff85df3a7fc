"""Tencent request bodies: encoded once per parameter set, yet exactly the parameters of each call."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_cloudflows.credentials import Credentials
from airflow_provider_cloudflows.transport.tencent import TencentApi, TencentCall


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # Equal and hashing alike in Python, different on the wire.
        ({"FlowId": 1}, b'{"FlowId":1}'),
        ({"FlowId": True}, b'{"FlowId":true}'),
        ({"FlowId": 1.0}, b'{"FlowId":1.0}'),
        ({"FlowId": "1"}, b'{"FlowId":"1"}'),
        ({"FlowId": -0.0}, b'{"FlowId":-0.0}'),
        ({"FlowId": 0.0}, b'{"FlowId":0.0}'),
        ({"FlowId": (1,)}, b'{"FlowId":[1]}'),
        ({"FlowId": (True,)}, b'{"FlowId":[true]}'),
        ({"FlowId": None}, b'{"FlowId":null}'),
        # Nested (unhashable) values are encoded on every call.
        ({"JobId": "job-1", "Filters": [{"Name": "x"}]}, b'{"JobId":"job-1","Filters":[{"Name":"x"}]}'),
        ({"Name": "\u4efb\u52a1"}, '{"Name":"\u4efb\u52a1"}'.encode()),
    ],
)
def test_each_call_sends_its_own_parameters(params: dict[str, Any], expected: bytes) -> None:
    api = TencentApi(
        Credentials("AKIDbodies", "secret"), region="ap-guangzhou", endpoint="https://{service}.tencentcloudapi.com"
    )
    for _ in range(2):  # the second request comes from the cache
        for other in ({"FlowId": 1}, {"FlowId": True}, {"FlowId": 1.0}, {"FlowId": 0.0}, {"FlowId": (1,)}):
            api.prepare(TencentCall("cynosdb", "DescribeFlow", "2019-01-07", other), 1_764_557_000.0)
        request = api.prepare(TencentCall("cynosdb", "DescribeFlow", "2019-01-07", params), 1_764_557_000.0)
        assert request.content == expected
        assert json.loads(request.content) == json.loads(json.dumps(params))
