"""The local stack: a real MQTT broker with mutual TLS, a moto server and the event routing that
lets `make demo` run the whole pipeline on one machine without an AWS account."""
