"""The operator console's API (docs/console.md): what the `console_api` function serves.

`routes.py` is the Powertools resolver (thin), `views.py` the logic over the history table and the
bucket, `models.py` the request and response models, `auth.py` who is calling and what they may
do, `sound.py` a clip's spectrogram and the explanation in words.
"""
