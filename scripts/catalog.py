#!/usr/bin/env python3
"""The event catalogue: built from the official Bitrix24 REST documentation.

    scripts/catalog.py vendor DOCS_CHECKOUT   copy the event pages of a checkout of
                                              github.com/bitrix24/b24restdocs into
                                              catalog/source/ (then run build)
    scripts/catalog.py build                  write catalog/events.json from
                                              catalog/source/ and catalog/overrides.json
    scripts/catalog.py check                  exit 1 when catalog/events.json is not
                                              what build would write (a test runs this)

The documentation is MIT-licensed (catalog/source/LICENSE). Only the pages that
describe REST events (and the `events` method's page, whose example answer lists
the portal's events) are kept, unchanged, so that the catalogue can be rebuilt
and checked without the whole checkout. docs/events.md says how it is made and
used.
"""

import json
import os
import re
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CATALOG = os.path.join(ROOT, "catalog")
SOURCE = os.path.join(CATALOG, "source")
OVERRIDES = os.path.join(CATALOG, "overrides.json")
OUTPUT = os.path.join(CATALOG, "events.json")
DOCS_URL = "https://github.com/bitrix24/b24restdocs/blob/main/"

# An event's name as a page's title writes it: onCrmDealAdd, ONTASKADD,
# CATALOG.PRODUCT.ON.ADD.
NAME_TOKEN = re.compile(r"^(?:[Oo][Nn][A-Z][A-Za-z0-9]*|ON[A-Z0-9]{3,}|[A-Z]+(?:\.[A-Z]+)*\.ON\.[A-Z]+)$")
SCOPE_LINE = re.compile(r"^>\s*Scope:\s*(.*)$", re.M)
WHO_LINE = re.compile(r"^>\s*Who can subscribe:\s*(.*)$", re.M)
LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
JSON_BLOCK = re.compile(r"```json\s*\n(.*?)\n```", re.S)
METHOD = re.compile(r"\b([a-z][a-z0-9]*(?:\.[a-z0-9]+)+\.get)\b")


def event_name(text):
    """The event a page describes: the `event` of its example request, else the
    name in its title; None for a page about no single REST event."""
    for block in JSON_BLOCK.findall(text):
        try:
            example = json.loads(block)
        except ValueError:
            continue
        if isinstance(example, dict) and isinstance(example.get("event"), str):
            return example["event"].upper()
    title = text.split("\n", 1)[0].lstrip("# ")
    for token in title.split():
        if NAME_TOKEN.match(token):
            return token.upper()
    return None


def title_of(text, event):
    """The page's title without the event's name."""
    title = text.split("\n", 1)[0].lstrip("# ")
    words = [w for w in title.split() if w.upper() != event]
    return plain(" ".join(words))


def is_event_page(path, text):
    """A REST event's page: a scope line and an event's name, and not a page of
    the browser-side (placement) events, which `/rest/` cannot bind."""
    return (
        not path.endswith("index.md")
        and (SCOPE_LINE.search(text) or WHO_LINE.search(text)) is not None
        and "not a REST event" not in text
        and "::" not in text.split("\n", 1)[0]
        and event_name(text) is not None
    )


# Pages that describe several events, one `## NAME` section each, with the
# scope their events need.
MULTI_EVENT_PAGES = {
    "api-reference/chat-bots/chat-bots-v2/imbot.v2/events/events.md": "imbot",
}

# The answer of the `events` method in its documentation: the events a portal
# lists, some of which no page describes.
EVENTS_METHOD_PAGE = "api-reference/events/events.md"


