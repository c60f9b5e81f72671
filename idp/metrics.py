"""Prometheus metrics: the one importer of prometheus_client, and everything idp counts.

Most of what an operator watches is already an audit event (sign-ins by outcome, locks
started, second-factor outcomes, rate-limit hits, and whatever a new feature records), so
``services.audit`` counts every event it commits in ``idp_audit_events_total{event,
outcome}``: a new event is counted without code of its own. Beside it: requests by endpoint
(latency histogram), tokens issued by grant, queued work by kind and outcome (mail queued,
sent, retried, given up), and failures of the dependencies (database, rate-limit storage).

Under `idp serve` every worker is a process of its own: prometheus_client's multi-process
mode keeps each one's values in files in ``PROMETHEUS_MULTIPROC_DIR`` (set by `idp serve`
before this module imports prometheus_client, which reads it at import) and adds them up at
each scrape. Labels are names from the code (events, endpoints, grants, kinds): never an
identifier, an address or anything a client typed.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("idp.metrics")

MULTIPROCESS_FOLDER_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class _Instruments:
    audit_events: Any
    requests: Any
    request_seconds: Any
    tokens_issued: Any
    outbound_jobs: Any
    dependency_errors: Any


@functools.cache
def _instruments() -> _Instruments:
    # Imported here, on first use, never at import time of idp: `idp serve` must be able to
    # set PROMETHEUS_MULTIPROC_DIR before prometheus_client is loaded.
    from prometheus_client import Counter, Histogram

    return _Instruments(
        audit_events=Counter("idp_audit_events", "Audit events committed, by event and outcome.", ["event", "outcome"]),
        requests=Counter(
            "idp_http_requests", "HTTP requests answered, by endpoint and status.", ["endpoint", "status"]
        ),
        request_seconds=Histogram(
            "idp_http_request_duration_seconds", "Time to answer a request, by endpoint.", ["endpoint", "method"]
        ),
        tokens_issued=Counter("idp_tokens_issued", "Successful token responses, by grant type.", ["grant_type"]),
        outbound_jobs=Counter(
            "idp_outbound_jobs",
            "Queued work (mail is kind mail), by outcome: queued, done, retry (failed, tried again later), given_up.",
            ["kind", "outcome"],
        ),
        dependency_errors=Counter(
            "idp_dependency_errors",
            "Times a dependency could not be used: database (a request answered 503, a worker "
            "round skipped), ratelimit_storage (a rate-limited request while Redis is unreachable), "
            "mail (a message the mail server did not take).",
            ["dependency"],
        ),
    )


def _safely(count) -> None:
    """Counting must never break what is counted (a full disk under the multi-process folder)."""
    try:
        count()
    except Exception:
        log.exception("metric not recorded")


def audit_events_committed(events: Iterable[tuple[str, str]]) -> None:
    for event, outcome in events:
        _safely(lambda event=event, outcome=outcome: _instruments().audit_events.labels(event, outcome).inc())


def request_answered(endpoint: str, method: str, status: str, seconds: float) -> None:
    def count() -> None:
        instruments = _instruments()
        instruments.requests.labels(endpoint, status).inc()
        instruments.request_seconds.labels(endpoint, method).observe(seconds)

    _safely(count)


def token_issued(grant_type: str) -> None:
    _safely(lambda: _instruments().tokens_issued.labels(grant_type).inc())


def outbound_job(kind: str, outcome: str) -> None:
    _safely(lambda: _instruments().outbound_jobs.labels(kind, outcome).inc())


def dependency_error(dependency: str) -> None:
    _safely(lambda: _instruments().dependency_errors.labels(dependency).inc())


def exposition(gauges: dict[str, tuple[str, dict[str, float]]] | None = None) -> tuple[bytes, str]:
    """The text format of every metric (added up over the workers under `idp serve`), plus
    ``gauges`` read at this scrape: ``{name: (help, {label value of "kind": value})}``."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    _instruments()  # so a scrape before the first event still lists every metric
    if os.environ.get(MULTIPROCESS_FOLDER_VARIABLE):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    body = generate_latest(registry)
    if gauges:
        from prometheus_client.core import GaugeMetricFamily

        class _ReadNow:
            def collect(self):
                for name, (help_text, values) in gauges.items():
                    family = GaugeMetricFamily(name, help_text, labels=["kind"])
                    for kind, value in sorted(values.items()):
                        family.add_metric([kind], value)
                    yield family

        now = CollectorRegistry(auto_describe=False)
        now.register(_ReadNow())
        body += generate_latest(now)
    return body, CONTENT_TYPE_LATEST
