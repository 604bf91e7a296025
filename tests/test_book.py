"""End to end: build the book on the smoke profile in a scratch copy, and check what it produced."""

import json
import shutil
import time
from datetime import datetime
from itertools import combinations

import nbformat
import pytest
from conftest import REPO, copy_book

from rdvae import book

pytestmark = pytest.mark.book

# Figures each chapter must save (PNG and SVG) under figures/smoke/.
EXPECTED_FIGURES = {
    "01_rate_distortion": ["ch01_rd_plane"],
    "02_tetrominoes": ["fig1_examples", "ch02_distortion_bounds"],
    "03_splits": ["fig2_split_schematic", "ch03_neighbour_distances", "ch03_hard_examples"],
    "04_architectures": ["ch04_learning_curves_mlp1_cv-0.1"],
    "05_fig3_capacity": [
        "fig3_capacity",
        "fig3_learning_curves_mlp1",
        "fig3_learning_curves_mlp3",
        "fig3_learning_curves_mlp1_default",
        "fig3_learning_curves_mlp3_default",
        "fig3_u_shape_over_training_mlp1",
        "fig3_u_shape_over_training_mlp3",
    ],
    "06_fig4_training_size": ["fig4_training_size"],
    "07_fig5_checkerboard": ["fig5_checkerboard", "fig5_neighbour_distances"],
    "08_fig6_cnn": ["fig6_cnn"],
    "09_fig7_datasets": ["fig7_examples", "fig7_datasets"],
    "10_fig8_mi_marginal_kl": ["fig8_mi_marginal_kl"],
    "11_linear_vae": ["ch11_linear_vae_phases", "ch11_linear_vae_error", "ch11_linear_vae_rd"],
    "12_implicit_regularisation": ["ch12_implicit"],
    "13_appendix": [
        "appendix_memorisation",
        "appendix_early_stopping",
        "appendix_log_px",
        "appendix_objectives",
    ],
}


def test_every_chapter_ran_and_printed_its_time(smoke_book):
    root, index, lines = smoke_book
    sources = sorted((REPO / "book").glob("[0-9][0-9]_*.md"))
    assert len(sources) >= 4
    record = json.loads((root / "_executed" / "build.json").read_text())
    assert set(record["chapters"]) == {s.stem for s in sources}
    assert record["parameters"] == {"profile": "smoke", "device": "cpu"} and record["jobs"] == 2
    for source in sources:
        assert any(source.stem in line and line.rstrip().endswith(" s") for line in lines)
    assert index.exists()


def test_the_report_ran_after_every_other_chapter(smoke_book):
    # Built two at a time, the chapters that read the others' results wait for all of them.
    root, _, _ = smoke_book
    spans = {}  # chapter -> (start, end) as papermill recorded them
    for path in (root / "_executed").glob("*.ipynb"):
        meta = nbformat.read(path, as_version=4).metadata.papermill
        spans[path.stem] = (datetime.fromisoformat(meta.start_time), datetime.fromisoformat(meta.end_time))
    readers = [
        s.stem for s in sorted((REPO / "book").glob("[0-9][0-9]_*.md")) if book.reads_other_chapters(s)
    ]
    assert readers == ["14_replication_report"]
    others = sorted(span for stem, span in spans.items() if stem not in readers)
    assert spans["14_replication_report"][0] >= max(end for _, end in others)
    assert any(later[0] < earlier[1] for earlier, later in combinations(others, 2))  # two ran at once


