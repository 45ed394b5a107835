"""A question in plain words -> an :class:`Intent` (metrics, dimensions, filters, time window,
comparison, ranking), by fixed rules over the words of ``vocabulary.yml``. Deterministic: the same
question, vocabulary and "today" give the same intent.

The rules, in the order they run:

1. **Normalise**: lower case; ``on-time`` -> ``on time``; ``today's`` -> ``today``; punctuation
   other than the dashes of ISO dates becomes space. State codes count only when written in
   capitals (``TX``; ``in``, ``or``, ``me`` are words).
2. **Time** (removed from the text once read; "today" is the last day with data unless
   ``API_TODAY`` says otherwise): ``today``, ``yesterday``, ``this/last week|month|year``,
   ``last|past|previous N days|weeks|months``, ``in <month> [year]``, ``on|since <date>``,
   ``between|from <date> and|to <date>``; dates as ``2026-01-05`` or ``January 5 [2026]``. Weeks
   are ISO weeks (Monday first). A time after ``vs``, ``versus``, ``compared to|with``,
   ``against`` or ``than`` is the **comparison**; ``vs the day|week|month before`` and ``day|week|
   month over day|week|month`` compare with the period before (the latter, with no window, is the
   last complete period against the one before).
3. **Grain**: ``daily``, ``per|by|each day`` -> day; the same for week and month; ``trend``,
   ``over time`` -> day. The result is ordered by time.
4. **Ranking**: ``top|highest|most|best N`` sorts down, ``bottom|lowest|least|worst N`` up
   (``best``/``worst`` follow the metric's ``better``), ``which ... highest|lowest`` is the top 1.
5. **Phrases**, longest first: metric phrases, dimension values (from the warehouse, plus the
   aliases in the vocabulary; a value of several dimensions goes to the first the metric can be
   filtered by; a ``value_nouns`` word right after a value belongs to it: "premium customers"),
   dimension phrases. A dimension phrase after ``by``, ``per``, ``each``,
   ``across``, ``which``, a ranking, or ``and`` after such a group, groups the result; elsewhere
   it only names what a value is ("the web channel").
6. **Metrics**: a metric named with a word of ``refine`` becomes the narrower one; a rate named
   with its own parts absorbs them (``late deliveries`` is the on-time rate). No metric: not
   understood.
7. **Why** (``why ...``, ``what explains|caused|drove ...``): the window (default: last week)
   against the period before, and a breakdown by the metric's ``why`` dimensions (two, skipping
   those filtered on).
8. Any word left that is neither understood nor a stop word: :class:`NotUnderstood`, with the
   nearest known word ("I don't know 'revnue'; did you mean 'revenue'?").
"""

from __future__ import annotations

import calendar
import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import yaml

