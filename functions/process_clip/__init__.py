"""The process_clip Lambda function (handler.handler)."""
