"""Making a standalone SVG document fit inline in the report page.

Several charts share one HTML document, so element ids must be unique page-wide: the ids
matplotlib generates are dropped unless something refers to them (clip paths, markers), and
those are prefixed with the chart's key. Series ids (``series-*``) are kept as they are: they
are the page's contract with tests. The XML prolog, DOCTYPE, metadata and namespace
declarations go (the HTML parser knows SVG), and so do the fixed sizes: the chart scales with
the page through its viewBox. Font families go too, so charts use the page's font.
"""

from __future__ import annotations

import re
from html import escape

_ID = re.compile(r' id="([^"]+)"')
_REFERENCE = re.compile(r'(?:url\(#|href="#)([^)"]+)')
_ROOT = re.compile(r"<svg\b[^>]*>")
_VIEWBOX = re.compile(r'viewBox="([^"]+)"')
_FONT_FAMILY = re.compile(r"font-family:[^;\"]*;?\s*")
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
_INDENT = re.compile(r"\n\s+")
_TAG = re.compile(r"<[^>]+>")
_PATH_DATA = re.compile(r' d="[^"]*"')
_LONG_DECIMAL = re.compile(r"(\.\d\d)\d+")


def inline_svg(document: str, key: str, label: str) -> str:
    """``document`` (a whole SVG file) as an ``<svg>`` element for the page, ids made unique
    with ``key``, labelled ``label`` for screen readers."""
    svg = _METADATA.sub("", document[document.index("<svg") :])
    svg = _INDENT.sub("\n", svg)
    # Only markup is rewritten, never text content (legend labels come from user data).
    referenced = {name for tag in _TAG.findall(svg) for name in _REFERENCE.findall(tag)}

    def rename_id(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("series-"):
            return match.group(0)
        return f' id="{key}-{name}"' if name in referenced else ""

    def fix_tag(match: re.Match[str]) -> str:
        tag = _FONT_FAMILY.sub("", match.group(0))
        # Hundredths of a point are far below a pixel; the rest of the digits are bytes only.
        tag = _PATH_DATA.sub(lambda d: _LONG_DECIMAL.sub(r"\1", d.group(0)), tag)
        tag = _ID.sub(rename_id, tag)
        return _REFERENCE.sub(lambda ref: ref.group(0).replace("#", f"#{key}-", 1), tag)

    svg = _TAG.sub(fix_tag, svg)
    view_box = _VIEWBOX.search(svg)
    root = (
        f'<svg viewBox="{view_box.group(1) if view_box else ""}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMinYMin meet">'
    )
    return _ROOT.sub(root, svg, count=1).strip()
