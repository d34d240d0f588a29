"""Telegram-flavoured HTML parse mode (tdlib's rules and wording), entities, UTF-16 offsets."""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.telegram.constants import BOT_COMMAND_IN_TEXT_RE, _words
from tests.fakes.telegram.records import TgError

# ============================================================================= HTML parse mode
_HTML_TAGS = frozenset(
    _words("a b strong i em u ins s strike del span tg-spoiler code pre blockquote tg-emoji")
)
_SIMPLE_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(
    r"&(?:#(?:[xX](?P<hex>[0-9a-fA-F]{1,8})|(?P<dec>[0-9]{1,10}))|(?P<name>[a-zA-Z]{2,4}));"
)


def _utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def _decode_entity_at(text: str, i: int) -> tuple[str, int]:
    """Decode an HTML entity at text[i] == '&'. Unknown entities stay literal, like tdlib."""
    m = _ENTITY_RE.match(text, i)
    if m is None:
        return "&", 1
    if m.group("name") is not None:
        value = _NAMED_ENTITIES.get(m.group("name"))
        if value is None:
            return "&", 1
        return value, m.end() - i
    code = int(m.group("hex"), 16) if m.group("hex") is not None else int(m.group("dec"))
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return "&", 1
    return chr(code), m.end() - i


def _decode_entities(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "&":
            value, used = _decode_entity_at(text, i)
            out.append(value)
            i += used
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram-flavoured HTML like tdlib does: return (plain text, entities).

    Raises TgError(400, "Bad Request: can't parse entities: ...") with tdlib's wording for
    unsupported/unclosed/unmatched tags. Entity offsets are in UTF-16 code units.
    """

    def fail(msg: str) -> TgError:
        return TgError(400, f"Bad Request: can't parse entities: {msg}")

    def byte_offset(pos: int) -> int:
        return len(text[:pos].encode("utf-8"))

    out: list[str] = []
    u16 = 0
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, int, dict[str, str]]] = []
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "&":
            value, used = _decode_entity_at(text, i)
            out.append(value)
            u16 += _utf16_len(value)
            i += used
            continue
        if c != "<":
            out.append(c)
            u16 += _utf16_len(c)
            i += 1
            continue
        begin = i
        i += 1
        if i < n and text[i] == "/":
            if not stack:
                raise fail(f"Unexpected end tag at byte offset {byte_offset(begin)}")
            j = i + 1
            while j < n and not text[j].isspace() and text[j] != ">":
                j += 1
            end_name = text[i + 1 : j].lower()
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != ">":
                raise fail(f"Unclosed end tag at byte offset {byte_offset(begin)}")
            tag, start, attrs = stack.pop()
            if end_name and end_name != tag:
                raise fail(
                    f'Unmatched end tag at byte offset {byte_offset(begin)}, expected "</{tag}>", '
                    f'found "</{end_name}>"'
                )
            entity = _make_entity(tag, attrs, start, u16 - start, stack)
            if entity is not None:
                entities.append(entity)
            i = j + 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] != ">":
            j += 1
        if j >= n:
            raise fail(f"Unclosed start tag at byte offset {byte_offset(begin)}")
        tag = text[i:j].lower()
        if tag not in _HTML_TAGS:
            raise fail(f'Unsupported start tag "{tag}" at byte offset {byte_offset(begin)}')
        attrs: dict[str, str] = {}
        i = j
        while True:
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise fail(f"Unclosed start tag at byte offset {byte_offset(begin)}")
            if text[i] == ">":
                i += 1
                break
            attr_begin = i
            while i < n and not text[i].isspace() and text[i] not in "=>":
                i += 1
            attr_name = text[attr_begin:i].lower()
            if not attr_name:
                raise fail(f'Empty attribute name in the tag "{tag}" at byte offset {byte_offset(begin)}')
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise fail(f"Unclosed start tag at byte offset {byte_offset(begin)}")
            if text[i] != "=":
                attrs[attr_name] = ""
                continue
            i += 1
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise fail(f"Unclosed start tag at byte offset {byte_offset(begin)}")
            if text[i] in "'\"":
                quote = text[i]
                end = text.find(quote, i + 1)
                if end < 0:
                    raise fail(f"Unclosed end of attribute value at byte offset {byte_offset(i)}")
                value = _decode_entities(text[i + 1 : end])
                i = end + 1
            else:
                value_begin = i
                while i < n and (text[i].isalnum() or text[i] in "_-."):
                    i += 1
                value = text[value_begin:i]
                if not value:
                    raise fail(
                        f'Expected quote in declaration of attribute "{attr_name}" of the tag "{tag}" '
                        f"at byte offset {byte_offset(begin)}"
                    )
            attrs[attr_name] = value
        if tag == "span" and attrs.get("class") != "tg-spoiler":
            raise fail(f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(begin)}')
        if tag == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
            raise fail(
                f"Custom emoji entity must contain a valid emoji-id at byte offset {byte_offset(begin)}"
            )
        stack.append((tag, u16, attrs))
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _make_entity(
    tag: str, attrs: dict[str, str], offset: int, length: int, stack: list[tuple[str, int, dict[str, str]]]
) -> dict[str, Any] | None:
    if length <= 0:
        return None
    entity: dict[str, Any] = {"offset": offset, "length": length}
    if tag == "a":
        href = attrs.get("href", "")
        if not href:
            return None
        entity.update(type="text_link", url=href)
    elif tag == "blockquote":
        entity["type"] = "expandable_blockquote" if "expandable" in attrs else "blockquote"
    elif tag == "tg-emoji":
        entity.update(type="custom_emoji", custom_emoji_id=attrs["emoji-id"])
    elif tag == "code" and stack and stack[-1][0] == "pre":
        lang = attrs.get("class", "")
        if lang.startswith("language-"):
            # tdlib folds <pre><code class="language-x"> into one pre entity with a language
            stack[-1][2]["_language"] = lang[len("language-") :]
            return None
        entity["type"] = "code"
    else:
        entity["type"] = _SIMPLE_ENTITY[tag]
        if tag == "pre" and attrs.get("_language"):
            entity["language"] = attrs["_language"]
    return entity


def _bot_command_entities(text: str) -> list[dict[str, Any]]:
    entities = []
    for m in BOT_COMMAND_IN_TEXT_RE.finditer(text):
        entities.append(
            {
                "type": "bot_command",
                "offset": _utf16_len(text[: m.start()]),
                "length": _utf16_len(m.group(0)),
            }
        )
    return entities


def _strip_text(plain: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    left_stripped = plain.lstrip()
    shift = _utf16_len(plain) - _utf16_len(left_stripped)
    result = left_stripped.rstrip()
    total = _utf16_len(result)
    kept = []
    for entity in entities:
        start = max(int(entity["offset"]) - shift, 0)
        end = min(int(entity["offset"]) + int(entity["length"]) - shift, total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return result, kept
