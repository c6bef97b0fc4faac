"""Turn AWS SDK failures into one-line domain errors for the operator CLI (no tracebacks)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from humwatch.errors import ConfigError, HumwatchError, NotFound


@contextmanager
def operator_errors() -> Iterator[None]:
    try:
        yield
    except NoCredentialsError:
        raise ConfigError(
            "no AWS credentials found: configure a profile (aws configure / AWS_PROFILE), "
            "or use --local / --endpoint-url for the local stack"
        ) from None
    except NoRegionError:
        raise ConfigError("no AWS region: pass --region or set AWS_REGION") from None
    except EndpointConnectionError as exc:
        raise ConfigError(
            f"cannot reach the AWS endpoint {exc.kwargs.get('endpoint_url', '')}: is it up?"
        ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "error"))
        message = str(error.get("Message", exc))
        if code == "ResourceNotFoundException":
            raise NotFound(f"{message} (wrong --table/--stack or region?)") from None
        if code in ("AccessDenied", "AccessDeniedException", "UnrecognizedClientException"):
            raise ConfigError(f"AWS refused the call ({code}): {message}") from None
        raise HumwatchError(f"AWS call {exc.operation_name} failed ({code}): {message}") from None
    except BotoCoreError as exc:
        raise HumwatchError(f"AWS call failed: {exc}") from None
