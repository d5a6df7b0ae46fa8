"""A browser as far as the protocol tests need one: the forms, links and options of a page."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import requests


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.links: list[str] = []
        self.options: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get").lower(), "fields": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "option":
            self.options.append(a.get("value", ""))


def parse(response: requests.Response) -> Page:
    page = Page()
    page.feed(response.text)
    return page
