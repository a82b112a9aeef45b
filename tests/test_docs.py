"""The README is the front door and docs/ holds the depth; both stay navigable.

- The README's command table is generated from the CLI (`python -m bench.docs`) and must
  match it: a new command or option appears in the README or this test fails.
- README.md is at most 300 lines and shows the two commands (`make run`, `make test`) on its
  first screen.
- Every relative Markdown link in README.md and docs/*.md resolves to an existing file, and to
  an existing heading where a `#fragment` is given (GitHub's heading slugs).
- Every page in docs/ is linked from the README's contents.
"""
import re
from pathlib import Path

import pytest

from bench.docs import block_of, replace_block, table

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))

LINK = re.compile(r"(?<!!)\[([^\]\n]*)\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def test_readme_command_table_matches_the_cli():
    assert block_of(README.read_text()) == table(), \
        "README.md's command table is stale: python -m bench.docs --write README.md"


def test_table_lists_every_command_with_real_placeholders():
    text = table()
    for command in ("bench run", "bench cost", "bench leaderboard", "bench plot flops-psnr",
                    "bench perf backend", "bench ls metrics", "bench check"):
        assert f"`{command}`" in text
    assert "`--where KEY=VALUE …`" in text and "`--write-results`" in text
    assert "<bool>" not in text and "<list[str]>" not in text and "<str>" not in text


def test_replace_block_touches_only_the_block():
    text = "a\n<!-- commands:start (generated) -->\nold\n<!-- commands:end -->\nb\n"
    assert replace_block(text, "new") == \
        "a\n<!-- commands:start (generated) -->\nnew\n<!-- commands:end -->\nb\n"


# --------------------------------------------------------------------------- front door
def test_readme_is_a_front_door_with_the_two_commands_first():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines (at most 300): move depth to docs/"
    first_screen = "\n".join(lines[:25])
    for command in ("make run", "make test"):
        assert command in first_screen, f"`{command}` is not in README.md's first 25 lines"
    assert 'pip install -e ".[dev]"' in "\n".join(lines), "the manual install path is missing"


def test_docs_folder_exists_and_every_page_is_in_the_readme_contents():
    assert DOCS.is_dir() and PAGES, "docs/ with the topic pages is missing"
    linked = {(README.parent / target.split("#")[0]).resolve()
              for _, target in _links(README.read_text(encoding="utf-8"))}
    missing = [p.name for p in PAGES if p.resolve() not in linked]
    assert not missing, f"docs pages not linked from README.md: {missing}"


# --------------------------------------------------------------------------- links
def _outside_code(text: str):
    """Lines of `text` outside fenced code blocks, with inline code spans blanked."""
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield re.sub(r"`[^`]*`", "``", line)


def _links(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for line in _outside_code(text) for m in LINK.finditer(line)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: rendered text, lower case, punctuation dropped,
    spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in _outside_code(text):
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def test_slug_follows_github():
    assert slug("Classification (the paper's Tables 7–9, Sewer-ML)") == \
        "classification-the-papers-tables-79-sewer-ml"
    assert slug("ONNX export and ONNX Runtime (`bench export`, `onnx:FILE`)") == \
        "onnx-export-and-onnx-runtime-bench-export-onnxfile"
    assert anchors("# A\n## A\n```\n# not a heading\n```\n") == {"a", "a-1"}


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page):
    broken = []
    for text, target in _links(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, fragment = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"[{text}]({target}): no file {dest.relative_to(ROOT)}")
        elif fragment and dest.is_file() and dest.suffix == ".md" \
                and fragment not in anchors(dest.read_text(encoding="utf-8")):
            broken.append(f"[{text}]({target}): no heading #{fragment} in "
                          f"{dest.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}:\n" + "\n".join(broken)


# --------------------------------------------------------------------------- Python API
def _tiny_store(root: Path) -> Path:
    """A store with one segmentation run and one eval-sr run, written through ResultStore."""
    from bench.store import ResultStore, Row

    seg = ResultStore(root / "segmentation-synthsewer-pipe-0000000000")
    seg.write_manifest({"profile": "smoke", "seeds": [0]}, device="cpu", command="bench run")
    values = {"HR": 0.60, "LR": 0.40, "SR:edsr": 0.55}
    seg.append("cell", [Row(seg.run_id, "synthsewer-pipe", "segmentation", "fcn", variant, cls,
                            "iou", value + (0.01 if cls == "JO" else 0.0))
                        for variant, value in values.items() for cls in ("JO", "IL", "Mean")])
    sr = ResultStore(root / "eval-sr-0000000000")
    sr.write_manifest({"profile": "smoke", "data": {"seed": 0}, "sr": {"eval": {"n_test": 2}},
                       "degradation": {"scale": 4}}, device="cpu", command="bench eval-sr")
    sr.append("cell", [Row(sr.run_id, "synthsewer-sr", "sr", "bicubic", "SR:bicubic", "all", m, v)
                       for m, v in (("psnr_y", 30.0), ("ssim_y", 0.9), ("psnr_rgb", 29.0),
                                    ("ssim_rgb", 0.88), ("n_images", 2.0))])
    return seg.run_dir


def test_readme_python_api_examples_run(tmp_path, capsys):
    """The README's Python blocks run as written (paths pointed at a tiny store)."""
    run_dir = _tiny_store(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "README.md has no Python API example"
    code = "\n".join(blocks).replace('"results/runs/<run-id>"', repr(str(run_dir)))
    code = code.replace('"results/runs"', repr(str(tmp_path)))
    code = code.replace('Path("results/', f'Path({str(ROOT)!r} + "/results/')
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    rows = namespace["rows"]
    assert set(rows["task"]) == {"segmentation", "sr"} and "created" in rows.columns
    out = capsys.readouterr().out
    assert "fcn 1" in out and "'ΔSR(edsr)': '15.00'" in out  # 0.55 - 0.40 of Mean, in %
    assert "SR leaderboard" in out and "bicubic" in out
