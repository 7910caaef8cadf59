"""The report's charts, drawn with matplotlib (Agg, no display) and returned as PNG bytes.

With three or more points in time a chart is a time series whose x axis spans exactly the
window; with fewer (a window between two snapshots, as ``qprof record`` makes) a line would be
a single dot, so the same figures are drawn as bars over the whole window instead.
Statement text is shown as plain text: a ``$`` (``$1``, ``$$ … $$``) would otherwise start
matplotlib's math mode and fail the whole report.
"""

from __future__ import annotations

import io
from typing import Any

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"]
MIN_SERIES_POINTS = 3


def plain(label: str) -> str:
    """``label`` as literal text for matplotlib (mathtext off for ``$``), secrets hidden: every
    text a chart draws passes here, and a PNG is an exit like any other."""
    from qprof import redact

    return redact.output(str(label)).replace("$", r"\$")


def _figure(height: float = 3.6) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, height), dpi=96)
    ax.grid(True, alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _png(fig: Any, series: dict[str, Any] | None = None) -> bytes:
    """PNG bytes; for time series (``series`` given) the x axis spans the window only."""
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    if series is not None:
        for ax in fig.axes:
            locator = mdates.AutoDateLocator()
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
            if series.get("start") is not None and series.get("end") is not None and series["end"] > series["start"]:
                ax.set_xlim(series["start"], series["end"])
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _as_bars(series: dict[str, Any]) -> bool:
    return len(series["times"]) < MIN_SERIES_POINTS and "window_db_time_s" in series


def _hbars(values: list[float], labels: list[str], xlabel: str, title: str, colors: list[str]) -> bytes:
    fig, ax = _figure(max(2.2, 0.45 * len(values) + 1.2))
    positions = list(range(len(values)))[::-1]
    ax.barh(positions, values, color=colors)
    ax.set_yticks(positions, [plain(label) for label in labels], fontsize=8)
    for position, value in zip(positions, values, strict=True):
        ax.annotate(f"{value:,.3g}", (value, position), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.set_xlim(left=0)
    return _png(fig)


def _span(series: dict[str, Any]) -> str:
    start, end = series.get("start"), series.get("end")
    return f" ({start:%Y-%m-%d %H:%M:%S} → {end:%H:%M:%S} UTC)" if start is not None and end is not None else ""


def db_time_chart(series: dict[str, Any]) -> bytes:
    """Database time per interval, stacked by the top statements (and everything else)."""
    labels = [*series["labels"], "other statements"]
    colors = PALETTE[: len(series["labels"])] + ["#cccccc"]
    if _as_bars(series):
        return _hbars(series["window_db_time_s"], labels, "DB time in the window (s)", "Database time by statement" + _span(series), colors)
    fig, ax = _figure()
    ax.stackplot(series["times"], *series["db_time_s"], labels=[plain(label) for label in labels], colors=colors)
    ax.set_ylabel("DB time per interval (s)")
    ax.set_title("Database time by statement")
    ax.legend(loc="upper left", fontsize=7, frameon=False, bbox_to_anchor=(1.0, 1.0))
    return _png(fig, series)


def latency_chart(series: dict[str, Any]) -> bytes:
    """Mean latency per interval of the top statements."""
    if _as_bars(series):
        return _hbars(
            series["window_mean_ms"],
            series["labels"],
            "mean time in the window (ms)",
            "Mean latency of the top statements" + _span(series),
            PALETTE[: len(series["labels"])],
        )
    fig, ax = _figure()
    for index, (label, values) in enumerate(zip(series["labels"], series["mean_ms"], strict=True)):
        ax.plot(series["times"], values, marker="." if len(values) < 50 else None, label=plain(label), color=PALETTE[index % len(PALETTE)])
    ax.set_ylabel("mean time (ms)")
    ax.set_title("Mean latency of the top statements")
    ax.legend(loc="upper left", fontsize=7, frameon=False, bbox_to_anchor=(1.0, 1.0))
    return _png(fig, series)


def calls_chart(series: dict[str, Any]) -> bytes:
    """Calls per second over the window (all statements of the database)."""
    if _as_bars(series):
        return _hbars([series["window_calls_per_s"]], ["all statements"], "calls / s over the window", "Calls per second" + _span(series), [PALETTE[0]])
    fig, ax = _figure()
    ax.plot(series["times"], series["calls_per_s"], color=PALETTE[0], marker="." if len(series["times"]) < 50 else None)
    ax.fill_between(series["times"], series["calls_per_s"], alpha=0.15, color=PALETTE[0])
    ax.set_ylabel("calls / s")
    ax.set_title("Calls per second")
    ax.set_ylim(bottom=0)
    return _png(fig, series)


def before_after_chart(rows: list[dict[str, Any]], before: str, after: str) -> bytes:
    """One panel per statement: mean and P95 before and after (``qprof compare``)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    count = max(len(rows), 1)
    fig, axes = plt.subplots(count, 1, figsize=(10, 1.5 * count + 0.6), dpi=96, squeeze=False)
    for ax, row in zip(axes[:, 0], rows, strict=False):
        measures = [("mean", row.get("before_mean_ms"), row.get("mean_ms")), ("P95", row.get("before_p95_ms"), row.get("p95_ms"))]
        positions, values, colors, names = [], [], [], []
        for index, (name, b, a) in enumerate(measures):
            for offset, value, color, side in ((0.2, b, "#9aa7b8", before), (-0.2, a, PALETTE[0], after)):
                positions.append(index * 1.0 + offset)
                values.append(value or 0.0)
                colors.append(color)
                names.append(f"{name} {side}")
        bars = ax.barh(positions, values, height=0.38, color=colors)
        for bar, value, position in zip(bars, values, positions, strict=True):
            ax.annotate(f"{value:,.3g} ms" if value else "—", (bar.get_width(), position), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
        ax.set_yticks([0, 1], ["mean", "P95"], fontsize=8)
        ax.invert_yaxis()
        ax.set_title(plain(row["label"]), fontsize=8, loc="left")
        ax.set_xlim(left=0, right=max(values + [1e-9]) * 1.25)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    handles = [matplotlib.patches.Patch(color="#9aa7b8", label=plain(before)), matplotlib.patches.Patch(color=PALETTE[0], label=plain(after))]
    fig.legend(handles=handles, loc="upper right", fontsize=8, frameon=False)
    return _png(fig)


CHARTS = {
    "db_time": ("Database time by statement", db_time_chart),
    "latency": ("Mean latency of the top statements", latency_chart),
    "calls": ("Calls per second", calls_chart),
}


def render_charts(series: dict[str, Any]) -> dict[str, tuple[str, bytes]]:
    """Every chart as (title, PNG bytes); empty when the window holds no activity."""
    if not series or not series.get("times"):
        return {}
    return {key: (title, draw(series)) for key, (title, draw) in CHARTS.items()}
