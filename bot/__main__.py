"""`python -m bot` runs the bot; `python -m bot models [--json]` prints the catalog;
`python -m bot kie-check` checks the catalog against KIE's model list (needs only KIE_API_KEY)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.config import SettingsError, load_settings
from bot.logging_setup import setup_logging
from bot.store.db import StoreError

EXIT_CONFIG = 2


def _fail(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return EXIT_CONFIG


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="KIE video bot for Telegram")
    sub = parser.add_subparsers(dest="command")
    models = sub.add_parser("models", help="print the model catalog with KIE ids, options and prices")
    models.add_argument("--json", action="store_true", help="machine-readable JSON")
    check = sub.add_parser(
        "kie-check",
        help="check the catalog against KIE's model list, prices and request schemas (needs KIE_API_KEY)",
    )
    check.add_argument("--only", default="", help="comma-separated catalog keys to check (default: all)")
    args = parser.parse_args(argv)

    if args.command == "models":
        return _print_models(as_json=args.json)
    if args.command == "kie-check":
        return _kie_check(frozenset(k.strip() for k in args.only.split(",") if k.strip()))

    try:
        settings = load_settings()
    except SettingsError as exc:
        return _fail(str(exc))
    setup_logging(settings.log_level, settings.secrets)
    from bot.catalog_overrides import menu_catalog

    try:
        # A bad overrides file stops the bot here, in one line, before anything starts.
        menu_catalog(settings, settings.catalog_overrides_file)
    except SettingsError as exc:
        return _fail(str(exc))

    from bot.app import run
    from bot.coordination.connection import RedisUnavailable

    try:
        asyncio.run(run(settings, freeze_heap=True))
    except (StoreError, RedisUnavailable) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        pass
    return 0


def _print_models(*, as_json: bool) -> int:
    from bot.catalog_overrides import menu_catalog
    from bot.cli_models import print_models
    from bot.config import load_price_settings

    try:
        settings = load_price_settings()
        catalog = menu_catalog(settings, settings.catalog_overrides_file)
    except SettingsError as exc:
        return _fail(str(exc))
    try:
        print_models(catalog, as_json=as_json, out=sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:  # `python -m bot models | head`
        sys.stderr.close()
    return 0


def _kie_check(only: frozenset[str]) -> int:
    from bot.catalog_overrides import menu_catalog
    from bot.cli_kie_check import load_kie_check_settings
    from bot.cli_kie_check import main as kie_check_main

    try:
        settings = load_kie_check_settings()
        catalog = menu_catalog(settings, settings.catalog_overrides_file)
    except SettingsError as exc:
        return _fail(str(exc))
    unknown = sorted(only - {e.key for e in catalog.entries})
    if unknown:
        return _fail(f"--only names unknown catalog keys: {', '.join(unknown)} (see `python -m bot models`)")
    setup_logging("WARNING", [settings.kie_api_key.get_secret_value()])
    return kie_check_main(catalog, settings, only, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
