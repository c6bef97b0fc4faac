"""CDK entry point: `cdk.json` (repo root) runs it with the venv's python.

cdk synth                                   # offline, no credentials; cdk-nag runs every time
cdk deploy -c alertEmails='["ops@example.org"]'
"""

from __future__ import annotations

import sys
from pathlib import Path

CDK_DIR = Path(__file__).resolve().parent
for path in (str(CDK_DIR), str(CDK_DIR.parent)):
    if path not in sys.path:
        sys.path.insert(0, path)

from humwatch_cdk.application import build_app  # noqa: E402
from humwatch_cdk.layers import load_builder  # noqa: E402
from humwatch_cdk.settings import SettingsError  # noqa: E402


def main() -> None:
    try:
        app, _ = build_app()
    except (SettingsError, load_builder().LayerBuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    app.synth()


if __name__ == "__main__":
    main()
