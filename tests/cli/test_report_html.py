"""``wscli bench --report``: a well-formed, self-contained page whose charts draw the series.

The charts are checked by reading their geometry back: each ``<svg>`` states its domain
and plot box, so every point can be turned back into the value it draws and compared
with the run's ``--json`` series. A real headless Chromium then renders the page.
"""

from __future__ import annotations

import html.parser
import math
import os
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Any

import pytest
from helpers import TIMEOUT

import wscli
from wscli.histogram import Histogram
from wscli.report import ReportData, percentile_curve, render_report

from .test_bench import result_of, run, serving

SVG = "{http://www.w3.org/2000/svg}"
VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "wbr", "source"}


class TagChecker(html.parser.HTMLParser):
    """Checks that every element is closed in order, and collects tag names."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def check_well_formed(page: str) -> TagChecker:
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.problems == [] and checker.stack == []
    return checker


def charts(page: str) -> dict[str, ET.Element]:
    """Every inline SVG, parsed as XML, by its ``<title>``."""
    found = {}
    for text in re.findall(r"<svg .*?</svg>", page, flags=re.S):
        svg = ET.fromstring(text)
        title = svg.find(f"{SVG}title")
        assert title is not None and title.text
        found[title.text] = svg
    return found


class Scale:
    """Turns a chart's pixels back into values, from the attributes it declares."""

    def __init__(self, svg: ET.Element) -> None:
        self.left, self.top, self.width, self.height = map(float, svg.attrib["data-plot"].split())
        self.x_min, self.x_max = float(svg.attrib["data-x-min"]), float(svg.attrib["data-x-max"])
        self.y_min, self.y_max = float(svg.attrib["data-y-min"]), float(svg.attrib["data-y-max"])
        self.x_log = svg.attrib["data-x-scale"] == "log"
        self.y_log = svg.attrib["data-y-scale"] == "log"

    @staticmethod
    def _value(fraction: float, low: float, high: float, log: bool) -> float:
        if log:
            return low * math.exp(fraction * math.log(high / low))
        return low + fraction * (high - low)

    def x(self, pixel: float) -> float:
        return self._value((pixel - self.left) / self.width, self.x_min, self.x_max, self.x_log)

    def y(self, pixel: float) -> float:
        fraction = (self.top + self.height - pixel) / self.height
        return self._value(fraction, self.y_min, self.y_max, self.y_log)


def line_values(svg: ET.Element, name: str) -> list[tuple[float, float]]:
    scale = Scale(svg)
    values = []
    for element in svg.iter():
        if element.attrib.get("data-name") != name:
            continue
        if element.tag == f"{SVG}circle":
            pairs = [(element.attrib["cx"], element.attrib["cy"])]
        else:
            pairs = [tuple(p.split(",")) for p in element.attrib["points"].split()]
        values += [(scale.x(float(px)), scale.y(float(py))) for px, py in pairs]
    return values


def close(a: float, b: float, svg: ET.Element, relative: float = 0.0) -> bool:
    """Equal within what 0.01 px of rounding can hide (and ``relative`` for log axes)."""
    scale = Scale(svg)
    pixel = (scale.y_max - scale.y_min) / scale.height * 0.02
    return abs(a - b) <= pixel + relative * max(abs(a), abs(b))


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, Path]:
    path = tmp_path_factory.mktemp("report") / "run.html"
    with serving() as url:
        result = run(
            url, "-c", "2", "-d", "2.2s", "--pipeline", "2", "--json", "--report", str(path)
        )
    assert result.status == 0, result.stderr
    return result_of(result), path.read_text(encoding="utf-8"), path


