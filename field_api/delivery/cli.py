"""Receipt commands: ``flask --app wsgi cache-jwks`` and ``flask --app wsgi verify-receipt``.

``verify-receipt`` works offline: it reads the server keys from ``--jwks FILE`` or from the cache
``cache-jwks`` wrote (``instance/jwks-cache.json``) and never touches the database or the network.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from app.auth.credentials import receipt_jwks
from field_api.delivery.receipt_token import MAX_PNG_BYTES, ReceiptError, decode_png, verify_receipt

CACHE_NAME = "jwks-cache.json"


def cache_path() -> Path:
    return Path(current_app.instance_path) / CACHE_NAME


def _read_jwks(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise click.ClickException(
            f"no JWKS at {path}: run `flask --app wsgi cache-jwks` or pass --jwks FILE"
        ) from None
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"unreadable JWKS {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise click.ClickException(f'{path} is not a JWKS ({{"keys": [...]}})')
    return data


@click.command("cache-jwks")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Where to write (default: instance/{CACHE_NAME})",
)
@with_appcontext
def cache_jwks(output):
    """Write the server's public keys for offline receipt verification. Every key that may have
    signed a device credential is kept, retired ones included, and keys already in the file stay."""
    path = output or cache_path()
    keys = receipt_jwks()["keys"]
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8")).get("keys") or []
        except (OSError, ValueError, AttributeError):
            old = []
        known = {json.dumps(k, sort_keys=True) for k in keys}
        keys += [k for k in old if isinstance(k, dict) and json.dumps(k, sort_keys=True) not in known]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"keys": keys}, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    click.echo(f"wrote {len(keys)} key(s) to {path}")


def _is_file(arg: str) -> bool:
    try:
        return Path(arg).is_file()
    except (OSError, ValueError):  # a token is no file name (too long, NUL…)
        return False


@click.command("verify-receipt")
@click.argument("receipt")
@click.option(
    "--jwks",
    "jwks_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"JWKS file (default: the cache at instance/{CACHE_NAME})",
)
@with_appcontext
def verify_receipt_command(receipt, jwks_file):
    """Verify a receipt offline: RECEIPT is the token itself or a PNG (or text) file holding it.
    Exit status 0 when valid, 1 when not."""
    jwks = _read_jwks(jwks_file or cache_path())
    token = receipt
    if _is_file(receipt):
        try:
            with open(receipt, "rb") as fh:
                data = fh.read(MAX_PNG_BYTES + 1)
        except OSError as exc:
            raise click.ClickException(f"cannot read {receipt}: {exc}") from None
        if data.startswith(b"\x89PNG"):
            try:
                token = decode_png(data)
            except ReceiptError as exc:
                click.echo(f"invalid\nreasons: {exc.reason}\ndetail: {exc.detail}")
                sys.exit(1)
        else:
            token = data.decode("utf-8", errors="replace").strip()
    result = verify_receipt(token, jwks)
    click.echo("valid" if result.valid else "invalid")
    click.echo("reasons: " + (", ".join(result.reasons) or "-"))
    if result.detail:
        click.echo(f"detail: {result.detail}")
    if result.claims:
        click.echo("claims:" if result.valid else "claims (signed, but the receipt is not valid):")
        for name, value in result.claims.items():
            click.echo(f"  {name}: {value}")
    sys.exit(0 if result.valid else 1)
