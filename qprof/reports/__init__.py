"""Reports over a window of the history: a JSON-ready document (:mod:`.build`), matplotlib
charts (:mod:`.charts`) and Markdown / self-contained HTML renderings (:mod:`.render`)."""