def vendor(checkout):
    """Copies every event page of the checkout into catalog/source/."""
    reference = os.path.join(checkout, "api-reference")
    if not os.path.isdir(reference):
        sys.exit(f"{checkout} has no api-reference/: is it a b24restdocs checkout?")
    if os.path.isdir(SOURCE):
        for entry in os.listdir(SOURCE):
            if entry != "LICENSE":
                shutil.rmtree(os.path.join(SOURCE, entry), ignore_errors=True)
    copied = 0
    for folder, _, files in os.walk(reference):
        for name in sorted(files):
            if not name.endswith(".md"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            relative = os.path.relpath(path, checkout)
            wanted = relative in MULTI_EVENT_PAGES or relative == EVENTS_METHOD_PAGE
            if not wanted and not is_event_page(path, text):
                continue
            target = os.path.join(SOURCE, relative)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8") as f:
                f.write(text)
            copied += 1
    licence = os.path.join(checkout, "LICENSE")
    if os.path.exists(licence):
        shutil.copyfile(licence, os.path.join(SOURCE, "LICENSE"))
    print(f"copied {copied} event pages into {os.path.relpath(SOURCE, ROOT)}")


def plain(markdown):
    """Markdown inline text as plain text: links to their words, no emphasis,
    no attribute blocks, one line."""
    text = LINK.sub(r"\1", markdown)
    text = re.sub(r"\{[.#][^}]*\}", "", text)
    text = text.replace("**", "").replace("`", "")
    return " ".join(text.split())


def first_sentence_block(text):
    """The paragraph after the scope quote: the page's one-line summary."""
    lines = text.split("\n")
    seen_quote = False
    paragraph = []
    for line in lines[1:]:
        stripped = line.strip()
        if stripped.startswith(">"):
            seen_quote = True
            continue
        if not seen_quote:
            continue
        if stripped.startswith("{%") or stripped.startswith("#"):
            if paragraph:
                break
            continue
        if not stripped:
            if paragraph:
                break
            continue
        paragraph.append(stripped)
    return plain(" ".join(paragraph))


def tables(text):
    """Each YFM table (`#| ... |#`) with the heading it follows: a list of
    (heading, rows), each row (name, type, description)."""
    found = []
    heading = ""
    for match in re.finditer(r"^(#{2,4} [^\n]*)$|^#\|[ \t]*$(.*?)^\|#[ \t]*$", text, re.M | re.S):
        if match.group(1):
            heading = match.group(1)
            continue
        body = match.group(2)
        rows = []
        # The first row names the columns.
        for cell in body.split("||")[2:]:
            cell = cell.strip()
            if not cell or "|" not in cell:
                continue
            # `\|` separates alternative types inside the first column.
            head, _, description = cell.replace("\\|", "\0").partition("|")
            head = head.replace("\0", "|")
            description = description.replace("\0", "|")
            name_match = re.match(r"\*\*([^*]+)\*\*", head.strip())
            if not name_match:
                continue
            name = name_match.group(1).strip().rstrip("*")
            kind = "|".join(re.findall(r"`([^`]+)`", head.strip()[name_match.end():]))
            if not kind and "|" in description:
                # Three columns: name | type | description.
                column, _, description = description.partition("|")
                kind = "|".join(re.findall(r"`([^`]+)`", column))
            rows.append((name, kind, description.strip()))
        found.append((heading, rows))
    return found


def describe(description):
    """A field's meaning: its description's first paragraph, plain, bounded."""
    first = description.split("\n\n", 1)[0]
    text = plain(first)
    if len(text) > 240:
        text = text[:237].rstrip() + "..."
    return text


def fields_of(text):
    """The `data` fields: the main table's `data.*` rows, then the rows of each
    table under a "Parameter X" heading, named after the `data` field X."""
    all_tables = tables(text)
    if not all_tables:
        return []
    fields = []
    known = []
    for name, kind, description in all_tables[0][1]:
        if name == "data" or name.startswith("data."):
            known.append(name)
            if name != "data":
                fields.append({"name": name, "type": kind, "description": describe(description)})
    for heading, rows in all_tables[1:]:
        match = re.search(r"Parameter[s]?\s+([A-Za-z0-9_.]+)", heading)
        if not match or match.group(1).lower() == "auth":
            continue
        key = match.group(1)
        parent = next(
            (k for k in known if k.split(".")[-1].lower() == key.lower()), None
        )
        if parent is None:
            continue
        for name, kind, description in rows:
            full = f"{parent}.{name}"
            known.append(full)
            fields.append({"name": full, "type": kind, "description": describe(description)})
    return fields


def payload_of(text, event):
    """The `data` of the page's example request, or None when the example is
    not JSON (a few pages show an annotated sketch)."""
    for block in JSON_BLOCK.findall(text):
        try:
            example = json.loads(block)
        except ValueError:
            continue
        if isinstance(example, dict) and "data" in example:
            if str(example.get("event", event)).upper() == event:
                return example["data"]
    return None


def id_path(data):
    """Where the changed object's id sits in `data`."""
    if not isinstance(data, dict):
        return None
    for container in ("FIELDS", "FIELDS_AFTER", "fields", "PARAMS"):
        inner = data.get(container)
        if isinstance(inner, dict):
            for key in ("ID", "id", "Id"):
                if key in inner:
                    return f"{container}.{key}"
    for key in ("ID", "id"):
        if key in data:
            return key
    return None


def entry(relative, text, overrides):
    event = event_name(text)
    scope_match = SCOPE_LINE.search(text)
    scope_line = scope_match.group(1) if scope_match else ""
    scopes = re.findall(r"`([a-z0-9_.]+)`", scope_line)
    who = WHO_LINE.search(text)
    data = payload_of(text, event)
    outdated = "/outdated/" in relative or "/outdated-" in relative
    record = {
        "name": event,
        "title": title_of(text, event),
        "scope": scopes[0] if scopes else "",
        "scopes": scopes,
        "who_can_subscribe": plain(who.group(1)) if who else "",
        "summary": first_sentence_block(text),
        "data": data,
        "fields": fields_of(text),
        "fetch": None,
        "outdated": outdated,
        "source": DOCS_URL + relative,
    }
    if "DELETE" not in event:
        mentioned = sorted(set(METHOD.findall(text)))
        path = id_path(data)
        if len(mentioned) == 1 and path:
            record["fetch"] = {"method": mentioned[0], "id_path": path, "param": "id"}
    override = overrides.get(event)
    if override:
        for key, value in override.items():
            if key == "fetch" and value is not None:
                record["fetch"] = {"param": "id", **value}
            else:
                record[key] = value
    return record


def section_entries(relative, text, scope):
    """The events of a page with one `## NAME {#anchor}` section each."""
    sections = re.split(r"^## ", text, flags=re.M)[1:]
    found = []
    for section in sections:
        heading, _, body = section.partition("\n")
        name_match = re.match(r"(ON[A-Z0-9]+)\s*(\{#[^}]*\})?\s*$", heading.strip())
        if not name_match:
            continue
        event = name_match.group(1)
        paragraph = []
        for line in body.split("\n"):
            stripped = line.strip()
            if not stripped:
                if paragraph:
                    break
                continue
            if stripped.startswith(("#", "{%", "|")):
                break
            paragraph.append(stripped)
        data = None
        for block in JSON_BLOCK.findall(body):
            try:
                data = json.loads(block)
                break
            except ValueError:
                continue
        fields = []
        for _, rows in tables(body)[:1]:
            for name, kind, description in rows:
                fields.append({"name": f"data.{name}", "type": kind, "description": describe(description)})
        anchor = (name_match.group(2) or "").strip("{}")
        found.append({
            "name": event,
            "title": "",
            "scope": scope,
            "scopes": [scope],
            "who_can_subscribe": "",
            "summary": plain(" ".join(paragraph)),
            "data": data,
            "fields": fields,
            "fetch": None,
            "outdated": False,
            "source": DOCS_URL + relative + anchor,
        })
    return found


def listed_by_portal():
    """The events the `events` method's documented answer lists."""
    path = os.path.join(SOURCE, EVENTS_METHOD_PAGE)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return sorted(set(re.findall(r'"(ON[A-Z0-9_]+)"', text)))


def unpaged_entry(event):
    """An event the portal lists that no page describes."""
    return {
        "name": event,
        "title": "",
        "scope": "",
        "scopes": [],
        "who_can_subscribe": "",
        "summary": "Listed by the events method's documented answer; no page of the documentation describes it.",
        "data": None,
        "fields": [],
        "fetch": None,
        "outdated": False,
        "source": DOCS_URL + EVENTS_METHOD_PAGE,
    }


def build():
    with open(OVERRIDES, encoding="utf-8") as f:
        overrides = {k: v for k, v in json.load(f).items() if not k.startswith("_")}
    events = {}
    for folder, _, files in os.walk(SOURCE):
        for name in sorted(files):
            if not name.endswith(".md"):
                continue
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, SOURCE)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            if relative == EVENTS_METHOD_PAGE:
                continue
            if relative in MULTI_EVENT_PAGES:
                records = section_entries(relative, text, MULTI_EVENT_PAGES[relative])
            else:
                records = [entry(relative, text, overrides)]
            for record in records:
                previous = events.get(record["name"])
                # A current page wins over an outdated one; else the first path.
                if previous is None or (previous["outdated"] and not record["outdated"]) or (
                    previous["outdated"] == record["outdated"] and record["source"] < previous["source"]
                ):
                    events[record["name"]] = record
    for event in listed_by_portal():
        # ONCRMDYNAMICITEMADD_147: a smart process type's own name for an event
        # the catalogue has without the suffix.
        if event not in events and re.sub(r"_\d+$", "", event) not in events:
            events[event] = unpaged_entry(event)
    for event, record in events.items():
        override = overrides.get(event)
        if override and record["source"].endswith(EVENTS_METHOD_PAGE):
            for key, value in override.items():
                record[key] = value
        # What a delete leaves cannot be fetched.
        if "DELETE" in event:
            record["fetch"] = None
    unknown = sorted(set(overrides) - set(events))
    if unknown:
        sys.exit(f"overrides for events no page describes: {', '.join(unknown)}")
    catalogue = {
        "source": "https://github.com/bitrix24/b24restdocs (MIT licence, catalog/source/LICENSE)",
        "events": [events[name] for name in sorted(events)],
    }
    return json.dumps(catalogue, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "vendor" and len(sys.argv) == 3:
        vendor(sys.argv[2])
    elif sys.argv[1:] == ["build"]:
        with open(OUTPUT, "w", encoding="utf-8") as f:
            f.write(build())
    elif sys.argv[1:] == ["check"]:
        with open(OUTPUT, encoding="utf-8") as f:
            committed = f.read()
        if committed != build():
            sys.exit("catalog/events.json differs from what scripts/catalog.py build writes: run it and commit the result")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
