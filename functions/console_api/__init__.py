"""The console_api Lambda function (handler.handler)."""
