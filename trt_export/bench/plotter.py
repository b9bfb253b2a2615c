"""The sweep's PNG plots, drawn by a process that imported matplotlib before it was needed.

Drawing the plots needs matplotlib (about 0.5 s to import on 2 cores) before the first figure, and
the sweep used to pay that import after its last candidate, on the way to its exit. The sweep
starts a plotter beside the worker server instead (``python -m trt_export.bench.plotter``): it
imports matplotlib and the renderer while the sweep starts up (before anything is measured), says
``{"ready": true}`` (after drawing one throw-away figure: the first pays the font cache and the
renderer's set-up) and then waits, blocked on its stdin, using no CPU while candidates are
timed. When the report is final the sweep writes bench.json into its staging dir and sends
``{"report": BENCH_JSON, "out": DIR}``; the plotter draws from that file what ``write_plots``
draws and answers ``{"plots": [PATH, ...]}`` (or ``{"error": ...}``), then exits. Meanwhile the
sweep writes the CSV and copies the logs.

Where the plotter is not there, did not start or failed, the sweep draws the plots itself, as
before: the same files, and a failure raises the same error.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from trt_export.bench.forkserver import LineReader

READY_TIMEOUT_S = 60.0  # drawing a handful of figures never takes this long
DRAW_TIMEOUT_S = 120.0


def serve() -> int:
    import io

    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    from trt_export.bench.guard import die_with_parent
    from trt_export.bench.report import load_bench_report
    from trt_export.report.render import write_plots

    die_with_parent()
    # The first figure pays one-time costs (the font cache, the Agg renderer): paid here, now.
    fig, ax = plt.subplots(figsize=(2, 2), dpi=50)
    ax.plot([0, 1], [0, 1], "o-", label="warm-up")
    ax.legend()
    fig.tight_layout()
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)
    print(json.dumps({"ready": True}), flush=True)
    line = sys.stdin.readline()
    if not line.strip():
        return 0  # the sweep ended without asking (it failed, or drew nothing)
    request = json.loads(line)
    try:
        plots = write_plots(load_bench_report(request["report"]), request["out"])
    except Exception as exc:  # noqa: BLE001 - the sweep draws them itself and reports the error
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    print(json.dumps({"plots": [str(p) for p in plots]}), flush=True)
    return 0


class Plotter:
    """The sweep's handle on one plotter process (started now, asked once)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "trt_export.bench.plotter"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        self._reader = LineReader(self.proc.stdout.fileno(), wake_s=0.1)
        self._asked = False  # draw() sent it a report: it exits by itself once it answered

    def draw(self, report_file: Path, out_dir: Path) -> list[Path] | None:
        """The plots of ``report_file`` drawn into ``out_dir``; None when the plotter could not."""
        try:
            ready = self._reader.read(READY_TIMEOUT_S)
            if not ready or not ready.get("ready"):
                return None
            assert self.proc.stdin is not None
            self._asked = True
            self.proc.stdin.write(json.dumps({"report": str(report_file), "out": str(out_dir)}) + "\n")
            self.proc.stdin.flush()
            answer = self._reader.read(DRAW_TIMEOUT_S)
        except (EOFError, OSError, ValueError):
            return None
        finally:
            self.close()
        if not answer or "plots" not in answer:
            return None
        return [Path(p) for p in answer["plots"]]

    def close(self) -> None:
        if self.proc.poll() is None and not self._asked:
            self.proc.kill()  # never asked (the sweep failed or drew nothing): it may still be importing
            self.proc.wait()
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()  # EOF: an idle plotter exits
            except OSError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_plotter(env: dict[str, str]) -> Any:
    """A started :class:`Plotter`, or None where a process cannot be started (plots drawn in-process)."""
    try:
        return Plotter(env)
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(serve())
