"""The uploader's errors. Each says what went wrong and what the delivery loop should do next."""

from __future__ import annotations


class EdgeError(Exception):
    """Base class for every error the uploader raises on purpose."""


class ConfigError(EdgeError):
    """The configuration is invalid; the message lists every bad value."""


class CaptureError(EdgeError):
    """A capture source cannot deliver audio (no microphone, empty folder, broken hook)."""


class SpoolError(EdgeError):
    """The spool directory cannot be used (not writable, disk full)."""


class DeliveryError(EdgeError):
    """A delivery attempt failed; subclasses say whether to retry, re-request or set the clip aside."""


class TransientDeliveryError(DeliveryError):
    """Network trouble, a 5xx, a timeout, no broker: back off and try the same clip again."""


class RetryLater(TransientDeliveryError):
    """The cloud said when to ask again (the device's upload quota is used up): keep the clip and
    wait at least `retry_after_s` before the next request."""

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UrlRefused(DeliveryError):
    """The presigned URL was refused (expired, signature mismatch): request a fresh one."""


class ClipRejected(DeliveryError):
    """The cloud refused the clip itself (invalid request): retrying cannot help, set it aside."""
