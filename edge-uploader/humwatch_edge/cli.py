"""`humwatch-edge run|check|status`: the device program's command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from datetime import datetime, timezone

from humwatch_edge import __version__
from humwatch_edge.check import CheckResult, run_checks
from humwatch_edge.config import CONFIG_PATH_ENV, DEFAULT_CONFIG_PATH, load_config
from humwatch_edge.errors import EdgeError
from humwatch_edge.spool import read_only_stats

EPILOG = f"""\
examples:
  humwatch-edge --config /etc/humwatch-edge/config.toml check
  humwatch-edge run
  humwatch-edge status --json

The config file is --config, else ${CONFIG_PATH_ENV}, else {DEFAULT_CONFIG_PATH}. Every setting
can be overridden by HUMWATCH_EDGE_<SECTION>_<KEY>, e.g. HUMWATCH_EDGE_CAPTURE_INTERVAL_S=60.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="humwatch-edge",
        description="Record machine sound, keep it in a durable spool, deliver it through AWS IoT Core.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="TOML config file")
    parser.add_argument("--version", action="version", version=f"humwatch-edge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="capture, spool and upload until stopped (SIGTERM)")
    commands.add_parser(
        "check", help="check certificates, endpoint, spool and capture source; exit 1 if any fails"
    )
    status = commands.add_parser("status", help="show the spool's clips and counters")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("paho").setLevel(logging.WARNING)


def _print_check(result: CheckResult) -> None:
    print(f"{'ok  ' if result.ok else 'FAIL'}  {result.name:<15} {result.detail}", flush=True)


def _status(config_path: str | None, as_json: bool) -> int:
    config = load_config(config_path, require_delivery=False)
    stats = read_only_stats(config.spool_dir)
    if as_json:
        document = {
            "spool_dir": str(config.spool_dir),
            "clips": stats.clips,
            "bytes": stats.bytes,
            "disk_free_bytes": stats.disk_free_bytes,
            "counters": asdict(stats.counters),
            "entries": [asdict(m) for m in stats.entries],
            "unreadable": stats.unreadable,
        }
        print(json.dumps(document, indent=2))
        return 0
    c = stats.counters
    print(f"spool {config.spool_dir}: {stats.clips} clips waiting, {stats.bytes / 1e6:.2f} MB")
    if stats.unreadable:
        print(
            f"{len(stats.unreadable)} of them with unreadable metadata (set aside to rejected/ on the "
            f"next start): {', '.join(stats.unreadable)}"
        )
    print(f"disk free: {stats.disk_free_bytes / 1e6:.0f} MB")
    print(
        f"uploaded {c.uploaded_clips}, dropped {c.dropped_clips} "
        f"(oldest {c.dropped_oldest}, refused new {c.refused_new}), rejected {c.rejected_clips}"
    )
    print(f"last upload: {c.last_upload_at or 'never'}; last error: {c.last_error or 'none'}")
    for meta in stats.entries[:50]:
        print(
            f"  {meta.seq:>8}  {meta.captured_at}  {meta.clip_id}  {meta.size:>8} B  {meta.duration_s:.1f} s"
        )
    if len(stats.entries) > 50:
        print(f"  ... and {len(stats.entries) - 50} more")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "status":
            return _status(args.config, args.json)
        config = load_config(args.config)
        _setup_logging(config.log_level)
        if args.command == "check":
            results = run_checks(config, emit=_print_check)
            failed = [r for r in results if not r.ok]
            stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            print(f"{stamp} {'all checks passed' if not failed else f'{len(failed)} check(s) failed'}")
            return 1 if failed else 0
        from humwatch_edge.agent import EdgeAgent  # imported late: `status` stays light

        return EdgeAgent(config).run()
    except EdgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
