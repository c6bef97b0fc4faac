"""The humwatch CDK app: one construct per concern, composed by `HumwatchStack`."""
