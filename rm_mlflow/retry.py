"""One rule for what is worth another attempt: the registration service retries a job that failed this way.

Single MLflow calls are not wrapped here: MLflow's client already retries each request (5xx, 429, connection
errors; ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, default 7, with backoff).
"""

from __future__ import annotations

import logging
from typing import TypeVar

from rm_mlflow.errors import RmMlflowError

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
