"""Provision one device: IoT thing + certificate + policy, and a ready edge-uploader config.

The order matters for safety: check that nothing would be overwritten before creating anything in
the account (existing credentials on disk, or a thing of that name already registered in IoT Core,
with or without a certificate), and undo the certificate and the thing if a later step fails, so a
retry starts clean and no orphaned active certificate is left behind.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from humwatch import contracts
from humwatch.dal.iot_admin import IotAdmin, IssuedCertificate
from humwatch.errors import AlreadyExists, ConfigError, HumwatchError, NotFound

AMAZON_ROOT_CA_URL = "https://www.amazontrust.com/repository/AmazonRootCA1.pem"
AMAZON_ROOT_CA_LABEL = '# Label: "Amazon Root CA 1"'

CERT_FILE = "device.cert.pem"
KEY_FILE = "device.private.key"
CA_FILE = "root-ca.pem"
CONFIG_FILE = "config.toml"  # humwatch-edge looks for /etc/humwatch-edge/config.toml
CREDENTIAL_FILES = (CERT_FILE, KEY_FILE, CONFIG_FILE)
# humwatch-edge's default spool (a device keeps /etc for configuration, /var/lib for data).
DEVICE_SPOOL_DIR = "/var/lib/humwatch-edge/spool"


@dataclass(frozen=True)
class CaptureDefaults:
    source: str = "microphone"
    interval_s: float = 300.0
    duration_s: float = 10.0
    sample_rate: int = 16000


@dataclass(frozen=True)
class SpoolDefaults:
    max_bytes: int = 500_000_000
    max_clips: int = 10_000


@dataclass(frozen=True)
class ProvisionRequest:
    thing: str
    out_dir: Path
    policy: str
    endpoint: str | None  # MQTT host; None -> ask IoT Core (describe_endpoint)
    port: int = 8883
    model_id: str | None = None
    machine_type: str = "machine"
    # Where the files will live on the device; the config's paths point there (default: out_dir).
    device_dir: Path | None = None
    # A CA file the device should trust (local stack CA, or a copy of Amazon Root CA 1).
    ca_file: Path | None = None
    # Local stack only: sign the device certificate with this CA (its directory holds ca.crt/ca.key)
    # instead of asking IoT Core to make the key pair.
    local_ca_dir: Path | None = None
    capture: CaptureDefaults = field(default_factory=CaptureDefaults)
    spool: SpoolDefaults = field(default_factory=SpoolDefaults)


@dataclass(frozen=True)
class ProvisionResult:
    thing: str
    certificate_arn: str
    endpoint: str
    port: int
    cert_path: Path
    key_path: Path
    ca_path: Path | None
    config_path: Path
    model_id: str | None
    notes: tuple[str, ...] = ()


def _toml_str(value: str) -> str:
    # TOML basic strings share JSON's escapes (\", \\, \n, \uXXXX).
    return json.dumps(value, ensure_ascii=True)


def edge_config_toml(
    *,
    thing: str,
    endpoint: str,
    port: int,
    ca_file: str,
    cert_file: str,
    key_file: str,
    spool_dir: str,
    capture: CaptureDefaults,
    spool: SpoolDefaults,
) -> str:
    """The edge uploader's TOML config, with exactly the sections and keys
    `humwatch_edge.config` reads ([device], [mqtt], [capture], [spool])."""
    return "\n".join(
        [
            "# humwatch-edge configuration written by `humwatch provision-device`.",
            f"# Publishes (Basic Ingest) {contracts.upload_request_ingest_topic(thing)} and",
            f"# {contracts.telemetry_ingest_topic(thing)},",
            f"# subscribes to {contracts.upload_response_topic(thing)}. Check it with `humwatch-edge check`.",
            "[device]",
            f"thing_name = {_toml_str(thing)}",
            "",
            "[mqtt]",
            f"endpoint = {_toml_str(endpoint)}",
            f"port = {int(port)}",
            f"ca_file = {_toml_str(ca_file)}",
            f"cert_file = {_toml_str(cert_file)}",
            f"key_file = {_toml_str(key_file)}",
            "",
            "[capture]",
            f"source = {_toml_str(capture.source)}",
            f"interval_s = {float(capture.interval_s)}",
            f"duration_s = {float(capture.duration_s)}",
            f"sample_rate = {int(capture.sample_rate)}",
            "",
            "[spool]",
            f"dir = {_toml_str(spool_dir)}",
            f"max_bytes = {int(spool.max_bytes)}",
            f"max_clips = {int(spool.max_clips)}",
            "",
        ]
    )


def amazon_root_ca_pem(
    *, bundle_path: str | None = None, fetch: Callable[[str], bytes] | None = None
) -> str | None:
    """Amazon Root CA 1 (what IoT Core's ATS endpoint chains to): from the certifi bundle when
    installed, else downloaded; None when neither works (the caller then says what to do)."""
    if bundle_path is None:
        try:
            import certifi

            bundle_path = certifi.where()
        except ImportError:
            bundle_path = None
    if bundle_path and Path(bundle_path).is_file():
        text = Path(bundle_path).read_text()
        at = text.find(AMAZON_ROOT_CA_LABEL)
        if at >= 0:
            begin = text.find("-----BEGIN CERTIFICATE-----", at)
            end = text.find("-----END CERTIFICATE-----", begin)
            if begin >= 0 and end >= 0:
                return text[begin : end + len("-----END CERTIFICATE-----")] + "\n"
    try:
        data = (fetch or _download)(AMAZON_ROOT_CA_URL)
    except OSError:
        return None
    pem = data.decode("ascii", errors="replace")
    return pem if "BEGIN CERTIFICATE" in pem else None


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as reply:  # a fixed https URL
        return bytes(reply.read())


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def check_out_dir(out_dir: Path) -> None:
    """Refuse before touching the account if credentials are already there."""
    existing = [name for name in CREDENTIAL_FILES if (out_dir / name).exists()]
    if existing:
        raise AlreadyExists(
            f"refusing to overwrite existing device credentials in {out_dir} ({', '.join(existing)}); "
            "choose another --out directory"
        )


def provision_device(
    request: ProvisionRequest,
    iot: IotAdmin,
    *,
    register_device: Callable[[str, str | None, str], None],
    root_ca_pem: Callable[[], str | None] = amazon_root_ca_pem,
) -> ProvisionResult:
    """Create the thing and its credentials, write them and the config to `request.out_dir`."""
    thing = request.thing
    if not contracts.is_valid_thing_name(thing):
        raise ConfigError(
            f"invalid thing name {thing!r}: use 1-64 letters, digits, '-' or '_' "
            "(the name appears in MQTT topics and S3 keys)"
        )
    out_dir = request.out_dir
    check_out_dir(out_dir)
    if request.ca_file is not None and not request.ca_file.is_file():
        raise ConfigError(f"CA file not found: {request.ca_file}")
    if not iot.policy_exists(request.policy):
        raise NotFound(
            f"IoT policy {request.policy!r} not found: is the stack deployed (or the local stack up)?"
        )
    if iot.thing_exists(thing):
        # Never attach a second identity to a registered thing: it may be a live device (two
        # certificates for one name) or another application's thing in the same account.
        attached = "with a certificate attached" if iot.thing_certificates(thing) else "without a certificate"
        raise AlreadyExists(
            f"thing {thing!r} is already registered in IoT Core ({attached}); refusing to provision it "
            "again. Choose a new thing name (if the new device replaces this one, run "
            f"`humwatch device revoke {thing}` first)"
        )
    endpoint = request.endpoint or iot.data_endpoint()
    out_dir.mkdir(parents=True, exist_ok=True)

    notes: list[str] = []
    iot.create_thing(thing, {"machine_type": request.machine_type})
    issued: IssuedCertificate | None = None
    written: list[Path] = []
    try:
        cert_path, key_path = out_dir / CERT_FILE, out_dir / KEY_FILE
        if request.local_ca_dir is not None:
            issued = _issue_with_local_ca(request.local_ca_dir, thing, iot, cert_path, key_path)
        else:
            issued = iot.create_keys_and_certificate()
            assert issued.private_key_pem is not None
            _write_private(key_path, issued.private_key_pem)
            cert_path.write_text(issued.certificate_pem)
        written += [cert_path, key_path]
        iot.attach_policy(request.policy, issued.certificate_arn)
        iot.attach_thing_principal(thing, issued.certificate_arn)

        ca_path: Path | None = out_dir / CA_FILE
        assert ca_path is not None
        if request.ca_file is not None:
            if request.ca_file.resolve() != ca_path.resolve():
                ca_path.write_bytes(request.ca_file.read_bytes())
                written.append(ca_path)
        else:
            pem = root_ca_pem()
            if pem is None:
                notes.append(f"could not obtain Amazon Root CA 1: download {AMAZON_ROOT_CA_URL} to {ca_path}")
            else:
                ca_path.write_text(pem)
                written.append(ca_path)

        device_dir = request.device_dir or out_dir.resolve()
        config_path = out_dir / CONFIG_FILE
        config_path.write_text(
            edge_config_toml(
                thing=thing,
                endpoint=endpoint,
                port=request.port,
                ca_file=str(device_dir / CA_FILE),
                cert_file=str(device_dir / CERT_FILE),
                key_file=str(device_dir / KEY_FILE),
                spool_dir=str(DEVICE_SPOOL_DIR if request.device_dir else out_dir.resolve() / "spool"),
                capture=request.capture,
                spool=request.spool,
            )
        )
        written.append(config_path)
        register_device(thing, request.model_id, request.machine_type)
    except (HumwatchError, OSError) as exc:
        cert_leftovers: list[str] = []
        if issued is not None:
            cert_leftovers = iot.deactivate_and_delete_certificate(
                issued.certificate_arn, request.policy, thing
            )
        # The thing goes too (this run created it): otherwise the retry would find it registered.
        thing_leftovers = iot.delete_thing(thing)
        for path in written:
            path.unlink(missing_ok=True)
        if cert_leftovers or thing_leftovers:
            raise _rollback_incomplete(exc, thing, issued, cert_leftovers, thing_leftovers) from exc
        raise

    return ProvisionResult(
        thing=thing,
        certificate_arn=issued.certificate_arn,
        endpoint=endpoint,
        port=request.port,
        cert_path=cert_path,
        key_path=key_path,
        ca_path=ca_path if ca_path.exists() else None,
        config_path=config_path,
        model_id=request.model_id,
        notes=tuple(notes),
    )


def _rollback_incomplete(
    exc: HumwatchError | OSError,
    thing: str,
    issued: IssuedCertificate | None,
    cert_leftovers: list[str],
    thing_leftovers: list[str],
) -> HumwatchError:
    """The original error, plus what could not be undone and how to remove it by hand: a
    certificate left active would still let a device with its key connect, and a thing left
    behind makes the next attempt refuse the name."""
    fixes: list[str] = []
    if cert_leftovers and issued is not None:
        cert_id = issued.certificate_id
        fixes.append(
            f"certificate {issued.certificate_arn} may still be active: remove it with `aws iot "
            f"update-certificate --certificate-id {cert_id} --new-status INACTIVE` and `aws iot "
            f"delete-certificate --certificate-id {cert_id} --force-delete` (detach its policy and thing "
            "first if those steps failed)"
        )
    if thing_leftovers:
        fixes.append(f"thing {thing!r} is left: delete it with `aws iot delete-thing --thing-name {thing}`")
    note = f"undoing it also failed ({'; '.join(cert_leftovers + thing_leftovers)}), so " + "; and ".join(
        fixes
    )
    if isinstance(exc, HumwatchError):
        return type(exc)(f"{exc.message}; {note}", code=exc.code)  # same kind of error, longer story
    return HumwatchError(f"{exc}; {note}")


def _issue_with_local_ca(
    ca_dir: Path, thing: str, iot: IotAdmin, cert_path: Path, key_path: Path
) -> IssuedCertificate:
    """Local stack: the broker trusts the local CA, so sign there and register the certificate."""
    from humwatch import pki  # local-stack only (cryptography, an optional dependency)

    ca = pki.load_ca(ca_dir)
    issued_cert, issued_key = pki.issue_cert(ca, thing, cert_path.parent)
    # issue_cert names files after the thing; keep the provision layout's fixed names.
    issued_cert.rename(cert_path)
    issued_key.rename(key_path)
    return iot.register_certificate(cert_path.read_text())
