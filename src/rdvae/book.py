"""The main job: chapters -> papermill -> executed notebooks -> ``jupyter-book build -W``.

Each ``book/NN_*.md`` is a MyST-markdown notebook.  Papermill cannot read MyST, so jupytext turns it
into a notebook in memory, papermill executes it with the requested parameters (profile, device, ...)
and writes ``_executed/NN_*.ipynb`` (a git-ignored build product, listed in ``_toc.yml``).  Jupyter
Book 1 then renders exactly those outputs (``execute_notebooks: "off"``) with ``--warningiserror``, so
a missing or failing chapter fails the build.  The widget JavaScript and MathJax are vendored from the
npm registry into ``_static/`` once, so the HTML needs no network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from rdvae import paths

EXECUTED = "_executed"
#: npm packages served locally instead of from a CDN: (package, version, {file in package: destination}).
VENDORED = (
    ("@jupyter-widgets/html-manager", "1.0.15", "widgets"),
    ("mathjax", "3.2.2", "mathjax"),
)


class ChapterFailed(RuntimeError):
    """A chapter raised while papermill executed it."""


def chapter_sources(root: Path, selection: list[str] | None = None) -> list[Path]:
    """``book/NN_*.md`` in order, or those whose stem starts with one of ``selection`` (e.g. ``02``)."""
    sources = sorted((root / "book").glob("[0-9][0-9]_*.md"))
    if not selection:
        return sources
    chosen = [s for s in sources if any(s.stem.startswith(key.removesuffix(".md")) for key in selection)]
    unknown = [
        key for key in selection if not any(s.stem.startswith(key.removesuffix(".md")) for s in sources)
    ]
    if unknown:
        raise ValueError(f"no chapter matches {unknown}; chapters are: {', '.join(s.stem for s in sources)}")
    return chosen


def _copy_package_files(tarball: Path, target: Path, kind: str) -> None:
    with tarfile.open(tarball) as archive:
        members = archive.getmembers()
        for member in members:
            name = member.name.removeprefix("package/")
            if kind == "widgets":
                keep = (
                    name.startswith("dist/")
                    and "/" not in name[5:]
                    and (
                        name.endswith(("embed.js", ".woff", ".woff2", ".ttf", ".eot", ".svg", "LICENSE.txt"))
                    )
                )
                dest = target / Path(name).name
            else:  # mathjax: the combined TeX+MathML component and its web fonts
                keep = name == "es5/tex-mml-chtml.js" or name.startswith("es5/output/chtml/fonts/woff-v2/")
                dest = target / name.removeprefix("es5/")
            if keep and member.isfile():
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(archive.extractfile(member).read())


def vendor_javascript(root: Path) -> None:
    """Put the ipywidgets HTML manager and MathJax under ``_static/`` (npm registry, once)."""
    static = root / "_static"
    stamp = static / ".vendored"
    wanted = json.dumps([f"{pkg}@{version}" for pkg, version, _ in VENDORED])
    if stamp.exists() and stamp.read_text() == wanted:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            "npm not found: it is needed once, to copy the widget JavaScript and MathJax into _static/ "
            "so the book works offline. Install Node.js (`apt-get install nodejs npm` or "
            "`conda install nodejs`)."
        )
    with tempfile.TemporaryDirectory() as tmp:
        for package, version, kind in VENDORED:
            result = subprocess.run(
                [npm, "pack", f"{package}@{version}", "--silent"], cwd=tmp, capture_output=True, text=True
            )
            if result.returncode != 0:
                raise RuntimeError(f"`npm pack {package}@{version}` failed:\n{result.stderr}")
            tarball = Path(tmp) / result.stdout.strip().splitlines()[-1]
            target = static / kind
            shutil.rmtree(target, ignore_errors=True)
            _copy_package_files(tarball, target, kind)
    stamp.write_text(wanted)


def execute_chapter(
    source: Path, output: Path, parameters: dict, root: Path, cell_timeout: int | None = None
) -> None:
    """Execute one MyST chapter with papermill, injecting ``parameters``; write the executed notebook.
    A cell that runs longer than ``cell_timeout`` seconds (None: no limit) fails the chapter."""
    import jupytext
    import nbformat
    import papermill
    from nbclient.exceptions import CellTimeoutError

    notebook = jupytext.read(source)
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        executed = papermill.execute_notebook(
            notebook,
            str(output),
            parameters=parameters,
            cwd=str(root),
            kernel_name="python3",
            progress_bar=False,
            execution_timeout=cell_timeout,
            # The kernel's own log only ever shows noise here: "running over TCP without encryption"
            # (the kernel listens on loopback only) and shutdown messages (jupyter_client interrupts
            # the kernel as it shuts it down, and a kernel caught mid-message logs "KeyboardInterrupt
            # caught in kernel").  Errors in cells reach papermill as messages, not through this log.
            # Loopback TCP, not IPC sockets: with IPC, one of four builds with --jobs 2 hung, a
            # client waiting forever on an idle kernel.
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
    except papermill.PapermillExecutionError as err:
        raise ChapterFailed(
            f"{source.name} failed in cell {err.exec_count}: {err.ename}: {err.evalue}\n"
            f"  the partly executed notebook is {output}"
        ) from None
    except CellTimeoutError as err:  # the message quotes the cell's source
        raise ChapterFailed(
            f"{source.name} stopped: a cell ran past the limit of {cell_timeout} s per cell "
            f"(Profile.cell_timeout_s); a stalled kernel or a cell too slow for this profile.\n{err}"
        ) from None
    for cell in executed.cells:  # show the injected values in the book, not the defaults they replace
        tags = cell.metadata.get("tags", [])
        if "parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    nbformat.write(executed, str(output))


def reads_other_chapters(source: Path) -> bool:
    """Whether the chapter's front matter says ``rdvae: {reads_other_chapters: true}`` (the replication
    report, which gives verdicts on what the figure chapters stored)."""
    import jupytext

    return bool(jupytext.read(source).metadata.get("rdvae", {}).get("reads_other_chapters", False))


def _timed_chapter(
    source: Path, parameters: dict, root: Path, threads: int | None = None, cell_timeout: int | None = None
) -> float:
    if threads is not None:  # this worker's kernels inherit it; torch and BLAS read it when they start
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, str(threads))
    start = time.perf_counter()
    execute_chapter(source, root / EXECUTED / f"{source.stem}.ipynb", parameters, root, cell_timeout)
    return round(time.perf_counter() - start, 2)


def run_chapters(
    sources: list[Path],
    parameters: dict,
    root: Path,
    jobs: int = 1,
    log=print,
    cell_timeout: int | None = None,
) -> dict:
    """Execute ``sources``, each cell limited to ``cell_timeout`` seconds; return the seconds each took.

    With ``jobs`` > 1 that many chapters run at once, each in a worker process whose kernels get
    ``cpus // jobs`` threads (unless ``OMP_NUM_THREADS`` is set), longest first by the last build's
    times.  Chapters that ask for the same run do not train it twice: :func:`rdvae.train.run` holds a
    lock per run.  Chapters that read the others' results (:func:`reads_other_chapters`) run after
    all the rest.  The first chapter that fails stops the build; chapters not yet started are
    cancelled.
    """
    seconds = {}

    def finished(source: Path, took: float) -> None:
        seconds[source.stem] = took
        log(f"  {source.stem:<28} {took:7.1f} s")

    if jobs == 1:
        for source in sources:
            finished(source, _timed_chapter(source, parameters, root, cell_timeout=cell_timeout))
        return seconds
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    last_build = root / EXECUTED / "build.json"
    previous = json.loads(last_build.read_text())["chapters"] if last_build.exists() else {}
    readers = [s for s in sources if reads_other_chapters(s)]
    first = sorted((s for s in sources if s not in readers), key=lambda s: -previous.get(s.stem, 1e9))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        for wave in (first, readers):
            arguments = (parameters, root, threads, cell_timeout)
            futures = {pool.submit(_timed_chapter, s, *arguments): s for s in wave}
            try:
                for future in as_completed(futures):
                    finished(futures[future], future.result())
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    return seconds


def jupyter_book_command() -> list[str]:
    beside_python = Path(sys.executable).parent / "jupyter-book"
    if beside_python.exists():
        return [str(beside_python)]
    found = shutil.which("jupyter-book")
    if found is None:
        raise RuntimeError("jupyter-book is not installed; run `pip install -e '.[book]'`")
    return [found]


def build(
    profile: str,
    device: str = "cpu",
    chapters: list[str] | None = None,
    extra_parameters: dict | None = None,
    root: Path | None = None,
    html: bool = True,
    log=print,
    jobs: int = 1,
) -> Path:
    """Run the chapters (``jobs`` at a time, see :func:`run_chapters`), then build the HTML; return
    the path of ``index.html``."""
    from rdvae.device import resolve_device
    from rdvae.profiles import get_profile

    root = root or paths.repo_root()
    cell_timeout = get_profile(profile).cell_timeout_s  # fail early on a bad profile, device or job count
    resolve_device(device)
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    os.environ[paths.ROOT_ENV] = str(root)  # the kernels papermill starts inherit it
    vendor_javascript(root)
    parameters = {"profile": profile, "device": device, **(extra_parameters or {})}
    selected, every = chapter_sources(root, chapters), chapter_sources(root)
    current = {s.stem for s in every}
    for stale in (root / EXECUTED).glob("*.ipynb"):  # a renamed or deleted chapter's old output
        if stale.stem not in current:
            stale.unlink()
    never_run = [
        s.stem for s in every if s not in selected and not (root / EXECUTED / f"{s.stem}.ipynb").exists()
    ]
    if html and never_run:  # fail before running anything: the HTML needs every chapter executed once
        raise RuntimeError(
            f"the HTML book needs every chapter executed once; never executed here: {', '.join(never_run)}. "
            "Run `rdvae book` without --chapters once (later builds can then re-run single chapters)"
        )
    seconds = run_chapters(selected, parameters, root, jobs, log, cell_timeout)
    record = {"parameters": parameters, "jobs": jobs, "chapters": {s.stem: seconds[s.stem] for s in selected}}
    (root / EXECUTED / "build.json").write_text(json.dumps(record, indent=2))
    index = root / "_build" / "html" / "index.html"
    if html:
        start = time.perf_counter()
        command = [*jupyter_book_command(), "build", str(root), "--warningiserror", "--keep-going"]
        result = subprocess.run(command, cwd=root, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(
                f"jupyter-book build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        log(f"  {'jupyter-book build':<28} {time.perf_counter() - start:7.1f} s")
    return index
