"""humwatch-edge: the device half of humwatch.

Records a short clip every few minutes, keeps it in a durable on-disk spool and delivers it to S3
through a presigned URL requested over MQTT (mutual TLS) from AWS IoT Core. It depends on no part
of the cloud code; the topic and payload shapes are mirrored in `humwatch_edge.contract`.
"""

__version__ = "0.1.0"
