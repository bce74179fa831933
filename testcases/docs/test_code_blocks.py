"""Every fenced code block of ``README.md`` and ``docs/*.md``, run as one test each (issue 27).

A small collector of our own. Each fence (```` ```python ````, ```` ```bash ````, ```` ```sh ````,
```` ```console ```` or a plain ```` ``` ````) becomes one case named ``page:line``, the line of
its opening fence:

- ``python``: the block alone, in a fresh interpreter, in a temporary folder. Blocks are
  **standalone**: each defines every name it uses (no state is shared between blocks, so a block
  a reader copies runs as it is, and a name a block forgets to define fails its test).
- ``bash``/``sh``: the block with ``bash -e -o pipefail`` in a temporary folder in which the
  repository's ``testcases``, ``impl``, ``op_info_cfg`` and ``op_proto`` are links, so commands
  written for the repository root run and write nothing into the checkout. ``console``: its
  ``$ `` lines, the same way.
- A block that cannot run here declares it in the page, right above its fence:
  ``<!-- docs-test: skip (REASON) -->`` (installing with pip, CANN's ``atc``, an NPU, a GPU, the
  network, minutes of benchmarking) is reported as skipped with REASON;
  ``<!-- docs-test: text -->`` marks a fence that is not code (a layout, a formula, a command's
  printed output). A plain fence without a declaration fails, and so does a runnable shell
  block that installs with pip or runs ``atc``/``cmake``/``nvidia-smi``.
- A python block that imports PyTorch, TensorFlow or MindSpore is skipped when that framework is
  not installed (looked up with ``importlib.util.find_spec``: the frameworks are imported by the
  block's own interpreter, never by the test process).

The blocks inherit the suite's environment (``BCE_GRAD_CACHE`` and ``BCE_GRAD_KERNEL_META`` from
``testcases/conftest.py``), with this interpreter's ``bin`` first on ``PATH`` (``bce-grad``,
``python``) and ``BCE_GRAD_PACKAGE_SET=minimal``: the framework ops' default kernel package
would otherwise take minutes to build in the suite's fresh cache.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: The pages whose blocks run: the README and every page under docs/.
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
#: The pages issue 27 asks for, one per reader.
EXPECTED_DOCS = ("user-guide", "frameworks", "deploy-cann", "cann-tools", "errors", "design",
                 "benchmark", "testing")
#: What a shell block's temporary folder links to, so paths written from the repository root work.
LINKED = ("testcases", "impl", "op_info_cfg", "op_proto")
TIMEOUT_S = 900  # a framework block on a cold cache builds its adapter (~30 s on a quiet machine)
SHELL = {"bash", "sh", "shell", "console"}
FRAMEWORKS = ("torch", "tensorflow", "mindspore")
#: Shell commands that cannot run in the suite: a block using one must declare a skip.
NEEDS_SKIP = re.compile(r"(^|[\s;&|(])(pip3?|python3?\.\d+ -m venv|atc|cmake|nvidia-smi|curl|wget"
                        r"|msopst|op_ut_run)(\s|$)", re.M)

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[^\s`]*)[^`]*$")
DIRECTIVE = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<kind>skip|text)\s*(?:\((?P<reason>.*)\))?\s*-->\s*$")
ANY_DIRECTIVE = re.compile(r"<!--\s*docs-test:")


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its text and its declaration, if any."""

    page: str
    line: int
    lang: str
    code: str
    kind: str | None = None  # "skip", "text" or None
    reason: str = ""

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def parse(text: str, page: str) -> list[Block]:
    """The fenced blocks of a Markdown text, with the ``docs-test`` declaration right above each."""
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence = len(match["indent"]), match["fence"]
        start = i
        body = []
        i += 1
        while i < len(lines) and not re.match(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$",
                                              lines[i]):
            line = lines[i]
            body.append(line[min(indent, len(line) - len(line.lstrip())):])
            i += 1
        i += 1  # the closing fence
        kind, reason = None, ""
        above = start - 1
        while above >= 0 and not lines[above].strip():
            above -= 1
        if above >= 0 and (declared := DIRECTIVE.match(lines[above])):
            kind, reason = declared["kind"], (declared["reason"] or "").strip()
        blocks.append(Block(page, start + 1, match["lang"].lower(), "\n".join(body) + "\n",
                            kind, reason))
    return blocks


def collect() -> list[Block]:
    return [block for page in PAGES
            for block in parse(page.read_text(encoding="utf-8"), str(page.relative_to(REPO)))]


BLOCKS = collect()


def block_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env["BCE_GRAD_PACKAGE_SET"] = "minimal"
    env.pop("PYTEST_XDIST_WORKER", None)
    return env


