"""The drift_check Lambda function (handler.handler)."""
