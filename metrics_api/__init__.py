"""The metrics API: MetricFlow metrics over the marts, plain-language questions, a cache, a live page.

``make serve`` (``python -m metrics_api serve``) starts it on http://127.0.0.1:8070:

* ``GET /``: the live operations page (KPI cards, time series, carrier x state heat map, the
  latest alerts, an ask box; refreshed every 15 s; ECharts vendored under ``static/vendor``).
* ``GET /metrics``: the metrics of the semantic layer, with their dimensions.
* ``POST /query``: metrics, group-by, grain, filters, window, order, limit; JSON, CSV or Arrow;
  ``explain`` returns the SQL MetricFlow compiled.
* ``POST /ask``: a question in plain words; the answer, its table and the queries it ran.
* ``GET /alerts``, ``GET /status``.

Modules: :mod:`.settings` (environment), :mod:`.semantic` (MetricFlow, warm), :mod:`.query`
(request checks), :mod:`.engine` (the read-only door to the warehouse), :mod:`.cache` (Redis or
in-process), :mod:`.build` (the build id the cache keys on), :mod:`.service` (the three together),
:mod:`.ask` (questions), :mod:`.alerts`, :mod:`.app` (HTTP).
"""
