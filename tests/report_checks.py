"""Checks shared by the report tests: well-formed HTML whose every figure is embedded."""

from __future__ import annotations

import base64
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.images: list[str] = []
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes.get("src") or "")
        for name in ("src", "href"):
            value = attributes.get(name)
            if value is not None and not value.startswith("data:"):
                self.problems.append(f"<{tag} {name}={value[:40]!r}> needs another file or the network")
        if tag in ("script", "link", "iframe"):
            self.problems.append(f"<{tag}> in a self-contained report")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else 'nothing'}>")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def check_report(text: str) -> tuple[list[bytes], str]:
    """Assert ``text`` is well-nested HTML with only embedded PNG images; return them and the text."""
    assert text.startswith("<!DOCTYPE html>")
    checker = _Checker()
    checker.feed(text)
    checker.close()
    assert not checker.problems, checker.problems
    assert not checker.stack, f"unclosed: {checker.stack}"
    pngs = []
    for source in checker.images:
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        png = base64.b64decode(source[len(prefix) :], validate=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        pngs.append(png)
    return pngs, " ".join(checker.text)
