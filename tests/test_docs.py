"""The README's command table is generated from the CLI (`python -m bench.docs`) and must
match it: a new command or option appears in the README or this test fails."""
from pathlib import Path

from bench.docs import block_of, replace_block, table

README = Path(__file__).resolve().parents[1] / "README.md"


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
