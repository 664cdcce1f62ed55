"""Retrying calls to the MLflow tracking server and registry: one rule for what is worth another attempt.

Used by the run logging in :mod:`rm_mlflow.tracking` and by the registration service's workers and poller.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from rm_mlflow.errors import RmMlflowError, first_line

logger = logging.getLogger(__name__)
T = TypeVar("T")


def is_transient(error: BaseException) -> bool:
    """Worth another attempt: the tracking server or network failed (5xx, 429, connection, timeout).

    Errors rm-mlflow raises on purpose (bad model files, bad data) and requests MLflow rejected (4xx)
    fail the same way every time. One of ours that wraps a registry or download failure is as
    transient as the failure it wraps.
    """
    if isinstance(error, RmMlflowError):
        return error.__cause__ is not None and is_transient(error.__cause__)
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.exceptions import Timeout

    if isinstance(error, (RequestsConnectionError, Timeout)):
        return True
    from mlflow.exceptions import MlflowException

    if isinstance(error, MlflowException):
        status = error.get_http_status_code()
        return status >= 500 or status == 429
    return False


def with_retries(call: Callable[[], T], *, what: str, attempts: int = 5, first_delay: float = 1.0) -> T:
    """Run ``call``, retrying transient errors (:func:`is_transient`) with exponential backoff.

    Args:
        call: the MLflow call, without arguments.
        what: names the call in warnings (``log_batch (metrics)``).
        attempts: tries in all, the first included.
        first_delay: seconds before the first retry; doubles after each.

    Returns:
        What ``call`` returned. The last error is raised when every attempt failed, and at once when it is not transient.
    """
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as error:
            if attempt == attempts or not is_transient(error):
                raise
            logger.warning("MLflow %s failed (%s); retry %d/%d in %.0fs", what, first_line(error), attempt, attempts - 1, delay)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")

