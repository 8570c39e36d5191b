"""The authority report as a readable HTML page: every value escaped, no script, no style
attribute; a fixed stylesheet in the head (the page is served with the gateway's CSP)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

__all__ = ["render_html"]

_STYLE = (
    "body{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:1.4}"
    "th{text-align:left;vertical-align:top;padding-right:1em}"
    "td,th{border-bottom:1px solid #ddd;padding:.3em}"
)

#: The sections of the report in Art. 33(3) order, with their headings.
_SECTIONS = (
    ("nature", "Nature of the breach"),
    ("dataCategories", "Categories of personal data"),
    ("dataSubjects", "Data subjects concerned"),
    ("records", "Personal data records concerned"),
    ("contactPoint", "Contact point"),
    ("likelyConsequences", "Likely consequences"),
    ("measures", "Measures taken or proposed"),
    ("timing", "Timing"),
)


def _label(name: str) -> str:
    spaced = "".join(" " + c.lower() if c.isupper() else c for c in name)
    return html.escape(spaced[:1].upper() + spaced[1:])


def _value(value: Any) -> str:
    if isinstance(value, Mapping):
        rows = "".join(
            f"<tr><th>{_label(str(k))}</th><td>{_value(v)}</td></tr>" for k, v in value.items()
        )
        return f"<table>{rows}</table>"
    if isinstance(value, list | tuple):
        if not value:
            return "<em>none</em>"
        return "<ul>" + "".join(f"<li>{_value(v)}</li>" for v in value) + "</ul>"
    if value is None:
        return "<em>not known</em>"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return html.escape(str(value)).replace("\n", "<br>")


def render_html(document: Mapping[str, Any]) -> str:
    """*document* (``resolvers.breach.report.build_report``) as a standalone HTML page."""
    title = f"Personal data breach report, version {document.get('version', '?')}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Incident {html.escape(str(document.get('incident', '')))}, "
        f"submitted {html.escape(str(document.get('submittedAt', '')))}.</p>",
    ]
    for key, heading in _SECTIONS:
        if key in document:
            parts.append(f"<h2>{html.escape(heading)}</h2>{_value(document[key])}")
    parts.append("</body></html>")
    return "\n".join(parts)
