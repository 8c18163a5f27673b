"""The docs held to the code: the key table to the responder's own, every relative link to a
file and heading that exist."""

import os
import re
import subprocess

from harness import BINARY, TOP, print_config

OPERATIONS = os.path.join(TOP, "docs", "operations.md")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# --- the configuration table (docs/operations.md) -------------------------------------

def doc_config_rows(text):
    """The configuration table as [(section, key, default)]."""
    rows = re.findall(r"^\| `\[(\w+)\] (\w+)` \| `([^`]*)` \|", text, re.M)
    return [tuple(r) for r in rows]


def config_table_problems(text, table):
    rows = doc_config_rows(text)
    return [] if rows == table else [f"docs: {rows}", f"table: {table}"]


def test_the_operations_guide_lists_the_table_keys_and_defaults(tmp_path):
    empty = tmp_path / "empty.ini"
    empty.write_text("")
    table = print_config(str(empty))  # the built-in defaults, in table order
    keys = subprocess.run([BINARY, "--print-keys"], capture_output=True, text=True, check=True,
                          timeout=10, stdin=subprocess.DEVNULL).stdout
    assert [tuple(re.match(r"\[(\w+)\] (\w+)\t", line).groups()) for line in keys.splitlines()] \
        == [(section, key) for section, key, _ in table], keys
    text = read(OPERATIONS)
    assert config_table_problems(text, table) == []
    # The check bites: a changed default and a dropped row are both seen.
    assert config_table_problems(text.replace("| `16` |", "| `8` |"), table)
    assert config_table_problems(re.sub(r"^\| `\[log\] level`.*\n", "", text, flags=re.M), table)


# --- links -----------------------------------------------------------------------------

def docs():
    """README.md and every Markdown file of docs/, as paths."""
    folder = os.path.join(TOP, "docs")
    return [os.path.join(TOP, "README.md")] + sorted(
        os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".md"))


def slug(heading):
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text):
    return {slug(h) for h in re.findall(r"^#{1,6} (.*)$", strip_code(text), re.M)}


def strip_code(text):
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    return re.sub(r"`[^`\n]*`", "", text)


def links(text):
    body = strip_code(text)
    return re.findall(r"\]\(([^)\s]+)\)", body) + re.findall(r'<img [^>]*src="([^"]+)"', body)


def link_problems(path, text):
    """Each relative link of text (the file at path) whose file or heading does not exist."""
    problems = []
    for target in links(text):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:: not ours to check offline
        file, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
        if not dest.startswith(TOP + os.sep) or not os.path.exists(dest):
            problems.append(f"{os.path.relpath(path, TOP)}: {target}: no such file")
        elif anchor and dest.endswith(".md"):
            if anchor not in anchors(text if dest == path else read(dest)):
                problems.append(f"{os.path.relpath(path, TOP)}: {target}: no such heading")
    return problems


def test_every_relative_link_in_the_readme_and_docs_resolves():
    problems, count = [], 0
    for path in docs():
        text = read(path)
        count += len(links(text))
        problems += link_problems(path, text)
    assert problems == []
    assert count > 20, f"only {count} links found: is the parser still reading them?"


def test_the_link_check_bites():
    readme = os.path.join(TOP, "README.md")
    assert link_problems(readme, "[a](docs/no-such-file.md)") == \
        ["README.md: docs/no-such-file.md: no such file"]
    assert link_problems(readme, "[a](docs/operations.md#no-such-heading)") == \
        ["README.md: docs/operations.md#no-such-heading: no such heading"]
    assert link_problems(readme, "# Here\n[a](#here) [b](#there)") == \
        ["README.md: #there: no such heading"]
    assert link_problems(readme, "[a](../../etc/passwd)") == \
        ["README.md: ../../etc/passwd: no such file"]
    assert link_problems(readme, "`[a](nowhere)` [b](https://example.org/x)") == []
    assert slug("Changing config.ini without a restart") == "changing-configini-without-a-restart"
    assert slug("The service's total") == "the-services-total"
