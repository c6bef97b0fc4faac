"""Data access: the only package that imports boto3 (S3, DynamoDB, SNS, SQS, iot-data, IoT)."""
