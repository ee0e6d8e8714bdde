"""The training pod's `check-mlflow` init container: asks the MLflow tracking server for one
experiment through its REST API (GET /api/2.0/mlflow/experiments/search), with the credentials
mlflow itself would send, before the trainer loads a model. An unreachable or refusing server is
reported in seconds with the URI and the error instead of after the model has loaded.

Exit codes: 0 MLflow answers (or the URI is not an HTTP server, which nothing here can probe);
1 it cannot be reached or fails (may heal: the Job retries within backoffLimit); 2 the
configuration is wrong (a malformed URI, credentials refused, no MLflow at that address): the
Job's podFailurePolicy fails the run at once.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

PATH = "/api/2.0/mlflow/experiments/search?max_results=1"
ATTEMPTS = 3
TIMEOUT_S = 5.0
PAUSE_S = 2.0
# Answers no retry can change: credentials refused (401, 403, also MLflow's "Invalid Host
# header") and no MLflow API at that address (404, 405).
CONFIG_STATUSES = frozenset({400, 401, 403, 404, 405})
OK, UNREACHABLE, CONFIG_ERROR = 0, 1, 2


def request(uri: str, env: dict[str, str]) -> urllib.request.Request:
    headers = {"Accept": "application/json"}
    if env.get("MLFLOW_TRACKING_TOKEN"):
        headers["Authorization"] = f"Bearer {env['MLFLOW_TRACKING_TOKEN']}"
    elif env.get("MLFLOW_TRACKING_USERNAME"):
        pair = f"{env['MLFLOW_TRACKING_USERNAME']}:{env.get('MLFLOW_TRACKING_PASSWORD', '')}"
        headers["Authorization"] = f"Basic {base64.b64encode(pair.encode()).decode()}"
    return urllib.request.Request(uri.rstrip("/") + PATH, headers=headers)


def probe(uri: str, env: dict[str, str]) -> tuple[int, str]:
    """(exit code, what happened) for one attempt."""
    try:
        with urllib.request.urlopen(request(uri, env), timeout=TIMEOUT_S) as response:
            json.loads(response.read() or b"{}")
            return OK, f"MLflow at {uri} answers (HTTP {response.status})"
    except urllib.error.HTTPError as error:
        body = error.read()[:200].decode(errors="replace").strip()
        code = CONFIG_ERROR if error.code in CONFIG_STATUSES else UNREACHABLE
        return code, f"MLflow at {uri} refused the request: HTTP {error.code} {error.reason} {body}".strip()
    except ValueError as error:
        return CONFIG_ERROR, f"MLflow at {uri} did not answer with MLflow's API: {error}"
    except (OSError, urllib.error.URLError) as error:
        reason = getattr(error, "reason", error)
        return UNREACHABLE, f"MLflow at {uri} cannot be reached: {reason}"


def check(env: dict[str, str]) -> tuple[int, str]:
    uri = env.get("MLFLOW_TRACKING_URI", "").strip()
    if not uri:
        return CONFIG_ERROR, "MLFLOW_TRACKING_URI is empty: the MLflow Secret has no tracking URI"
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme not in ("http", "https"):
        return OK, f"tracking URI {uri} is not an HTTP server: nothing to probe"
    if not parsed.hostname:
        return CONFIG_ERROR, f"tracking URI {uri} names no host"
    code, message = UNREACHABLE, ""
    for attempt in range(ATTEMPTS):
        code, message = probe(uri, env)
        if code != UNREACHABLE:
            break
        if attempt < ATTEMPTS - 1:
            time.sleep(PAUSE_S)
    return code, message


def main() -> int:
    code, message = check(dict(os.environ))
    print(f"check-mlflow: {message}", file=sys.stderr if code else sys.stdout, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
