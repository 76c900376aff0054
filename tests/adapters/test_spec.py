"""What the NWDAF adapter sends and what the NWDAF simulator answers validate against the
official 3GPP TS 29.520 OpenAPI (../shared/specs/3gpp); the OAI bare-object form is accepted."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from aifabric.adapters.base import StreamFilters, StreamParams, build_config
from aifabric.adapters.nwdaf import ANALYTICS_PATH, SUBSCRIPTIONS_PATH, subscription_body
from tests.adapters.util import MemorySink
from tests.conftest import wait_for

EVENTS = "TS29520_Nnwdaf_EventsSubscription.yaml"
ANALYTICS = "TS29520_Nnwdaf_AnalyticsInfo.yaml"
PLMN = {"mcc": "001", "mnc": "01"}
NOW = datetime(2025, 10, 23, 12, 0, tzinfo=UTC)

CASES = [
    (["NUM_OF_UE"], StreamFilters()),
    (["NUM_OF_UE", "SESS_SUCC_RATIO"], StreamFilters(cells=["000000001", "000000002"], tais=["0001"])),
    (["UPLINK_VOL", "DOWNLINK_VOL"], StreamFilters(ue_groups=["00000001-001-01-01"], dnns=["internet"])),
    (["NF_CPU_USAGE", "NF_LOAD_LEVEL"], StreamFilters(nf_types=["AMF"], slices=["1-000001", "2"])),
]


@pytest.mark.parametrize(("metrics", "filters"), CASES)
def test_subscription_body_is_a_valid_NnwdafEventsSubscription(oas, metrics, filters):
    body = subscription_body(
        metrics, filters, 2, NOW, NOW + timedelta(minutes=5), "http://127.0.0.1:1/n", "c1", PLMN
    )
    oas.validate(EVENTS, "NnwdafEventsSubscription", body)
    sub = body["eventSubscriptions"][0]
    assert sub["repetitionPeriod"] == 2 and sub["notificationMethod"] == "PERIODIC"
    assert sub["extraReportReq"] == {"startTs": "2025-10-23T12:00:00Z", "endTs": "2025-10-23T12:05:00Z"}


def test_validator_catches_violations(oas):
    """A control: the validator is not vacuous."""
    assert oas.errors(EVENTS, "NnwdafEventsSubscription", {"notificationURI": "http://x"})
    bad_perf = {"event": "NETWORK_PERFORMANCE", "nwPerfs": [{"nwPerfType": "NUM_OF_UE", "absoluteNum": 3}]}
    assert any("networkArea" in e for e in oas.errors(EVENTS, "EventNotification", bad_perf))


def test_the_adapter_posts_a_valid_subscription(oas, nwdaf_sim):
    """The body that actually goes over the wire (captured by the simulator) is valid."""
    seen = []
    original = nwdaf_sim._create
    nwdaf_sim.server.routes = [r for r in nwdaf_sim.server.routes if r[:2] != ("POST", SUBSCRIPTIONS_PATH)]
    nwdaf_sim.server.route(
        "POST", SUBSCRIPTIONS_PATH, lambda req, rest: seen.append(req.body) or original(req, rest)
    )
    cls, cfg = build_config({"type": "nwdaf", "api_root": nwdaf_sim.url})
    params = StreamParams(stream_id="s", topic="t", metrics=["NUM_OF_UE", "UPLINK_VOL"], period_s=1)
    adapter = cls(cfg, params, MemorySink())
    adapter.start()
    try:
        wait_for(lambda: seen, what="the subscription POST")
    finally:
        adapter.stop()
    oas.validate(EVENTS, "NnwdafEventsSubscription", orjson.loads(seen[0]))


@pytest.mark.parametrize(
    "metrics", [["NUM_OF_UE", "SESS_SUCC_RATIO", "HO_SUCC_RATIO"], ["UPLINK_VOL"], ["NF_CPU_USAGE"]]
)
def test_simulator_notifications_validate(oas, nwdaf_sim, metrics):
    from aifabric.adapters.simulators.nwdaf_sim import _Subscription

    body = subscription_body(metrics, StreamFilters(), 1, NOW, None, "http://127.0.0.1:1/n", "c1", PLMN)
    sub = _Subscription("abc", body, int(time.time() * 1000))
    (array,) = nwdaf_sim.notification_bodies(sub, int(time.time() * 1000))
    assert isinstance(array, list) and array
    for notif in array:
        oas.validate(EVENTS, "NnwdafEventsSubscriptionNotification", notif)
    nwdaf_sim.form = "oai"
    bare = nwdaf_sim.notification_bodies(sub, int(time.time() * 1000))
    for event in bare:
        assert "subscriptionId" not in event
        oas.validate(EVENTS, "EventNotification", event)


@pytest.mark.parametrize(
    ("event", "event_filter"),
    [
        ("NETWORK_PERFORMANCE", {"nwPerfTypes": ["NUM_OF_UE", "SESS_SUCC_RATIO"]}),
        ("UE_COMMUNICATION", {"dnns": ["internet"]}),
        ("NF_LOAD", {"nfTypes": ["SMF"]}),
    ],
)
def test_simulator_analytics_responses_validate(oas, nwdaf_sim, event, event_filter):
    resp = httpx.get(
        nwdaf_sim.url + ANALYTICS_PATH,
        params={"event-id": event, "event-filter": orjson.dumps(event_filter).decode()},
    )
    assert resp.status_code == 200
    oas.validate(ANALYTICS, "AnalyticsData", resp.json())


def test_simulator_refuses_bad_requests_with_problem_details(oas, nwdaf_sim):
    resp = httpx.post(nwdaf_sim.url + SUBSCRIPTIONS_PATH, json={"notificationURI": "http://127.0.0.1:1/n"})
    assert resp.status_code == 400
    assert "eventSubscriptions" in resp.json()["detail"]
    oas.validate("TS29571_CommonData.yaml", "ProblemDetails", resp.json())
    assert httpx.get(nwdaf_sim.url + ANALYTICS_PATH).status_code == 400
    assert httpx.delete(nwdaf_sim.url + SUBSCRIPTIONS_PATH + "/nope").status_code == 404
