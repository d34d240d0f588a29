"""Catalog overrides: applied when the catalog is built (bot/catalog/overrides.py) and read from TOML
with one-line errors naming the key (bot/catalog_overrides.py)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.catalog import build_catalog
from bot.catalog.overrides import CatalogOverrides, FixedPrice, ModelOverride, OverrideError
from bot.catalog_overrides import load_overrides, menu_catalog
from bot.config import SettingsError, load_price_settings

ROOT = Path(__file__).resolve().parents[2]


def test_overrides_hide_reorder_rename_mark_and_price() -> None:
    plain = build_catalog()
    shaped = build_catalog(
        menu=CatalogOverrides(
            order=("kling26", "wan25"),
            models={
                "sora2": ModelOverride(hidden=True),
                "kling26": ModelOverride(
                    names={"ru": "Клинг"}, badges=("new",), markup=Decimal("2"),
                    fixed_prices=(FixedPrice("t2v", {"sound": "off"}, 9),),
                ),
            },
        )
    )
    assert [e.key for e in shaped.offerable()][:2] == ["kling26", "wan25"]
    assert "sora2" not in [e.key for e in shaped.offerable()] and shaped.get("sora2") is not None
    assert all(e.key != "sora2" for c in shaped.categories() for e in shaped.in_category(c))
    assert len(shaped.entries) == len(plain.entries)
    kling = shaped.get("kling26")
    assert kling is not None
    assert kling.name("ru") == "Клинг" and kling.name("en") == plain.get("kling26").name("en")  # type: ignore[union-attr]
    assert kling.display_name("en").startswith("🆕 ")
    assert shaped.quote("kling26", "t2v", {"sound": "off"}).user_credits == 9
    assert shaped.quote("kling26", "t2v", {"sound": "on"}).user_credits == 220  # 110 KIE × 2
    assert shaped.quote("kling26", "i2v", {"sound": "off"}).user_credits == 110  # not fixed: 55 × 2
    assert kling.min_user_price == 9
    assert build_catalog(menu=CatalogOverrides()).entries == plain.entries


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (CatalogOverrides(order=("nope",)), "order[0]"),
        (CatalogOverrides(models={"nope": ModelOverride()}), "models.nope"),
        (CatalogOverrides(models={"kling26": ModelOverride(fixed_prices=(FixedPrice("v2v", {}, 5),))}),
         "models.kling26.price[0].mode"),
        (CatalogOverrides(models={"kling26": ModelOverride(
            fixed_prices=(FixedPrice("t2v", {"duration": "7"}, 5),))}), "models.kling26.price[0].options"),
        (CatalogOverrides(models={"kling26": ModelOverride(badges=("hot",))}), "models.kling26.badges"),
    ],
)
def test_overrides_that_do_not_fit_the_catalog_name_their_key(overrides: CatalogOverrides, key: str) -> None:
    with pytest.raises(OverrideError) as caught:
        build_catalog(menu=overrides)
    assert caught.value.key == key


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("order = 'kling26'", "order: must be a list"),
        ("[models.kling26]\nhiden = true", "models.kling26.hiden: unknown key"),
        ("[models.kling26]\nhidden = 'yes'", "models.kling26.hidden: must be true or false"),
        ("[models.kling26]\nmarkup = -1", "models.kling26.markup: must be a positive number"),
        ("[models.kling26]\nname = { de = 'X' }", "models.kling26.name:"),
        ("[[models.kling26.price]]\nmode = 't2v'\ncredits = 0", "models.kling26.price[0].credits:"),
        ("[[models.kling26.price]]\ncredits = 5", "models.kling26.price[0].mode: is required"),
        ("[models.kling26\n", "is not valid TOML"),
        ("[models.nosuch]\nhidden = true", "models.nosuch: no model 'nosuch'"),
    ],
)
def test_bad_files_are_one_line_naming_the_key(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "overrides.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        menu_catalog(load_price_settings(_env_file=None), path)
    message = str(caught.value)
    assert needle in message and "\n" not in message
    assert message.startswith(f"CATALOG_OVERRIDES_FILE ({path})")


def test_missing_file_and_no_file(tmp_path: Path) -> None:
    assert load_overrides(None) is None
    with pytest.raises(SettingsError, match="cannot be read"):
        load_overrides(tmp_path / "absent.toml")


def test_the_example_file_is_valid() -> None:
    catalog = menu_catalog(load_price_settings(_env_file=None), ROOT / "catalog-overrides.example.toml")
    assert catalog.offerable()[0].key == "kling26"


def test_marks_are_catalog_data_the_file_may_add_or_drop(tmp_path: Path) -> None:
    plain = build_catalog()
    assert plain.get("veo_fast").badges == ("recommended",)  # type: ignore[union-attr]
    assert plain.get("kling30").badges == ("new",)  # type: ignore[union-attr]
    path = tmp_path / "overrides.toml"
    path.write_text(
        "[models.veo_fast]\nrecommended = false\nnew = true\n[models.kling30]\nname = { en = 'K3' }\n",
        encoding="utf-8",
    )
    shaped = menu_catalog(load_price_settings(_env_file=None), path)
    assert shaped.get("veo_fast").badges == ("new",)  # type: ignore[union-attr]
    assert shaped.get("kling30").badges == ("new",)  # type: ignore[union-attr]  # unset: the catalog's mark
    assert shaped.get("kling30").display_name("en") == "🆕 K3"  # type: ignore[union-attr]