def test_report_is_well_formed_and_self_contained(bench_run: Any) -> None:
    _, page, _ = bench_run
    checker = check_well_formed(page)
    assert page.startswith("<!DOCTYPE html>")
    assert "script" not in checker.tags and "link" not in checker.tags
    assert "img" not in checker.tags and "iframe" not in checker.tags
    # Nothing fetched from anywhere: the SVG namespace is a name, not a request.
    assert re.findall(r"https?://[^\"' <]+", page) == ["http://www.w3.org/2000/svg"] * len(
        charts(page)
    )
    assert " src=" not in page and "href" not in page and "url(" not in page
    assert "@import" not in page and "@font-face" not in page
    assert "prefers-color-scheme: dark" in page and "@media print" in page


def test_every_chart_has_axes_with_titles_and_units(bench_run: Any) -> None:
    _, page, _ = bench_run
    found = charts(page)
    assert set(found) == {
        "Echoes verified per second",
        "Echoed payload per second",
        "Latency percentiles per second",
        "Latency histogram",
        "Latency by percentile",
        "Errors per second",
        "Connections over time",
    }
    for svg in found.values():
        titles = [t.text or "" for t in svg.iter(f"{SVG}text") if t.get("class") == "axis-title"]
        assert len(titles) == 2
        ticks = [t for t in svg.iter(f"{SVG}text") if t.get("class") == "tick"]
        assert len(ticks) >= 4
    latency = found["Latency percentiles per second"]
    assert any("(ms" in (t.text or "") for t in latency.iter(f"{SVG}text"))
    assert any("(s)" in (t.text or "") for t in latency.iter(f"{SVG}text"))


def test_throughput_chart_draws_the_series(bench_run: Any) -> None:
    data, page, _ = bench_run
    series = data["series"]
    svg = charts(page)["Echoes verified per second"]
    drawn = line_values(svg, "msg/s")
    assert len(drawn) == len(series)
    for (x, y), row in zip(drawn, series, strict=True):
        assert abs(x - (row["t"] + 0.5)) < 0.01
        assert close(y, row["messages"] / row["seconds"], svg)
    payload = charts(page)["Echoed payload per second"]
    for (_, y), row in zip(line_values(payload, "MB/s"), series, strict=True):
        assert close(y, row["bytes"] / row["seconds"] / 1e6, payload)


def test_latency_chart_draws_each_percentile_of_each_second(bench_run: Any) -> None:
    data, page, _ = bench_run
    svg = charts(page)["Latency percentiles per second"]
    assert svg.attrib["data-y-scale"] == "log"
    for key in ("p50", "p90", "p99", "max"):
        expected = [row["latency_ms"][key] for row in data["series"] if row["latency_ms"]["count"]]
        drawn = [y for _, y in line_values(svg, key)]
        assert len(drawn) == len(expected)
        for got, want in zip(drawn, expected, strict=True):
            assert close(got, want, svg, relative=0.001), key


def test_distribution_and_errors_charts_count_what_the_run_counted(bench_run: Any) -> None:
    data, page, _ = bench_run
    found = charts(page)
    bars = [b for b in found["Latency histogram"].iter(f"{SVG}rect") if b.get("class") == "bar"]
    assert sum(float(b.attrib["data-value"]) for b in bars) == data["latency_ms"]["count"]
    errors = [b for b in found["Errors per second"].iter(f"{SVG}rect") if b.get("class") == "bar"]
    assert [float(b.attrib["data-value"]) for b in errors] == [
        row["errors"] for row in data["series"]
    ]
    curve = line_values(found["Latency by percentile"], "latency")
    assert abs(curve[-1][1] - data["latency_ms"]["max"]) <= data["latency_ms"]["max"] * 0.01
    assert [y for _, y in curve] == sorted(y for _, y in curve)  # never goes down


def test_percentile_curve_spreads_the_tail() -> None:
    latency = Histogram()
    for value in range(1, 1001):
        latency.record_ns(value * 1000)
    curve = percentile_curve(latency)
    assert curve[0] == (1.0, pytest.approx(0.001, rel=0.02))
    spreads = [x for x, _ in curve]
    assert 10.0 in [round(x, 9) for x in spreads] and 100.0 in [round(x, 9) for x in spreads]
    assert curve[-1] == (pytest.approx(1000.0), pytest.approx(1.0))


