"""FastAPI exports OpenTelemetry spans, metrics and logs whenever the environment configures a
global provider (or sets FASTAPI_OTEL_AUTO_CONFIGURE=true). Request URLs carry search queries and
request bodies carry prompts and note text, so every app LocalGPT serves turns it off: nothing
leaves a process unasked."""

from __future__ import annotations

NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False, "auto_configure": False}
