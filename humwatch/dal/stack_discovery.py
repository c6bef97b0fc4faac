"""Read the deployed stack's CloudFormation outputs (bucket, table, IoT policy, endpoints).

The operator CLI resolves names from these outputs unless flags, environment or the local stack's
settings file give them (see `humwatch.ops.settings`).
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from humwatch.dal import aws
from humwatch.errors import ConfigError, NotFound


def stack_outputs(
    stack_name: str, region: str | None = None, endpoint_url: str | None = None
) -> dict[str, str]:
    """{OutputKey: OutputValue} of a deployed stack; NotFound when the stack does not exist."""
    cfn = aws.client("cloudformation", region=region, endpoint_url=endpoint_url)
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except NoCredentialsError:
        raise ConfigError(
            "no AWS credentials to look up the stack (configure a profile or use --local)"
        ) from None
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", str(exc))
        if "does not exist" in message:
            raise NotFound(f"CloudFormation stack {stack_name!r} not found") from None
        raise ConfigError(f"cannot read CloudFormation stack {stack_name!r}: {message}") from None
    except BotoCoreError as exc:
        raise ConfigError(f"cannot reach CloudFormation: {exc}") from None
    if not stacks:
        raise NotFound(f"CloudFormation stack {stack_name!r} not found")
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", []) if "OutputKey" in o}
