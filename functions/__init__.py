"""Lambda function code assets (one folder per function; the humwatch package comes from a layer)."""