def test_what_a_peer_or_the_command_line_chose_is_escaped(tmp_path: Path) -> None:
    hostile = '<script>alert(1)</script>"\x1b]0;owned\x07'

    def close_with_markup(ws: wscli.WebSocket, request: Any) -> None:
        ws.on("message", lambda data, flags: ws.close(1011, hostile))

    server = wscli.Server("127.0.0.1", 0)
    server.on("connection", close_with_markup)
    path = tmp_path / "hostile.html"
    try:
        result = run(
            f"ws://127.0.0.1:{server.port}/<b>",
            "-n",
            "3",
            "-H",
            "X-Note: <img src=x onerror=alert(1)>",
            "--report",
            str(path),
        )
    finally:
        server.close(timeout=2)
    assert result.status == 1
    page = path.read_text(encoding="utf-8")
    checker = check_well_formed(page)
    assert "script" not in checker.tags and "img" not in checker.tags and "b" not in checker.tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;\\x1b]0;owned\\x07" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "\x1b" not in page and "\x07" not in page
    charts(page)  # the SVG still parses


def test_unwritable_report_path_fails_before_the_run(tmp_path: Path) -> None:
    result = run("ws://127.0.0.1:9/", "-n", "1", "--report", str(tmp_path / "missing" / "r.html"))
    assert result.status == 2
    assert "cannot write" in result.stderr and "--report" in result.stderr


def test_an_empty_run_still_renders() -> None:
    page = render_report(ReportData("t", [("a", "b")], [], [], Histogram()))
    check_well_formed(page)
    assert charts(page) == {}


# -- in a real browser ---------------------------------------------------------------------


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def read_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB or RGBA PNG into rows of pixels (enough for a screenshot)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat, header = 8, b"", b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and color in (2, 6) and header[12] == 0  # not interlaced
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                guess = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + guess) & 0xFF
        rows.append(bytes(line[i] for i in range(stride) if i % channels < 3))
        previous = line
    return width, height, rows


def chromium(browser: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={tmp / 'profile'}",
            *args,
        ],
        capture_output=True,
        timeout=TIMEOUT * 6,
        env={**os.environ, "HOME": str(tmp)},
    )


@pytest.fixture(scope="module")
def browser() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium installed (.ci/run installs the chromium package)")
    return path


def test_chromium_builds_every_chart_into_the_dom(
    bench_run: Any, browser: str, tmp_path: Path
) -> None:
    _, page, path = bench_run
    done = chromium(browser, tmp_path, "--dump-dom", path.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout.decode()
    assert dom.count("<svg") == len(charts(page)) == 7
    assert dom.count("<polyline") + dom.count("<circle") == page.count("<polyline") + page.count(
        "<circle"
    )
    assert dom.count('class="bar"') == page.count('class="bar"') > 0


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_chromium_draws_the_report(
    bench_run: Any, browser: str, tmp_path: Path, dark: bool
) -> None:
    _, _, path = bench_run
    shot = tmp_path / "shot.png"
    options = ["--force-dark-mode"] if dark else []
    done = chromium(
        browser,
        tmp_path,
        *options,
        "--window-size=1200,1600",
        f"--screenshot={shot}",
        path.as_uri(),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    width, height, rows = read_png(shot.read_bytes())
    assert (width, height) == (1200, 1600)
    background = rows[5][:3]
    assert (sum(background) < 3 * 60) == dark  # the theme follows prefers-color-scheme
    # The charts' region (below the tables) is mostly drawn, not blank: count the rows
    # with ink, and the distinct colours (lines, bars, text, panels).
    ink_rows = sum(1 for row in rows[400:] if row != background * width)
    colours = {row[i : i + 3] for row in rows[400::7] for i in range(0, len(row), 21)}
    assert ink_rows > 600
    assert len(colours) > 20
