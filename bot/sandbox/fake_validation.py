"""Block Kit and view validation for FakeSlack.

Blocks go through ``slack_sdk.models.blocks.Block.parse(b).to_dict()`` (which validates lengths
and required fields) plus the checks the SDK does not make: block counts, unknown block or
element types (the SDK silently turns them into ``None``) and duplicate ``block_id``s.
Errors are reported like Slack does, as ``[ERROR] ... [json-pointer:/path]`` strings.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from .fake_models import ApiError

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT_CHARS = 40_000
MAX_VIEW_BYTES = 250_000
MAX_PRIVATE_METADATA = 3000
MAX_MODAL_BUTTON_CHARS = 24
MAX_ID_CHARS = 255


def _err(message: str, pointer: str) -> str:
    return f"[ERROR] {message} [json-pointer:{pointer}]"


def _lost_children(given: Any, parsed: Any, pointer: str, out: list[str]) -> None:
    """Find sub-objects the SDK dropped because it did not know their type."""
    if isinstance(given, dict) and isinstance(parsed, dict):
        for key, value in given.items():
            if key not in parsed:
                if isinstance(value, dict) and "type" in value:
                    out.append(_err(f"unsupported type: {value['type']}", f"{pointer}/{key}"))
                continue
            _lost_children(value, parsed[key], f"{pointer}/{key}", out)
    elif isinstance(given, list) and isinstance(parsed, list) and len(given) == len(parsed):
        for i, (g, p) in enumerate(zip(given, parsed, strict=True)):
            if p is None and g is not None:
                kind = g.get("type") if isinstance(g, dict) else type(g).__name__
                out.append(_err(f"unsupported type: {kind}", f"{pointer}/{i}"))
            else:
                _lost_children(g, p, f"{pointer}/{i}", out)


@functools.lru_cache(maxsize=4096)
def _block_problems(block_json: str) -> tuple[tuple[str, str], ...]:
    """(message, relative pointer) problems of one block, cached by its JSON text."""
    block = json.loads(block_json)
    if not isinstance(block, dict):
        return (("must be an object", ""),)
    try:
        parsed_block = Block.parse(block)
        if parsed_block is None:
            return ((f"unsupported type: {block.get('type')}", ""),)
        parsed = parsed_block.to_dict()
    except SlackObjectFormationError as exc:
        return ((str(exc), ""),)
    except Exception as exc:  # malformed shapes make the SDK raise TypeError & co.
        return ((f"invalid block: {exc}", ""),)
    lost: list[str] = []
    _lost_children(block, parsed, "", lost)
    return tuple(_split_err(e) for e in lost)


def _split_err(err: str) -> tuple[str, str]:
    message, _, pointer = err.removeprefix("[ERROR] ").rpartition(" [json-pointer:")
    return message, pointer.rstrip("]")


def block_errors(blocks: list[Any], *, limit: int, pointer: str) -> list[str]:
    """Return Slack-style error strings for a list of blocks (empty when valid)."""
    errors: list[str] = []
    if len(blocks) > limit:
        errors.append(_err(f"no more than {limit} items allowed", pointer))
        return errors
    seen_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"{pointer}/{i}"
        try:
            block_json = json.dumps(block, sort_keys=True)
        except (TypeError, ValueError):
            errors.append(_err("must be JSON", where))
            continue
        problems = _block_problems(block_json)
        errors.extend(_err(message, where + rel) for message, rel in problems)
        if problems or not isinstance(block, dict):
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or len(block_id) > MAX_ID_CHARS:
                errors.append(_err("block_id must be a string of at most 255 chars", where))
            elif block_id in seen_ids:
                errors.append(_err(f"duplicate block_id: {block_id}", f"{where}/block_id"))
            else:
                seen_ids.add(block_id)
    return errors


def decode_json_arg(value: Any) -> Any:
    """Decode a JSON-encoded argument (form bodies carry blocks/view/... as strings)."""
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def check_message_content(args: dict[str, Any], *, require_content: bool = True) -> None:
    """Apply chat.postMessage content rules; raise ApiError like Slack."""
    text = args.get("text")
    blocks = args.get("blocks")
    attachments = args.get("attachments")
    if blocks is not None and not isinstance(blocks, list):
        raise ApiError("invalid_blocks_format", messages=[_err("must be an array", "/blocks")])
    if attachments is not None and not isinstance(attachments, list):
        raise ApiError("invalid_attachments")
    if require_content and not text and not blocks and not attachments:
        raise ApiError("no_text")
    if text is not None and len(str(text)) > MAX_TEXT_CHARS:
        raise ApiError("msg_too_long")
    if blocks:
        errors = block_errors(blocks, limit=MAX_MESSAGE_BLOCKS, pointer="/blocks")
        if errors:
            raise ApiError("invalid_blocks", messages=errors, extra={"errors": errors})


def _plain_text_len(obj: Any) -> int | None:
    if isinstance(obj, str):
        return len(obj)
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        return len(obj["text"])
    return None


def check_view(view: Any, *, expected_type: str) -> None:
    """Validate a view like views.open/push/update/publish do; raise ApiError(invalid_arguments)."""
    if not isinstance(view, dict):
        raise ApiError("invalid_arguments", messages=[_err("must be an object", "/view")])
    errors: list[str] = []
    if view.get("type") != expected_type:
        errors.append(_err(f"type must be {expected_type}", "/view/type"))
    try:
        size = len(json.dumps(view))
    except (TypeError, ValueError):
        size = 0
        errors.append(_err("view is not JSON serialisable", "/view"))
    if size > MAX_VIEW_BYTES:
        raise ApiError("view_too_large")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        errors.append(_err("missing required field: blocks", "/view/blocks"))
    else:
        errors.extend(block_errors(blocks, limit=MAX_VIEW_BLOCKS, pointer="/view/blocks"))
    metadata = view.get("private_metadata")
    if metadata is not None and (
        not isinstance(metadata, str) or len(metadata) > MAX_PRIVATE_METADATA
    ):
        errors.append(_err("must be a string of at most 3000 characters", "/view/private_metadata"))
    for key in ("callback_id", "external_id"):
        value = view.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_ID_CHARS):
            errors.append(_err("must be a string of at most 255 characters", f"/view/{key}"))
    if expected_type == "modal":
        if view.get("title") is None:
            errors.append(_err("missing required field: title", "/view/title"))
        for key in ("title", "submit", "close"):
            length = _plain_text_len(view.get(key))
            if view.get(key) is not None and (length is None or length < 1):
                errors.append(_err("must be a plain_text object", f"/view/{key}"))
            elif length is not None and length > MAX_MODAL_BUTTON_CHARS:
                errors.append(_err("must be less than 25 characters", f"/view/{key}/text"))
        has_input = isinstance(blocks, list) and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks
        )
        if has_input and view.get("submit") is None:
            errors.append(
                _err("submit is required when the view contains an input block", "/view/submit")
            )
    if not errors:
        try:
            View(**view).to_dict()
        except SlackObjectFormationError as exc:
            errors.append(_err(str(exc), "/view"))
        except Exception as exc:
            errors.append(_err(f"invalid view: {exc}", "/view"))
    if errors:
        raise ApiError("invalid_arguments", messages=errors)