def shell_script(block: Block) -> str:
    if block.lang == "console":
        return "\n".join(line[2:] for line in block.code.splitlines() if line.startswith("$ ")) + "\n"
    return block.code


def run_block(block: Block, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run a runnable block in a fresh process in ``tmp_path/work``."""
    work = tmp_path / "work"
    work.mkdir()
    if block.lang == "python":
        script = tmp_path / "script" / "block.py"  # not in work: the cwd is not on sys.path
        script.parent.mkdir()
        script.write_text(block.code, encoding="utf-8")
        command = [sys.executable, str(script)]
    else:
        for name in LINKED:
            if (REPO / name).exists():
                (work / name).symlink_to(REPO / name)
        command = ["bash", "-e", "-o", "pipefail", "-c", shell_script(block)]
    return subprocess.run(command, cwd=work, env=block_env(), capture_output=True, text=True,
                          timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)


def check_declared(block: Block) -> None:
    """Fail a block whose kind is not declared; skip the blocks declared skip or text."""
    if block.kind == "skip":
        pytest.skip(f"{block.id}: {block.reason or 'no reason given'} (declared in the page)")
    if block.kind == "text":
        pytest.skip(f"{block.id}: not code (declared <!-- docs-test: text -->)")
    if block.lang not in SHELL | {"python"}:
        pytest.fail(f"{block.id}: a ```{block.lang} fence is neither python nor shell: write ```python "
                    f"or ```bash, or declare <!-- docs-test: text --> or <!-- docs-test: skip "
                    f"(REASON) --> right above it")
    if block.lang in SHELL and (found := NEEDS_SKIP.search(shell_script(block))):
        pytest.fail(f"{block.id}: `{found.group(2)}` cannot run in the test suite: declare "
                    f"<!-- docs-test: skip (REASON) --> right above the block")
    if block.lang == "python":
        for name in FRAMEWORKS:
            if re.search(rf"^\s*(import|from)\s+[^#\n]*\b{name}\b", block.code, re.M) and \
                    importlib.util.find_spec(name) is None:
                pytest.skip(f"{block.id}: {name} is not installed")


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_code_block(block: Block, tmp_path: Path) -> None:
    check_declared(block)
    done = run_block(block, tmp_path)
    assert done.returncode == 0, (f"{block.id} exited with {done.returncode}\n--- block\n"
                                  f"{block.code}--- stdout\n{done.stdout[-3000:]}\n--- stderr\n"
                                  f"{done.stderr[-5000:]}")


def test_every_page_exists_and_the_readme_is_short() -> None:
    assert [p.stem for p in PAGES[1:] if p.stem in EXPECTED_DOCS] == sorted(EXPECTED_DOCS)
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) <= 200


def test_every_declaration_sits_right_above_a_fence() -> None:
    """A ``docs-test`` comment that declares nothing (a typo, or a block moved away) is an error."""
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if not (line.lstrip().startswith("<!--") and ANY_DIRECTIVE.search(line)):
                continue  # prose may quote a declaration in backticks
            where = f"{page.relative_to(REPO)}:{number + 1}"
            assert DIRECTIVE.match(line), f"{where}: write <!-- docs-test: skip (REASON) --> or text"
            assert DIRECTIVE.match(line)["kind"] != "skip" or DIRECTIVE.match(line)["reason"], \
                f"{where}: a skip needs its reason in parentheses"
            following = [text for text in lines[number + 1:] if text.strip()][:1]
            assert following and FENCE.match(following[0]), f"{where}: no fence right below it"


def test_the_collector_finds_fences_and_declarations() -> None:
    page = ("# t\n\n```python\nx = 1\n```\n\n<!-- docs-test: skip (needs CANN's atc) -->\n"
            "```bash\natc --help\n```\n\n1. step\n\n   ```bash\n   echo  indented\n   ```\n\n"
            "<!-- docs-test: text -->\n```\nlayout\n```\n")
    blocks = parse(page, "t.md")
    assert [(b.line, b.lang, b.kind, b.reason) for b in blocks] == [
        (3, "python", None, ""), (8, "bash", "skip", "needs CANN's atc"), (14, "bash", None, ""),
        (19, "", "text", "")]
    assert blocks[2].code == "echo  indented\n"


def test_a_block_with_an_undefined_name_fails(tmp_path: Path) -> None:
    block = Block("t.md", 1, "python", "import numpy as np\nprint(np.ones(2) + undefined_name)\n")
    done = run_block(block, tmp_path)
    assert done.returncode != 0 and "NameError" in done.stderr


def test_an_undeclared_plain_fence_and_an_undeclared_pip_fail() -> None:
    for block in (Block("t.md", 1, "", "layout\n"), Block("t.md", 1, "bash", "pip install -e .\n")):
        with pytest.raises(pytest.fail.Exception):
            check_declared(block)
