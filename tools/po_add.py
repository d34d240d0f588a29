"""Append or replace entries in locales/<lang>/LC_MESSAGES/messages.po from a JSON file.

Usage: python tools/po_add.py entries.json   where entries.json is {"key": {"en": "...", "ru": "..."}}.
Keeps the files human-editable; the locale parity test checks the result.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent / "locales"


def main(path: str) -> None:
    entries: dict[str, dict[str, str | list[str]]] = json.loads(Path(path).read_text(encoding="utf-8"))
    for lang in ("en", "ru"):
        po_path = ROOT / lang / "LC_MESSAGES" / "messages.po"
        with po_path.open("rb") as f:
            catalog = read_po(f, locale=lang)
        for key, texts in entries.items():
            text = texts[lang]
            if isinstance(text, list):  # plural forms
                if key in catalog:
                    del catalog[key]
                catalog.add((key, key), tuple(text))
            else:
                if key in catalog:
                    catalog[key].string = text
                else:
                    catalog.add(key, text)
        with po_path.open("wb") as f:
            write_po(f, catalog, width=0, omit_header=False, sort_output=False, no_location=True)


if __name__ == "__main__":
    main(sys.argv[1])
