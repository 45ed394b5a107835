"""``/ask``: the evaluation set of questions with the query each should become, and answers checked
against the marts.

Each question below was written with its expected query before the rules of
``metrics_api/ask/interpret.py`` were tuned, in the words an operations team uses; the set's
accuracy (questions whose whole intent matches: kind, metrics, group-by, filters, window,
comparison, order, limit, breakdown) is printed and must stay at 90% or more. "Today" is the
sample warehouse's last day, 2026-01-14 (a Wednesday; weeks start on Monday).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from metrics_api.app import create_app
from metrics_api.ask import Asker, NotUnderstood
from metrics_api.ask.interpret import VALUE_DIMENSIONS, load_vocabulary
from metrics_api.service import MetricsService
from metrics_api.settings import ApiSettings
from tests.api_support import LAST_DAY, api_env, sample_warehouse  # noqa: F401 - fixture

TODAY, YESTERDAY, DAY_BEFORE = "2026-01-14", "2026-01-13", "2026-01-12"
THIS_WEEK = ("2026-01-12", TODAY)
LAST_WEEK = ("2026-01-05", "2026-01-11")
WEEK_BEFORE = ("2025-12-29", "2026-01-04")
THIS_MONTH = ("2026-01-01", TODAY)
LAST_MONTH = ("2025-12-01", "2025-12-31")
LAST_7 = ("2026-01-08", TODAY)
LAST_14 = ("2026-01-01", TODAY)


def q(metrics, window=None, kind="value", group_by=(), filters=(), order_by=(), limit=None,
      compare=None, breakdown=()):  # fmt: skip
    return {
        "kind": kind,
        "metrics": list(metrics),
        "group_by": list(group_by),
        "filters": sorted(filters),
        "window": tuple(window) if window else None,
        "compare": tuple(compare) if compare else None,
        "order_by": list(order_by),
        "limit": limit,
        "breakdown": list(breakdown),
    }


CARRIER, STATE = "carrier__carrier_name", "shipment__destination_state"
CHANNEL, CATEGORY = "order__channel", "product_version__product_category"
FACILITY, WEATHER = "facility__facility_name", "shipment__destination_weather_condition"
CUSTOMER_STATE, SEGMENT = "customer_version__customer_state", "customer_version__segment"

QUESTIONS: list[tuple[str, dict]] = [
    # a value
    ("What was revenue yesterday?", q(["net_revenue"], (YESTERDAY, YESTERDAY))),
    ("How many orders did we get today?", q(["orders"], (TODAY, TODAY))),
    ("total net revenue last week", q(["net_revenue"], LAST_WEEK)),
    ("What is the on-time rate this month?", q(["on_time_rate"], THIS_MONTH)),
    ("defect rate last 7 days", q(["defect_rate"], LAST_7)),
    ("How much waste did we produce last week?", q(["waste_kg"], LAST_WEEK)),
    ("average order value in January", q(["average_order_value"], ("2026-01-01", "2026-01-31"))),
    ("return rate this month", q(["return_rate"], THIS_MONTH)),
    (
        "How many shipments were delivered yesterday?",
        q(["delivered_shipments"], (YESTERDAY, YESTERDAY)),
    ),
    ("cancellation rate last month", q(["cancellation_rate"], LAST_MONTH)),
    ("gross revenue since 2026-01-05", q(["gross_revenue"], ("2026-01-05", TODAY))),
    ("units sold between 2026-01-03 and 2026-01-09", q(["units"], ("2026-01-03", "2026-01-09"))),
    ("average rating last week", q(["average_rating"], LAST_WEEK)),
    ("recycled share this week", q(["recycled_share"], THIS_WEEK)),
    ("first pass yield over the last 14 days", q(["first_pass_yield"], LAST_14)),
    ("How many returns were requested this week?", q(["returns"], THIS_WEEK)),
    ("refunds last month", q(["refunds"], LAST_MONTH)),
    ("total discounts on 2026-01-10", q(["discounts"], ("2026-01-10", "2026-01-10"))),
    ("orders on January 9", q(["orders"], ("2026-01-09", "2026-01-09"))),
    ("waste cost and waste this month", q(["waste_cost", "waste_kg"], THIS_MONTH)),
    # a value, filtered
    ("revenue in Texas last week", q(["net_revenue"], LAST_WEEK, filters=[(CUSTOMER_STATE, "TX")])),
    (
        "on-time rate in California this month",
        q(["on_time_rate"], THIS_MONTH, filters=[(STATE, "CA")]),
    ),
    (
        "orders from the web channel yesterday",
        q(["orders"], (YESTERDAY, YESTERDAY), filters=[(CHANNEL, "web")]),
    ),
    (
        "on-time rate for SwiftParcel last week",
        q(["on_time_rate"], LAST_WEEK, filters=[(CARRIER, "SwiftParcel")]),
    ),
    (
        "defect rate at Dallas Fabrication this month",
        q(["defect_rate"], THIS_MONTH, filters=[(FACILITY, "Dallas Fabrication")]),
    ),
    (
        "revenue from kitchen products last 7 days",
        q(["net_revenue"], LAST_7, filters=[(CATEGORY, "kitchen")]),
    ),
    (
        "revenue from premium customers this month",
        q(["net_revenue"], THIS_MONTH, filters=[(SEGMENT, "premium")]),
    ),
    (
        "waste at Reno Assembly last week",
        q(["waste_kg"], LAST_WEEK, filters=[(FACILITY, "Reno Assembly")]),
    ),
    (
        "returns because of damaged items last month",
        q(["returns"], LAST_MONTH, filters=[("return__reason", "damaged")]),
    ),
    ("on-time rate in snow", q(["on_time_rate"], filters=[(WEATHER, "snow")])),
    (
        "orders on the marketplace channel last week",
        q(["orders"], LAST_WEEK, filters=[(CHANNEL, "marketplace")]),
    ),
    (
        "on-time rate of express carriers last week",
        q(["on_time_rate"], LAST_WEEK, filters=[("carrier__service_level", "express")]),
    ),
    (
        "orders from the mobile app in TX this week",
        q(["orders"], THIS_WEEK, filters=[(CHANNEL, "mobile_app"), (CUSTOMER_STATE, "TX")]),
    ),
    # grouped
    (
        "revenue by channel last week",
        q(["net_revenue"], LAST_WEEK, "group", [CHANNEL], order_by=["-net_revenue"]),
    ),
    (
        "on-time rate by carrier this month",
        q(["on_time_rate"], THIS_MONTH, "group", [CARRIER], order_by=["-on_time_rate"]),
    ),
    (
        "defect rate by facility",
        q(["defect_rate"], None, "group", [FACILITY], order_by=["-defect_rate"]),
    ),
    (
        "return rate by category last month",
        q(["return_rate"], LAST_MONTH, "group", [CATEGORY], order_by=["-return_rate"]),
    ),
    (
        "orders by state yesterday",
        q(["orders"], (YESTERDAY, YESTERDAY), "group", [CUSTOMER_STATE], order_by=["-orders"]),
    ),
    (
        "waste by waste type this month",
        q(["waste_kg"], THIS_MONTH, "group", ["waste_event__waste_type"], order_by=["-waste_kg"]),
    ),
    (
        "shipments by weather last week",
        q(["shipments"], LAST_WEEK, "group", [WEATHER], order_by=["-shipments"]),
    ),
    (
        "revenue by segment and channel this week",
        q(["net_revenue"], THIS_WEEK, "group", [SEGMENT, CHANNEL], order_by=["-net_revenue"]),
    ),
    ("returns by reason", q(["returns"], None, "group", ["return__reason"], order_by=["-returns"])),
    (
        "on-time rate by carrier and state last week",
        q(["on_time_rate"], LAST_WEEK, "group", [CARRIER, STATE], order_by=["-on_time_rate"]),
    ),
    (
        "average rating per carrier",
        q(["average_rating"], None, "group", [CARRIER], order_by=["-average_rating"]),
    ),
    (
        "refunds for each reason this month",
        q(["refunds"], THIS_MONTH, "group", ["return__reason"], order_by=["-refunds"]),
    ),
    # over time
    (
        "daily revenue last 7 days",
        q(["net_revenue"], LAST_7, "trend", ["metric_time__day"], order_by=["metric_time__day"]),
    ),
    (
        "weekly orders this month",
        q(["orders"], THIS_MONTH, "trend", ["metric_time__week"], order_by=["metric_time__week"]),
    ),
    (
        "revenue by week",
        q(["net_revenue"], None, "trend", ["metric_time__week"], order_by=["metric_time__week"]),
    ),
    (
        "on-time rate by day last week",
        q(
            ["on_time_rate"],
            LAST_WEEK,
            "trend",
            ["metric_time__day"],
            order_by=["metric_time__day"],
        ),
    ),
    (
        "monthly net revenue",
        q(["net_revenue"], None, "trend", ["metric_time__month"], order_by=["metric_time__month"]),
    ),
    (
        "orders per day by channel this week",
        q(
            ["orders"],
            THIS_WEEK,
            "trend",
            ["metric_time__day", CHANNEL],
            order_by=["metric_time__day"],
        ),
    ),
    (
        "trend of defect rate over the last 14 days",
        q(["defect_rate"], LAST_14, "trend", ["metric_time__day"], order_by=["metric_time__day"]),
    ),
    (
        "cumulative revenue by day this month",
        q(
            ["cumulative_net_revenue"],
            THIS_MONTH,
            "trend",
            ["metric_time__day"],
            order_by=["metric_time__day"],
        ),
    ),
    # rankings
    (
        "top 5 products by revenue last month",
        q(
            ["net_revenue"],
            LAST_MONTH,
            "top",
            ["product_version__product_name"],
            order_by=["-net_revenue"],
            limit=5,
        ),
    ),
    (
        "top 3 carriers by on-time rate this month",
        q(["on_time_rate"], THIS_MONTH, "top", [CARRIER], order_by=["-on_time_rate"], limit=3),
    ),
    (
        "which carrier had the lowest on-time rate last week",
        q(["on_time_rate"], LAST_WEEK, "top", [CARRIER], order_by=["on_time_rate"], limit=1),
    ),
    (
        "worst 3 states for on-time rate",
        q(["on_time_rate"], None, "top", [STATE], order_by=["on_time_rate"], limit=3),
    ),
    (
        "which facility has the highest defect rate",
        q(["defect_rate"], None, "top", [FACILITY], order_by=["-defect_rate"], limit=1),
    ),
    (
        "bottom 5 categories by units sold this month",
        q(["units"], THIS_MONTH, "top", [CATEGORY], order_by=["units"], limit=5),
    ),
    (
        "best channel by revenue yesterday",
        q(
            ["net_revenue"],
            (YESTERDAY, YESTERDAY),
            "top",
            [CHANNEL],
            order_by=["-net_revenue"],
            limit=1,
        ),
    ),
    (
        "top 10 states by orders",
        q(["orders"], None, "top", [CUSTOMER_STATE], order_by=["-orders"], limit=10),
    ),
    (
        "worst facility for defect rate this month",
        q(["defect_rate"], THIS_MONTH, "top", [FACILITY], order_by=["-defect_rate"], limit=1),
    ),
    # comparisons
    ("revenue this week vs last week", q(["net_revenue"], THIS_WEEK, "compare", compare=LAST_WEEK)),
    (
        "orders yesterday compared to the day before",
        q(["orders"], (YESTERDAY, YESTERDAY), "compare", compare=(DAY_BEFORE, DAY_BEFORE)),
    ),
    (
        "on-time rate last week vs the week before",
        q(["on_time_rate"], LAST_WEEK, "compare", compare=WEEK_BEFORE),
    ),
    (
        "how did the defect rate change week over week",
        q(["defect_rate"], LAST_WEEK, "compare", compare=WEEK_BEFORE),
    ),
    (
        "revenue by channel this month vs last month",
        q(
            ["net_revenue"],
            THIS_MONTH,
            "compare",
            [CHANNEL],
            order_by=["-net_revenue"],
            compare=LAST_MONTH,
        ),
    ),
    (
        "returns today versus yesterday",
        q(["returns"], (TODAY, TODAY), "compare", compare=(YESTERDAY, YESTERDAY)),
    ),
    # why
    (
        "why were deliveries late in Texas last week?",
        q(
            ["on_time_rate"],
            LAST_WEEK,
            "why",
            filters=[(STATE, "TX")],
            compare=WEEK_BEFORE,
            breakdown=[CARRIER, WEATHER],
        ),
    ),
    (
        "why did revenue drop yesterday?",
        q(
            ["net_revenue"],
            (YESTERDAY, YESTERDAY),
            "why",
            compare=(DAY_BEFORE, DAY_BEFORE),
            breakdown=[CHANNEL, CATEGORY],
        ),
    ),
    (
        "why is the defect rate high this month?",
        q(
            ["defect_rate"],
            THIS_MONTH,
            "why",
            compare=LAST_MONTH,
            breakdown=[FACILITY, "inspection__result"],
        ),
    ),
    (
        "why were returns up last week",
        q(
            ["returns"],
            LAST_WEEK,
            "why",
            compare=WEEK_BEFORE,
            breakdown=["return__reason", CATEGORY],
        ),
    ),
    (
        "why did the on-time rate fall for SwiftParcel this week",
        q(
            ["on_time_rate"],
            THIS_WEEK,
            "why",
            filters=[(CARRIER, "SwiftParcel")],
            compare=LAST_WEEK,
            breakdown=[WEATHER, STATE],
        ),
    ),
    (
        "what explains the waste at Atlanta Works last week",
        q(
            ["waste_kg"],
            LAST_WEEK,
            "why",
            filters=[(FACILITY, "Atlanta Works")],
            compare=WEEK_BEFORE,
            breakdown=["waste_event__waste_type"],
        ),
    ),
]

# Written after the rules were tuned on the set above, and left as they were: a check of how the
# rules read questions they were not tuned on (the accuracy of both is printed).
HELD_OUT: list[tuple[str, dict]] = [
    ("How many parcels did we ship last week?", q(["shipments"], LAST_WEEK)),
    (
        "What's the average delay for BudgetShip this month?",
        q(["avg_days_late"], THIS_MONTH, filters=[(CARRIER, "BudgetShip")]),
    ),
    (
        "revenue per category yesterday",
        q(["net_revenue"], (YESTERDAY, YESTERDAY), "group", [CATEGORY], order_by=["-net_revenue"]),
    ),
    (
        "show weekly defect rate by facility",
        q(
            ["defect_rate"],
            None,
            "trend",
            ["metric_time__week", FACILITY],
            order_by=["metric_time__week"],
        ),
    ),
    (
        "which segment brought the most revenue this month",
        q(["net_revenue"], THIS_MONTH, "top", [SEGMENT], order_by=["-net_revenue"], limit=1),
    ),
    (
        "top 3 reasons for returns last month",
        q(["returns"], LAST_MONTH, "top", ["return__reason"], order_by=["-returns"], limit=3),
    ),
    (
        "units sold by channel today",
        q(["units"], (TODAY, TODAY), "group", [CHANNEL], order_by=["-units"]),
    ),
    (
        "refund amount in Florida last week",
        q(["refunds"], LAST_WEEK, filters=[("order__customer_version__customer_state", "FL")]),
    ),
    ("net revenue after refunds last week", q(["net_revenue_after_refunds"], LAST_WEEK)),
    (
        "compare orders this week with last week",
        q(["orders"], THIS_WEEK, "compare", compare=LAST_WEEK),
    ),
    ("storm on-time rate last 7 days", q(["on_time_rate"], LAST_7, filters=[(WEATHER, "storm")])),
    (
        "Gross sales by month",
        q(
            ["gross_revenue"],
            None,
            "trend",
            ["metric_time__month"],
            order_by=["metric_time__month"],
        ),
    ),
    (
        "What is our first-pass yield at Columbus Works?",
        q(["first_pass_yield"], filters=[(FACILITY, "Columbus Works")]),
    ),
    (
        "daily waste cost this week",
        q(["waste_cost"], THIS_WEEK, "trend", ["metric_time__day"], order_by=["metric_time__day"]),
    ),
    (
        "lowest rated carrier last month",
        q(["average_rating"], LAST_MONTH, "top", [CARRIER], order_by=["average_rating"], limit=1),
    ),
]

# questions /ask must refuse, naming the word it does not know and the nearest it does
NOT_UNDERSTOOD = [
    ("what was revnue yesterday", "revnue", "revenue"),
    ("show me the blorp rate", "blorp", None),
    ("on-time rate by carier", "carier", "carrier"),
    ("revenue excluding Texas", "excluding", None),
]


def _actual(intent) -> dict:
    groups = ([f"metric_time__{intent.grain}"] if intent.grain else []) + intent.group_by
    window = intent.window and (intent.window.start.isoformat(), intent.window.end.isoformat())
    compare = intent.compare and (intent.compare.start.isoformat(), intent.compare.end.isoformat())
    return {
        "kind": intent.kind,
        "metrics": intent.metrics,
        "group_by": groups,
        "filters": sorted(intent.filters),
        "window": window,
        "compare": compare,
        "order_by": intent.order_by,
        "limit": intent.limit,
        "breakdown": intent.breakdown,
    }


@pytest.fixture(scope="module")
def asker(sample_warehouse, tmp_path_factory) -> Asker:  # noqa: F811
    settings = ApiSettings.from_env(api_env(sample_warehouse, tmp_path_factory.mktemp("ask")))
    return Asker(MetricsService(settings))


def test_the_question_set_is_large_and_every_answer_is_a_valid_query():
    assert len(QUESTIONS) >= 60
    assert len({question for question, _ in QUESTIONS}) == len(QUESTIONS)


def test_the_vocabulary_names_only_metrics_and_dimensions_the_semantic_layer_has(asker):
    vocab, layer = load_vocabulary(), asker.service.layer
    assert set(vocab.metrics) <= set(layer.metrics)
    every_dimension = set().union(*(m.dimensions for m in layer.metrics.values()))
    named = {n for spec in vocab.dimensions.values() for n in spec["names"]}
    named |= {d for spec in vocab.metrics.values() for d in spec.get("why", [])}
    named |= set(VALUE_DIMENSIONS) | {d for d in vocab.aliases if d != "states"}
    assert sorted(named - every_dimension) == []
    assert {m for ms in vocab.absorbs.values() for m in ms} <= set(layer.metrics)


def _misses(asker, questions) -> list[str]:
    misses = []
    for question, expected in questions:
        try:
            actual = _actual(asker.understand(question))
        except NotUnderstood as exc:
            actual = {"error": str(exc)}
        if actual != expected:
            diff = {k: (actual.get(k), v) for k, v in expected.items() if actual.get(k) != v}
            misses.append(f"{question!r}: (got, expected) {diff or actual}")
    return misses


def test_the_question_set_is_understood_at_90_percent_or_more(asker, capsys):
    tuned, held = _misses(asker, QUESTIONS), _misses(asker, HELD_OUT)
    everything = len(QUESTIONS) + len(HELD_OUT)
    accuracy = 1 - (len(tuned) + len(held)) / everything
    with capsys.disabled():
        for name, questions, misses in (("set", QUESTIONS, tuned), ("held-out", HELD_OUT, held)):
            right = len(questions) - len(misses)
            print(
                f"\n/ask question {name}: {right}/{len(questions)} = {right / len(questions):.1%}"
            )
            for miss in misses:
                print(f"  miss {miss}")
        print(f"/ask all questions: {accuracy:.1%}")
    assert accuracy >= 0.9, "\n".join(tuned + held)


@pytest.mark.parametrize(("question", "word", "nearest"), NOT_UNDERSTOOD)
def test_an_unknown_word_is_named_with_the_nearest_known_one(asker, question, word, nearest):
    with pytest.raises(NotUnderstood) as caught:
        asker.understand(question)
    body = caught.value.body()
    assert body["unknown"] == [word]
    if nearest:
        assert f"I don't know {word!r}; did you mean {nearest!r}?" == body["detail"]
        assert body["suggestions"] == {word: nearest}
    else:
        assert body["detail"].startswith(f"I don't know {word!r}")


def test_the_same_question_is_the_same_intent_every_time(asker):
    question = "why were deliveries late in Texas last week?"
    assert _actual(asker.understand(question)) == _actual(asker.understand(question))


# --------------------------------------------------------------------------- answers over HTTP
@pytest.fixture(scope="module")
def client(sample_warehouse, tmp_path_factory):  # noqa: F811
    settings = ApiSettings.from_env(api_env(sample_warehouse, tmp_path_factory.mktemp("http")))
    with TestClient(create_app(settings)) as http:
        yield http


def test_an_answer_states_the_number_of_the_marts_and_shows_its_query(client, sample_warehouse):  # noqa: F811
    response = client.post("/ask", json={"question": "What was revenue yesterday?"})
    assert response.status_code == 200, response.text
    assert response.headers["x-cache"] == "miss"
    body = response.json()
    revenue = sample_warehouse.scalar(
        "select sum(net_revenue) from marts.fct_order_lines where ordered_date = ?", [YESTERDAY]
    )
    assert body["answer"] == f"Net revenue yesterday (2026-01-13) was ${float(revenue):,.0f}."
    assert body["queries"] == [
        {"metrics": ["net_revenue"], "start": YESTERDAY, "end": YESTERDAY, "cache": "miss"}
    ]
    assert "fct_order_lines" in body["sql"][0]
    again = client.post("/ask", json={"question": "what was REVENUE yesterday"})
    assert again.headers["x-cache"] == "hit"  # other words, the same query: cached


def test_a_why_question_answers_with_the_breakdown_that_explains_it(client, sample_warehouse):  # noqa: F811
    body = client.post("/ask", json={"question": "why were deliveries late in Texas last week?"})
    assert body.status_code == 200, body.text
    body = body.json()
    rate = sample_warehouse.scalar(
        "select sum(case when is_on_time then 1 else 0 end) * 1.0 / "
        "sum(case when is_delivered then 1 else 0 end) from marts.fct_shipments "
        "where destination_state = 'TX' and shipped_date between ? and ?",
        list(LAST_WEEK),
    )
    assert body["answer"].startswith(
        f"On-time rate for TX last week (2026-01-05 to 2026-01-11) was {float(rate) * 100:.1f}%, "
    )
    assert (
        "the week before (2025-12-29 to 2026-01-04); by carrier name and destination weather"
        in (body["answer"])
    )
    rows = body["table"]["rows"]
    assert body["table"]["columns"][:2] == [CARRIER, WEATHER]
    # the first row is the biggest drag: (overall rate - its rate) x its delivered shipments
    impacts = [r["impact"] for r in rows]
    assert impacts == sorted(impacts, reverse=True) and impacts[0] > 0
    top = rows[0]
    assert f"the biggest drag is {top[CARRIER]} in {top[WEATHER]}" in body["answer"]
    delivered = sample_warehouse.scalar(
        "select count(*) from marts.fct_shipments s join marts.dim_carrier c using (carrier_id) "
        "where s.is_delivered and s.destination_state = 'TX' and s.shipped_date between ? and ? "
        "and c.carrier_name = ? and s.destination_weather_condition = ?",
        [*LAST_WEEK, top[CARRIER], top[WEATHER]],
    )
    assert top["delivered_shipments"] == delivered
    assert [q["start"] for q in body["queries"]] == [
        LAST_WEEK[0],
        WEEK_BEFORE[0],
        LAST_WEEK[0],
        WEEK_BEFORE[0],
    ]


def test_a_question_it_cannot_read_gets_422_with_a_suggestion(client):
    response = client.post("/ask", json={"question": "on-time rate by carier"})
    assert response.status_code == 422
    assert response.json()["detail"] == "I don't know 'carier'; did you mean 'carrier'?"
    empty = client.post("/ask", json={"question": ""})
    assert empty.status_code == 422 and "question" in empty.json()["detail"]
    assert LAST_DAY.isoformat() == TODAY
