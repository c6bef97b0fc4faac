"""Every domain exception humwatch raises, and the one place that decides what each means.

Callers never guess whether a failure is worth retrying: `disposition()` maps an exception to
RETRY (transient: throttling, timeouts, service hiccups; the record goes back to the queue) or
REJECT (the input itself is bad: recorded with a reason, never retried, never alerted on).
"""

from __future__ import annotations

from enum import StrEnum


class Disposition(StrEnum):
    RETRY = "retry"
    REJECT = "reject"


class HumwatchError(Exception):
    """Base class: every error humwatch raises on purpose derives from it."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class ConfigError(HumwatchError):
    """A setting is missing or invalid; raised at start-up, never mid-run."""

    code = "config"


class DetectorOptionsError(ConfigError):
    """A detector type that does not exist, or a training option the chosen type does not take."""

    code = "detector_options"


class AudioRejected(HumwatchError):
    """A clip cannot be scored. `code` is a stable reason code (see AudioRejectReason)."""

    code = "audio_rejected"


class AudioRejectReason(StrEnum):
    NOT_AUDIO = "not_audio"
    TRUNCATED = "truncated"
    EMPTY = "empty"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    TOO_LARGE = "too_large"
    SILENT = "silent"
    CLIPPED = "clipped"
    NOT_FINITE = "not_finite"
    UNSUPPORTED = "unsupported"


class ModelBundleError(HumwatchError):
    """A model bundle is missing, corrupt, or does not match what the scorer expects."""

    code = "model_bundle"


class DatasetError(HumwatchError):
    """A dataset source (folder or manifest CSV) is malformed: bad header, unknown label, no clips."""

    code = "dataset"


class TrainingDataError(HumwatchError):
    """A device has too few usable clips to train its model: recorded on the device, not retried."""

    code = "training_data"


class GateFailed(HumwatchError):
    """A candidate model failed its promotion gate; only an explicit --force promotes it."""

    code = "gate_failed"


class RequestRejected(HumwatchError):
    """An upload request (or other message from a device) is invalid; answered with the reason."""

    code = "bad_request"


class QuotaExceeded(RequestRejected):
    """A device asked for more upload URLs this hour than its quota allows; `retry_after_s` says
    when the next hour's quota starts. The clip is fine: the device keeps it and asks again then."""

    code = "quota_exceeded"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NotFound(HumwatchError):
    """A device, clip, model or stack resource the caller named does not exist."""

    code = "not_found"


class AlreadyExists(HumwatchError):
    """Creating something that exists and must not be overwritten (e.g. device credentials)."""

    code = "already_exists"


class ConflictError(HumwatchError):
    """A conditional write lost a race (optimistic lock): re-read and re-apply, or retry later."""

    code = "conflict"


class Unauthenticated(HumwatchError):
    """No token, or one that is not valid (bad signature, expired, another issuer or audience).
    API Gateway's JWT authorizer answers 401 before a function runs; the local stand-in raises
    this."""

    code = "unauthorized"


class AccessDenied(HumwatchError):
    """The caller is signed in but not allowed: a console user in neither group, or a viewer
    asking for what only operators may do."""

    code = "forbidden"


class TransientError(HumwatchError):
    """A dependency failed in a way that may succeed on retry (throttling, timeout, 5xx)."""

    code = "transient"


def disposition(exc: BaseException) -> Disposition:
    """Retry only what can succeed later; everything else is rejected once, with its reason.

    Unknown exceptions are retried: the queue's maxReceiveCount and DLQ bound the retries, so an
    unexpected bug parks the record in the DLQ instead of being silently recorded as bad audio.
    """
    if isinstance(exc, AudioRejected | RequestRejected | NotFound | TrainingDataError):
        return Disposition.REJECT
    # A broken model bundle is not the clip's fault: retry, so the clip is scored once the bundle
    # is fixed or lands in the DLQ (and its alarm) instead of being recorded as bad audio.
    return Disposition.RETRY
