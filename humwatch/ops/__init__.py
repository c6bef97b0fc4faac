"""Operator tools: the logic behind `humwatch history`, `devices`, `label`, `ack`,
`provision-device`, `model` and `report` (no boto3 here; data access lives in `humwatch.dal`)."""
