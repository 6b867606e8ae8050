"""The chart of a release: a bar chart drawn by matplotlib (Agg backend) as SVG, safe under the console's CSP.

The console's Content-Security-Policy allows no inline style, so the SVG's ``style`` attributes
become SVG presentation attributes and its ``<style>`` element is dropped; it holds no script and
no link. Only published cells are drawn: a suppressed cell has no value to show.
"""

from __future__ import annotations

import io
import threading
import xml.etree.ElementTree as ET
from typing import Any

__all__ = ["release_chart"]

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
MAX_BARS = 30
_LOCK = threading.Lock()  # matplotlib's text layout caches are not thread-safe
_PRESENTATION = {"fill", "fill-opacity", "stroke", "stroke-width", "stroke-linecap", "stroke-linejoin",
                 "stroke-opacity", "stroke-dasharray", "stroke-dashoffset", "stroke-miterlimit", "opacity",
                 "font-family", "font-size", "font-weight", "font-style", "text-anchor", "clip-path"}


def _label(row: list[Any]) -> str:
    return " · ".join(str(v) for v in row[:-1])


def _csp_safe(svg: str, label: str) -> str:
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    root = ET.fromstring(svg)  # noqa: S314 - matplotlib's own output
    for parent in root.iter():
        for child in list(parent):
            if child.tag in (f"{{{SVG_NS}}}style", f"{{{SVG_NS}}}script", f"{{{SVG_NS}}}metadata"):
                parent.remove(child)
    for element in root.iter():
        style = element.attrib.pop("style", None)
        if not style:
            continue
        for declaration in style.split(";"):
            name, _, value = declaration.partition(":")
            name, value = name.strip(), value.strip()
            if name == "font":  # "font: 10px 'DejaVu Sans'" -> size and family
                size, _, family = value.partition(" ")
                element.set("font-size", size)
                element.set("font-family", family.strip("'\""))
            elif name in _PRESENTATION and value:
                element.set(name, value)
    root.set("role", "img")
    root.set("aria-label", label)
    return ET.tostring(root, encoding="unicode")


def release_chart(document: dict[str, Any], *, title: str = "") -> str:
    """The published cells, largest first (at most 30 bars), as an inline-safe SVG string."""
    rows = [r for r in document["rows"] if r[-1] is not None]
    rows.sort(key=lambda r: (-int(r[-1]), _label(r)))
    shown = rows[:MAX_BARS]
    height = 1.6 + 0.32 * max(len(shown), 1)
    # Imported here, not with the app: matplotlib costs a few hundred milliseconds to load.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    with _LOCK:
        figure = Figure(figsize=(8, height), dpi=96)
        axes = figure.add_subplot()
        if shown:
            labels = [_label(r) for r in reversed(shown)]
            values = [int(r[-1]) for r in reversed(shown)]
            error = float(document["expected_error"]["plus_minus"])
            axes.barh(labels, values, color="#2b6cb0", xerr=[error] * len(values), ecolor="#555555", capsize=2)
            axes.set_xlabel("count (with noise; bars show ± the 95% error)")
        else:
            axes.text(0.5, 0.5, "Every cell was suppressed (all counts below k).", ha="center", va="center",
                      transform=axes.transAxes)
            axes.set_axis_off()
        axes.set_title(title or ", ".join(document["columns"][:-1]), fontsize=10)
        axes.tick_params(labelsize=8)
        figure.tight_layout()
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None})
    label = f"Bar chart of the published counts by {title or 'cell'}; the same figures are in the table below."
    return _csp_safe(out.getvalue(), label)