VOCABULARY = Path(__file__).resolve().parent / "vocabulary.yml"
MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS |= {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
MONTHS["sept"] = 9
_MONTH = r"(?:" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")"
_DATE = (
    rf"(?:\d{{4}}-\d{{2}}-\d{{2}}|{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?(?: \d{{4}})?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)? {_MONTH}(?: \d{{4}})?)"
)
_UNIT = r"(day|week|month|year)"
_COMPARE = r"(?:vs|versus|compared to|compared with|against|than)"
# value dimensions in order of preference when a word is a value of several
VALUE_DIMENSIONS = (
    "carrier__carrier_name",
    "carrier__service_level",
    "order__channel",
    "shipment__destination_weather_condition",
    "facility__facility_name",
    "product_version__product_category",
    "customer_version__segment",
    "return__reason",
    "waste_event__waste_type",
    "waste_event__disposal_method",
    "material__material_type",
    "product_version__product_name",
)
STATE_DIMENSIONS = (
    "shipment__destination_state",
    "customer_version__customer_state",
    "facility__facility_state",
)
GROUP_MARKERS = {"by", "per", "each", "across", "which", "__rank__"}
DOWN_WORDS = {"bottom", "lowest", "least", "smallest", "worst"}


class NotUnderstood(ValueError):
    """A question /ask cannot read (422), with what it did not know and its nearest words."""

    def __init__(self, message: str, unknown: list[str] | None = None, suggestions=None):
        super().__init__(message)
        self.unknown = unknown or []
        self.suggestions = suggestions or {}

    def body(self) -> dict:
        return {"detail": str(self), "unknown": self.unknown, "suggestions": self.suggestions}


@dataclass(frozen=True)
class Window:
    start: date
    end: date
    unit: str  # day, week, month, year or "span" (a range of days)
    label: str

    def previous(self) -> Window:
        if self.unit == "month":
            end = self.start - timedelta(days=1)
            start = end.replace(day=1)
            return Window(start, end, "month", "the month before")
        if self.unit == "year":
            start = self.start.replace(year=self.start.year - 1)
            return Window(start, self.start - timedelta(days=1), "year", "the year before")
        length = (self.end - self.start).days + 1
        if self.unit == "week":
            length, label = 7, "the week before"
        elif self.unit == "day":
            label = "the day before"
        else:
            label = f"the {length} days before"
        start = self.start - timedelta(days=length)
        return Window(start, start + timedelta(days=length - 1), self.unit, label)

    def text(self) -> str:
        if self.start == self.end:
            return f"{self.label} ({self.start})"
        return f"{self.label} ({self.start} to {self.end})"


@dataclass
class Intent:
    question: str
    kind: str  # value, group, trend, top, compare, why
    metrics: list[str]
    group_by: list[str] = field(default_factory=list)
    grain: str | None = None
    filters: list[tuple[str, str]] = field(default_factory=list)
    window: Window | None = None
    compare: Window | None = None
    order_by: list[str] = field(default_factory=list)
    limit: int | None = None
    breakdown: list[str] = field(default_factory=list)

    def request(self, window: Window | None = None, group_by: list[str] | None = None) -> dict:
        """The ``/query`` body of the intent (optionally for another window or grouping)."""
        window = window or self.window
        groups = list(self.group_by if group_by is None else group_by)
        if self.grain and group_by is None:
            groups.insert(0, f"metric_time__{self.grain}")
        body: dict = {"metrics": list(self.metrics), "group_by": groups}
        if self.filters:
            body["filters"] = [{"dimension": d, "op": "=", "values": [v]} for d, v in self.filters]
        if window:
            body["start"], body["end"] = window.start.isoformat(), window.end.isoformat()
        if group_by is None:
            if self.order_by:
                body["order_by"] = list(self.order_by)
            if self.limit:
                body["limit"] = self.limit
        return body


@dataclass(frozen=True)
class Vocabulary:
    metrics: dict
    refine: dict
    absorbs: dict
    dimensions: dict
    aliases: dict
    stopwords: frozenset
    value_nouns: frozenset


@cache
def load_vocabulary(path: Path = VOCABULARY) -> Vocabulary:
    doc = yaml.safe_load(Path(path).read_text())
    return Vocabulary(
        metrics=doc["metrics"],
        refine=doc.get("refine", {}),
        absorbs=doc.get("absorbs", {}),
        dimensions=doc["dimensions"],
        aliases=doc.get("values", {}),
        stopwords=frozenset(str(doc.get("stopwords", "")).split()),
        value_nouns=frozenset(doc.get("value_nouns", [])),
    )


# --------------------------------------------------------------------------- text
def normalise(question: str) -> tuple[str, set[str]]:
    """(lower-case text, the state codes written in capitals)."""
    codes = set(re.findall(r"\b([A-Z]{2})\b", question))
    text = question.replace("\u2019", "'").lower()
    text = re.sub(r"\bon-time\b", "on time", text)
    text = re.sub(r"'s\b", "", text)
    text = re.sub(r"(?<!\d)-|-(?!\d)", " ", text)
    text = re.sub(r"[^\w\s-]", " ", text)
    return " ".join(text.split()), codes


def _parse_date(text: str, today: date) -> date:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return date.fromisoformat(text)
    parts = [p for p in re.split(r"\s+", re.sub(r"(st|nd|rd|th)\b", "", text)) if p]
    month = next(MONTHS[p] for p in parts if p in MONTHS)
    numbers = [int(p) for p in parts if p.isdigit()]
    day = next(n for n in numbers if n <= 31)
    year = next((n for n in numbers if n > 31), None)
    if year is None:
        year = today.year if (month, day) <= (today.month, today.day) else today.year - 1
    return date(year, month, day)


def _month_window(month: int, year: int | None, today: date) -> Window:
    if year is None:
        year = today.year if month <= today.month else today.year - 1
    last = calendar.monthrange(year, month)[1]
    return Window(
        date(year, month, 1), date(year, month, last), "month", calendar.month_name[month]
    )


def _time_window(expr: str, today: date) -> Window:
    """The window of one time expression (matched by :data:`_TIME`)."""
    monday = today - timedelta(days=today.weekday())
    if expr == "today":
        return Window(today, today, "day", "today")
    if expr in ("yesterday", "the day before yesterday"):
        back = 1 if expr == "yesterday" else 2
        day = today - timedelta(days=back)
        return Window(day, day, "day", expr)
    m = re.fullmatch(r"(this|last|past|previous) (week|month|year)", expr)
    if m:
        which, unit = m.groups()
        if unit == "week":
            start = monday if which == "this" else monday - timedelta(days=7)
            end = today if which == "this" else monday - timedelta(days=1)
        elif unit == "month":
            first = today.replace(day=1)
            start = first if which == "this" else (first - timedelta(days=1)).replace(day=1)
            end = today if which == "this" else first - timedelta(days=1)
        else:
            first = today.replace(month=1, day=1)
            start = first if which == "this" else first.replace(year=first.year - 1)
            end = today if which == "this" else first - timedelta(days=1)
        label = f"{'this' if which == 'this' else 'last'} {unit}"
        return Window(start, end, unit, label)
    m = re.fullmatch(r"(?:the )?(?:last|past|previous) (\d+) (day|week|month)s?", expr)
    if m:
        n, unit = int(m[1]), m[2]
        days = n * {"day": 1, "week": 7, "month": 30}[unit]
        start = today - timedelta(days=days - 1)
        return Window(start, today, "span", f"the last {n} {unit}s")
    m = re.fullmatch(rf"(?:in|during) ({_MONTH})(?: (\d{{4}}))?", expr)
    if m:
        return _month_window(MONTHS[m[1]], int(m[2]) if m[2] else None, today)
    m = re.fullmatch(rf"(?:between|from) ({_DATE}) (?:and|to|until) ({_DATE})", expr)
    if m:
        start, end = _parse_date(m[1], today), _parse_date(m[2], today)
        return Window(start, end, "span", "the days")
    m = re.fullmatch(rf"since ({_DATE})", expr)
    if m:
        start = _parse_date(m[1], today)
        return Window(start, today, "span", f"since {start}")
    m = re.fullmatch(rf"(?:on )?({_DATE})", expr)
    if m:
        day = _parse_date(m[1], today)
        return Window(day, day, "day", "on")
    raise ValueError(f"no window for {expr!r}")  # the patterns above cover _TIME


_TIME = re.compile(
    r"\b(?:"
    rf"(?:between|from) {_DATE} (?:and|to|until) {_DATE}"
    rf"|since {_DATE}"
    r"|(?:the )?(?:last|past|previous) \d+ (?:day|week|month)s?"
    r"|(?:this|last|past|previous) (?:week|month|year)"
    r"|the day before yesterday|today|yesterday"
    rf"|(?:in|during) {_MONTH}(?: \d{{4}})?"
    rf"|(?:on )?{_DATE}"
    r")\b"
)
_BEFORE = re.compile(rf"\b{_COMPARE} (?:the )?(?:previous |prior )?{_UNIT}(?: before)?\b")
_OVER = re.compile(r"\b(day|week|month|year) over (?:the )?\1\b|\b(dod|wow|mom|yoy)\b")
_GRAINS = [
    (re.compile(r"\b(?:daily|per day|by day|each day|a day|day by day)\b"), "day"),
    (re.compile(r"\b(?:weekly|per week|by week|each week|a week|week by week)\b"), "week"),
    (re.compile(r"\b(?:monthly|per month|by month|each month|a month)\b"), "month"),
    (re.compile(r"\b(?:trend|trends|trending|over time)\b"), "day"),
]
_RANK = re.compile(
    r"\b(top|bottom|best|worst|highest|lowest|most|least|biggest|smallest|largest)(?: (\d{1,3}))?\b"
)
_WHY = re.compile(r"^(?:why\b|what (?:explains|caused|causes|drove|drives)\b)")


# --------------------------------------------------------------------------- interpret
class Interpreter:
    """Reads questions with one vocabulary, the catalog and the warehouse's dimension values."""

    def __init__(
        self,
        vocabulary: Vocabulary,
        dimensions_for: Callable[[list[str]], set[str]],
        values_of: Callable[[str], set],
    ):
        self.vocab = vocabulary
        self.dimensions_for = dimensions_for
        self.values_of = values_of
        self._phrases: dict[tuple[str, ...], list[tuple[str, object]]] | None = None

    # phrases: words -> [(kind, payload)], metric before value before dimension
    def phrases(self) -> dict[tuple[str, ...], list[tuple[str, object]]]:
        if self._phrases is not None:
            return self._phrases
        table: dict[tuple[str, ...], list[tuple[str, object]]] = {}

        def add(text: str, kind: str, payload) -> None:
            words, _ = normalise(text)
            entry = table.setdefault(tuple(words.split()), [])
            if (kind, payload) not in entry:
                entry.append((kind, payload))

        for metric, spec in self.vocab.metrics.items():
            for phrase in [metric.replace("_", " "), *spec.get("phrases", [])]:
                add(phrase, "metric", metric)
        for dimension in VALUE_DIMENSIONS:
            for value in sorted(self.values_of(dimension), key=str):
                if isinstance(value, str):
                    add(value.replace("_", " "), "value", (dimension, value))
        for dimension, aliases in self.vocab.aliases.items():
            if dimension == "states":
                for name, code in aliases.items():
                    add(name, "state", code)
                continue
            known = self.values_of(dimension)
            for alias, value in aliases.items():
                if value in known:
                    add(alias, "value", (dimension, value))
        for key, spec in self.vocab.dimensions.items():
            for phrase in [key, *spec.get("phrases", [])]:
                add(phrase, "dimension", tuple(spec["names"]))
        order = {"metric": 0, "value": 1, "state": 1, "dimension": 2}
        for entry in table.values():
            entry.sort(key=lambda item: order[item[0]])
        self._phrases = table
        return table

    def interpret(self, question: str, today: date) -> Intent:
        question = " ".join(question.split())
        if not question:
            raise NotUnderstood("ask a question, for example: revenue by channel last week")
        text, codes = normalise(question)
        why = bool(_WHY.match(text))

        # 2. comparison and time
        window, compare, compare_previous = None, None, False
        over = _OVER.search(text)
        if over:
            unit = over[1] or {"dod": "day", "wow": "week", "mom": "month", "yoy": "year"}[over[2]]
            compare_previous = True
            text = _cut(text, over)
            if unit and not _TIME.search(text):
                window = _time_window(f"last {unit}" if unit != "day" else "yesterday", today)
        before = _BEFORE.search(text)
        if before:
            compare_previous = True
            text = _cut(text, before)
        for match in list(_TIME.finditer(text)):
            head = text[: match.start()].rstrip()
            is_compare = re.search(rf"{_COMPARE}(?: the)?$", head) is not None
            found = _time_window(match[0], today)
            if is_compare and compare is None:
                compare = found
            elif window is None:
                window = found
        text = _TIME.sub(" ", text)
        if compare_previous and window is None:
            window = _time_window("last week", today)
        if compare_previous and compare is None and window is not None:
            compare = window.previous()
        if why:
            window = window or _time_window("last week", today)
            compare = compare or window.previous()

        # 3. grain
        grain = None
        for pattern, unit in _GRAINS:
            if pattern.search(text):
                grain = grain or unit
                text = pattern.sub(" ", text)

        # 4. ranking
        rank = None
        m = _RANK.search(text)
        if m:
            word, number = m[1], m[2]
            if (
                number
                or re.search(r"\bwhich\b", text)
                or word in ("top", "bottom", "best", "worst")
            ):
                rank = (word, int(number) if number else 1)
                text = text[: m.start()] + " __rank__ " + text[m.end() :]

        # 5. phrases
        tokens = [t for t in text.split() if t]
        metrics, values, groups, used = self._read_phrases(tokens, codes)

        # 8. words left over
        unknown = [
            t
            for i, t in enumerate(tokens)
            if i not in used
            and t not in self.vocab.stopwords
            and not t.isdigit()
            and t not in ("__rank__",)
            and not re.fullmatch(r"\d{4}-\d{2}-\d{2}|\d+(st|nd|rd|th)", t)
        ]
        if unknown:
            raise self._not_known(unknown)

        # 6. metrics
        metrics = self._settle_metrics(metrics, tokens)
        if not metrics:
            raise NotUnderstood(
                "I don't know which metric you mean; name one, for example revenue, orders, "
                "on-time rate, defect rate, return rate or waste (GET /metrics lists them all)"
            )

        allowed = self.dimensions_for(metrics)
        group_by = [self._fit(names, allowed, metrics) for names in groups]
        group_by = list(dict.fromkeys(group_by))
        filters = [self._value_filter(v, allowed, metrics) for v in values]
        filters = sorted(set(filters))

        intent = Intent(
            question=question,
            kind="value",
            metrics=metrics,
            group_by=group_by,
            grain=grain,
            filters=filters,
            window=window,
            compare=compare,
        )
        first = metrics[0]
        better = self.vocab.metrics.get(first, {}).get("better", "higher")
        if rank:
            word, n = rank
            down = word in DOWN_WORDS
            if word in ("best", "worst"):
                down = (word == "worst") == (better == "higher")
            intent.order_by = [("" if down else "-") + first]
            intent.limit = n
            intent.kind = "top"
        elif grain:
            intent.order_by = [f"metric_time__{grain}"]
            intent.kind = "trend"
        elif group_by:
            intent.order_by = [f"-{first}"]
            intent.kind = "group"
        if compare is not None:
            intent.kind = "compare"
        if why:
            intent.kind = "why"
            filtered = {d for d, _ in filters}
            wanted = self.vocab.metrics.get(first, {}).get("why", [])
            intent.breakdown = [d for d in wanted if d not in filtered and d in allowed][:2]
        return intent

    # ------------------------------------------------------------------ helpers
    def _read_phrases(self, tokens: list[str], codes: set[str]):
        table = self.phrases()
        longest = max(len(k) for k in table)
        metrics: list[str] = []
        values: list[tuple] = []
        groups: list[tuple[str, ...]] = []
        used: set[int] = set()
        i = 0
        last_group_end = -2
        while i < len(tokens):
            if tokens[i].upper() in codes and len(tokens[i]) == 2:
                values.append(("state", tokens[i].upper()))
                used.add(i)
                i += 1
                continue
            for size in range(min(longest, len(tokens) - i), 0, -1):
                words = tuple(tokens[i : i + size])
                if words in table:
                    kind, payload = table[words][0]
                    prev = tokens[i - 1] if i else ""
                    if kind == "metric":
                        metrics.append(payload)
                    elif kind in ("value", "state"):
                        values.append((kind, payload) if kind == "state" else payload)
                        if i + size < len(tokens) and tokens[i + size] in self.vocab.value_nouns:
                            size += 1  # "premium customers": the noun names the value
                    elif prev in GROUP_MARKERS or (prev == "and" and last_group_end == i - 1):
                        groups.append(payload)
                        last_group_end = i + size  # where an "and" would follow
                    used.update(range(i, i + size))
                    i += size
                    break
            else:
                i += 1
        return metrics, values, groups, used

    def _settle_metrics(self, found: list[str], tokens: list[str]) -> list[str]:
        metrics = list(dict.fromkeys(found))
        words = set(tokens)
        for i, metric in enumerate(metrics):
            for word, narrower in self.vocab.refine.get(metric, {}).items():
                if word in words:
                    metrics[i] = narrower
        metrics = list(dict.fromkeys(metrics))
        absorbed = {a for m in metrics for a in self.vocab.absorbs.get(m, [])}
        return [m for m in metrics if m not in absorbed]

    def _fit(self, names: tuple[str, ...], allowed: set[str], metrics: list[str]) -> str:
        for name in names:
            if name in allowed:
                return name
        raise NotUnderstood(
            f"{', '.join(metrics)} cannot be broken down by {names[0].split('__')[-1]}; "
            f"it can be by: {_readable(allowed)}"
        )

    def _value_filter(self, value, allowed: set[str], metrics: list[str]) -> tuple[str, str]:
        if value[0] == "state":
            code = value[1]
            for dimension in STATE_DIMENSIONS:
                if dimension in allowed and code in self.values_of(dimension):
                    return dimension, code
            raise NotUnderstood(f"there is no {', '.join(metrics)} data for the state {code}")
        dimension, text = value
        candidates = [dimension] + [
            d for d in VALUE_DIMENSIONS if d != dimension and text in self.values_of(d)
        ]
        for candidate in candidates:
            if candidate in allowed:
                return candidate, text
        raise NotUnderstood(
            f"{text!r} is a {dimension.split('__')[-1].replace('_', ' ')}, and "
            f"{', '.join(metrics)} cannot be filtered by it; it can be by: {_readable(allowed)}"
        )

    def _not_known(self, unknown: list[str]) -> NotUnderstood:
        known = {w for phrase in self.phrases() for w in phrase}
        suggestions = {}
        for word in unknown:
            close = difflib.get_close_matches(word, known, n=1, cutoff=0.7)
            if close:
                suggestions[word] = close[0]
        parts = [
            f"I don't know {w!r}"
            + (f"; did you mean {suggestions[w]!r}?" if w in suggestions else ".")
            for w in unknown
        ]
        return NotUnderstood(" ".join(parts), unknown, suggestions)


def _cut(text: str, match: re.Match) -> str:
    return (text[: match.start()] + " " + text[match.end() :]).strip()


def _readable(names: set[str]) -> str:
    return ", ".join(sorted({n.split("__")[-1].replace("_", " ") for n in names}))
