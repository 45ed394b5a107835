"""``POST /ask``: a plain-language question -> an intent -> MetricFlow queries -> one sentence.

:mod:`metrics_api.ask.interpret` reads the question (rules documented there, words in
``vocabulary.yml``); :class:`Asker` runs the intent's queries through the same checks, cache and
warehouse as ``POST /query`` (a question and the query it becomes share cache entries), then
:mod:`metrics_api.ask.answer` writes the sentence. The answer carries the table and every query it
ran, so what a sentence says can be checked.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from ..query import QueryRequest, check
from ..service import MetricsService, Result
from .answer import compose
from .interpret import Intent, Interpreter, NotUnderstood, load_vocabulary

__all__ = ["Answer", "AskRequest", "Asker", "NotUnderstood"]


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=300)


@dataclass
class Answer:
    question: str
    answer: str
    intent: Intent
    results: list[Result]
    table: dict
    build_id: str
    extra: dict = field(default_factory=dict)

    def cache_state(self) -> str:
        states = {r.cache for r in self.results}
        if states == {"hit"}:
            return "hit"
        return "bypass" if "bypass" in states else "miss"

    def headers(self) -> dict[str, str]:
        return {"X-Cache": self.cache_state(), "X-Build-Id": self.build_id}

    def body(self) -> dict:
        intent = self.intent
        return {
            "question": self.question,
            "answer": self.answer,
            "intent": {
                "kind": intent.kind,
                "metrics": intent.metrics,
                "group_by": intent.group_by,
                "grain": intent.grain,
                "filters": [{"dimension": d, "value": v} for d, v in intent.filters],
                "window": intent.window
                and {
                    "label": intent.window.label,
                    "start": intent.window.start.isoformat(),
                    "end": intent.window.end.isoformat(),
                },
                "compare": intent.compare
                and {
                    "label": intent.compare.label,
                    "start": intent.compare.start.isoformat(),
                    "end": intent.compare.end.isoformat(),
                },
                "breakdown": intent.breakdown,
            },
            "table": self.table,
            "queries": [{**r.query.describe(), "cache": r.cache} for r in self.results],
            "sql": [r.sql for r in self.results],
            "build_id": self.build_id,
        }


class Asker:
    def __init__(self, service: MetricsService):
        self.service = service
        self.vocabulary = load_vocabulary()
        self._interpreter: tuple[str, Interpreter] | None = None
        self._lock = threading.Lock()

    def interpreter(self) -> Interpreter:
        """One per build: the values it knows come from the warehouse."""
        build_id = self.service.build_id()
        with self._lock:
            if self._interpreter is None or self._interpreter[0] != build_id:
                interpreter = Interpreter(
                    self.vocabulary, self.service.layer.dimensions_for, self.service.values_of
                )
                interpreter.phrases()
                self._interpreter = (build_id, interpreter)
            return self._interpreter[1]

    def understand(self, question: str) -> Intent:
        today = self.service.last_day()
        if today is None:
            raise NotUnderstood("the warehouse holds no orders yet: there is nothing to ask about")
        return self.interpreter().interpret(question, today)

    def run(self, body: dict) -> Result:
        svc = self.service
        return svc.run(check(QueryRequest(**body), svc.layer, svc.settings.max_rows, svc.values_of))

    def ask(self, question: str) -> Answer:
        intent = self.understand(question)
        main = self.run(intent.request())
        results = [main]
        previous = None
        breakdown: list[Result] = []
        if intent.compare is not None:
            previous = self.run(intent.request(window=intent.compare))
            results.append(previous)
        if intent.kind == "why" and intent.breakdown:
            # the breakdown of the window and of the period before, group by group
            metric = intent.metrics[0]
            support = self.service.layer.denominators.get(metric)
            for window in (intent.window, intent.compare):
                body = intent.request(window=window, group_by=intent.breakdown)
                body["metrics"] = [metric] + ([support] if support else [])
                breakdown.append(self.run(body))
            results.extend(breakdown)
        sentence, table = compose(
            intent, main, previous, breakdown, self.service.layer, self.vocabulary
        )
        return Answer(question, sentence, intent, results, table, main.build_id)
