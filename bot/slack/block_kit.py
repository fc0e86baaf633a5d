"""Block Kit primitives, one copy each, within Slack's limits by construction.

Text that goes into mrkdwn must already be escaped (bot/slack/mrkdwn.py, or a template, which
escapes what a person wrote). `clip` never cuts an escape such as `&amp;` or a `<…>` token
(a mention, a date) in half.
"""

from __future__ import annotations

from typing import Any

Block = dict[str, Any]
Message = dict[str, Any]  # what chat.postMessage takes: text, blocks, …

MAX_MESSAGE_BLOCKS = 50  # per message; a modal or the Home tab may hold 100
MAX_SECTION_CHARS = 3000
MAX_BUTTON_CHARS = 75
MORE_THAN_FITS = "…and more than fits here."


def clip(text: str, limit: int = MAX_SECTION_CHARS) -> str:
    """At most `limit` characters, never cutting an escape such as `&amp;` or a `<…>` token."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    for opener, closer in (("&", ";"), ("<", ">")):
        start = cut.rfind(opener)
        if start != -1 and closer not in cut[start:]:
            cut = cut[:start]
    return cut + "…"


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def mrkdwn_text(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text)}


def section(text: str, *, accessory: Block | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn_text(text)}
    if accessory is not None:
        block["accessory"] = accessory
    return block


def context(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn_text(text)]}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text)}


def button(text: str, action_id: str, value: str, *, style: str | None = None) -> Block:
    found: Block = {
        "type": "button",
        "text": plain(text[:MAX_BUTTON_CHARS]),
        "action_id": action_id,
        "value": value,
    }
    if style:
        found["style"] = style
    return found


def sections(lines: list[str]) -> list[Block]:
    """Lines packed into as few sections as the 3000-character limit allows."""
    chunks: list[str] = []
    for line in lines:
        line = clip(line)
        if chunks and len(chunks[-1]) + 1 + len(line) <= MAX_SECTION_CHARS:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    return [section(chunk) for chunk in chunks if chunk.strip()]


def fit(
    blocks: list[Block], limit: int = MAX_MESSAGE_BLOCKS, *, keep_last: bool = True
) -> list[Block]:
    """At most `limit` blocks: the middle is cut with an "…" (the last block, buttons or a
    footer, is kept), or with `keep_last=False` the end, saying more did not fit."""
    if len(blocks) <= limit:
        return blocks
    if keep_last:
        return [*blocks[: limit - 2], context("…"), blocks[-1]]
    return [*blocks[: limit - 1], context(MORE_THAN_FITS)]


def one_line(text: str, limit: int | None = None) -> str:
    """A person's text on one line (whitespace runs become one space), cut at `limit`."""
    line = " ".join(text.split())
    if limit is None or len(line) <= limit:
        return line
    return line[: limit - 1].rstrip() + "…"
