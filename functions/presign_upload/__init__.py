"""The presign_upload Lambda function (handler.handler)."""
