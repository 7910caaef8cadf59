"""The report's charts, drawn with matplotlib (Agg, no display) and returned as PNG bytes."""

from __future__ import annotations

import io
from typing import Any

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"]


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.6), dpi=96)
    ax.grid(True, alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _png(fig: Any) -> bytes:
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    for ax in fig.axes:
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def db_time_chart(series: dict[str, Any]) -> bytes:
    """Database time per interval, stacked by the top statements (and everything else)."""
    fig, ax = _figure()
    labels = [*series["labels"], "other statements"]
    colors = PALETTE[: len(series["labels"])] + ["#cccccc"]
    ax.stackplot(series["times"], *series["db_time_s"], labels=labels, colors=colors, step="pre" if len(series["times"]) < 3 else None)
    ax.set_ylabel("DB time per interval (s)")
    ax.set_title("Database time by statement")
    ax.legend(loc="upper left", fontsize=7, frameon=False, bbox_to_anchor=(1.0, 1.0))
    return _png(fig)


def latency_chart(series: dict[str, Any]) -> bytes:
    """Mean latency per interval of the top statements."""
    fig, ax = _figure()
    for index, (label, values) in enumerate(zip(series["labels"], series["mean_ms"], strict=True)):
        ax.plot(series["times"], values, marker="." if len(values) < 50 else None, label=label, color=PALETTE[index % len(PALETTE)])
    ax.set_ylabel("mean time (ms)")
    ax.set_title("Mean latency of the top statements")
    ax.legend(loc="upper left", fontsize=7, frameon=False, bbox_to_anchor=(1.0, 1.0))
    return _png(fig)


def calls_chart(series: dict[str, Any]) -> bytes:
    """Calls per second over the window (all statements of the database)."""
    fig, ax = _figure()
    ax.plot(series["times"], series["calls_per_s"], color=PALETTE[0], marker="." if len(series["times"]) < 50 else None)
    ax.fill_between(series["times"], series["calls_per_s"], alpha=0.15, color=PALETTE[0])
    ax.set_ylabel("calls / s")
    ax.set_title("Calls per second")
    ax.set_ylim(bottom=0)
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