def test_no_chapter_has_an_error_and_parameters_were_injected(smoke_book):
    root, _, _ = smoke_book
    for path in sorted((root / "_executed").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert nb.metadata.papermill.parameters["profile"] == "smoke", path.name
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                assert output.output_type != "error", f"{path.name}: {output.get('ename')}"
                assert "Traceback" not in str(output.get("text", "")), path.name


@pytest.mark.parametrize("chapter", EXPECTED_FIGURES)
def test_chapters_produced_their_figures(smoke_book, chapter):
    root, _, _ = smoke_book
    nb = nbformat.read(root / "_executed" / f"{chapter}.ipynb", as_version=4)
    pngs = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(pngs) >= len(EXPECTED_FIGURES[chapter])
    for name in EXPECTED_FIGURES[chapter]:
        for suffix in ("png", "svg"):
            path = root / "figures" / "smoke" / f"{name}.{suffix}"
            assert path.stat().st_size > 1000, path
    html = root / "_build" / "html" / "_executed" / f"{chapter}.html"
    assert html.exists()


@pytest.mark.parametrize("chapter,frames", [("02_tetrominoes", 16), ("05_fig3_capacity", 3)])
def test_the_static_slider_state_is_saved(smoke_book, chapter, frames):
    root, _, _ = smoke_book
    nb = nbformat.read(root / "_executed" / f"{chapter}.ipynb", as_version=4)
    state = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    models = [m["model_name"] for m in state.values()]
    assert models.count("ImageModel") == frames and "StackModel" in models and "LinkModel" in models


def test_the_report_gives_every_claim_a_computed_verdict(smoke_book):
    from rdvae import ledger

    root, _, _ = smoke_book
    nb = nbformat.read(root / "_executed" / "14_replication_report.ipynb", as_version=4)
    html = "".join(
        o["data"].get("text/html", "") for c in nb.cells for o in c.get("outputs", []) if "data" in o
    )
    figure7 = [c.id for c in ledger.figure7_claims(["digits"])]  # over the datasets available: digits
    claims = [*ledger.CLAIMS, *figure7, *ledger.THEORY_CLAIMS]
    for claim in claims:
        assert f"<td>{claim}</td>" in html
    # smoke decides nothing: the verdict tables (status in bold) hold one inconclusive verdict a claim,
    # and the table by budget one more for each of the figures' claims (smoke stores only smoke runs)
    assert html.count("<b>inconclusive at this profile</b>") == len(claims)
    assert html.count("inconclusive at this profile") == len(claims) + len(claims) - len(ledger.THEORY_CLAIMS)
    assert "profile smoke is too small to decide" in html  # numbers were computed, not skipped
    assert "max |D_test - D_train|" in html


@pytest.mark.parametrize(
    "chapter,figure",
    [("11_linear_vae", "Linear VAE"), ("12_implicit_regularisation", "Implicit regularisation")],
)
def test_a_theory_chapter_gives_verdicts_on_its_own_claims_only(smoke_book, chapter, figure):
    """Chapter 11 computes only the linear-VAE table: the claims of chapter 12's table must not
    appear there as "not run" (they are decided in chapter 12), and the other way round."""
    from rdvae import ledger

    root, _, _ = smoke_book
    nb = nbformat.read(root / "_executed" / f"{chapter}.ipynb", as_version=4)
    html = "".join(
        o["data"].get("text/html", "") for c in nb.cells for o in c.get("outputs", []) if "data" in o
    )
    shown = {claim for claim in ledger.THEORY_CLAIMS if f"<td>{claim}</td>" in html}
    assert shown == {c.id for c in ledger.THEORY_CLAIMS.values() if c.figure == figure}


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_failing_chapter_fails_the_build(tmp_path, monkeypatch, jobs):
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "01_broken.md").write_text(
        (REPO / "book" / "00_intro.md").read_text().split("# ", 1)[0]
        + "# Broken\n\n```{code-cell} ipython3\n:tags: [parameters]\n\nprofile = 'smoke'\n```\n\n"
        + "```{code-cell} ipython3\nraise RuntimeError('this chapter is broken')\n```\n"
    )
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: _executed/01_broken\n")
    monkeypatch.setenv("RDVAE_ROOT", str(tmp_path))
    with pytest.raises(book.ChapterFailed, match="01_broken.md failed .*this chapter is broken"):
        book.build("smoke", "cpu", root=tmp_path, html=False, jobs=jobs)


def test_a_cell_past_the_profile_limit_fails_the_build_naming_it(tmp_path, monkeypatch):
    from dataclasses import replace

    from rdvae import profiles

    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "01_stalls.md").write_text(
        (REPO / "book" / "00_intro.md").read_text().split("# ", 1)[0]
        + "# Stalls\n\n```{code-cell} ipython3\nimport time\ntime.sleep(60)  # the stalled cell\n```\n"
    )
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: _executed/01_stalls\n")
    monkeypatch.setenv("RDVAE_ROOT", str(tmp_path))
    monkeypatch.setitem(profiles.PROFILES, "smoke", replace(profiles.PROFILES["smoke"], cell_timeout_s=3))
    start = time.perf_counter()
    stopped = r"(?s)01_stalls.md stopped.* 3 s per cell.*the stalled cell"  # names chapter, limit, cell
    with pytest.raises(book.ChapterFailed, match=stopped):
        book.build("smoke", "cpu", root=tmp_path, html=False)
    assert time.perf_counter() - start < 45  # stopped at the limit, not after the cell's 60 s


def test_only_the_smoke_profile_limits_cell_time():
    from rdvae import profiles

    assert 60 <= profiles.PROFILES["smoke"].cell_timeout_s <= 1800  # generous, yet far inside CI's limit
    assert all(p.cell_timeout_s is None for name, p in profiles.PROFILES.items() if name != "smoke")


def test_a_missing_chapter_fails_the_html_build(smoke_book, tmp_path):
    root, _, _ = smoke_book
    copy = copy_book(tmp_path)
    shutil.copytree(root / "_executed", copy / "_executed")
    shutil.copytree(root / "_static", copy / "_static")
    (copy / "_executed" / "03_splits.ipynb").unlink()
    ran = []
    with pytest.raises(RuntimeError, match="never executed here: 03_splits"):
        book.build("smoke", "cpu", chapters=["00"], root=copy, log=ran.append)
    assert ran == []  # refused before executing anything


def test_chapter_kernels_print_no_transport_warning(tmp_path, capfd, monkeypatch):
    import nbformat

    (tmp_path / "book").mkdir()
    source = tmp_path / "book" / "01_tiny.md"
    header = (REPO / "book" / "00_intro.md").read_text().split("---\n")[1]  # a real chapter's front matter
    source.write_text(f"---\n{header}---\n\n# Tiny\n\n```{{code-cell}} ipython3\nprint(40 + 2)\n```\n")
    monkeypatch.setenv("RDVAE_ROOT", str(tmp_path))
    book.execute_chapter(source, tmp_path / "out.ipynb", {}, tmp_path)
    (code,) = [c for c in nbformat.read(tmp_path / "out.ipynb", as_version=4).cells if c.cell_type == "code"]
    assert code.outputs[0]["text"] == "42\n"
    assert "without encryption" not in capfd.readouterr().err


def test_unknown_chapter_selection_lists_the_chapters():
    with pytest.raises(ValueError, match="02_tetrominoes"):
        book.chapter_sources(REPO, ["99"])
