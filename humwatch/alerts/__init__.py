"""Alerting: the k-of-n policy (`policy`) and the message a person receives (`message`)."""
