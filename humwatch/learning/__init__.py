"""Every device learns its own normal: the pure rules of the learning loop (docs/learning.md).

- `selection`: which of a device's clips train its model, and when its baseline is complete;
- `gate`: the promotion gate's report over a candidate's scores and a replay of the history.

The services that run them (process_clip's baseline, train_model) are in `humwatch.services`.
"""
