"""Sphinx configuration of lrscape's documentation site.

Build it with ``python -m sphinx -W --keep-going -b html docs docs/_build/html`` after
``pip install -e ".[docs]"``. Notebooks are rendered from their committed outputs
(``nb_execution_mode = "off"``); the test suite executes them (tests/test_notebooks.py).
"""

import lrscape

project = "lrscape"
author = "The lrscape authors"
copyright = "2026, the lrscape authors"
release = lrscape.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinxarg.ext",
    "myst_nb",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "labels/*.py", "notebooks/*.py"]
root_doc = "index"
# Help texts name flags (--axis) and quote code: no typographic dashes or quotes.
smartquotes = False

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # outputs are committed; the tests execute the notebooks

autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
napoleon_google_docstring = True
napoleon_numpy_docstring = True
napoleon_use_ivar = True  # "Attributes:" as fields, so NamedTuple fields are not described twice
# No intersphinx: the build must work offline (CI reaches package registries only).


html_theme = "furo"
html_title = f"lrscape {release}"
html_static_path: list[str] = []


# The gallery: one page per script in experiments/, written at build time from the script's
# own docstring (so the page cannot drift from the script), with its figure from docs/.
GALLERY = {  # script -> (figures in docs/, in order)
    "snapshot_vs_mean": ["snapshot_vs_mean.png"],
    "step_decay": ["step_decay.png"],
    "large_lr_instability": ["large_lr_instability.png"],
    "edge_of_stability": ["edge_of_stability.png"],
    "catapult": ["catapult.png"],
    "chaos": ["chaos.png"],
    "lr_range_test": ["lr_range_test.png"],
    "trainability_boundary": ["trainability_boundary.png", "trainability_zoom.png"],
    "twin_digits": ["twin_digits.png", "twin_seed_questions.png"],
}


def _write_gallery(app) -> None:
    import ast
    import pathlib

    docs = pathlib.Path(app.srcdir)
    scripts = docs.parent / "experiments"
    out = docs / "gallery"
    out.mkdir(exist_ok=True)
    found = {p.stem for p in scripts.glob("*.py")}
    if found != set(GALLERY):
        raise RuntimeError(f"docs/conf.py GALLERY lists {sorted(GALLERY)}, "
                           f"experiments/ holds {sorted(found)}: keep them the same")
    entries = []
    for name, figures in GALLERY.items():
        doc = ast.get_docstring(ast.parse((scripts / f"{name}.py").read_text()))
        first, _, body = doc.partition("\n")
        title = first.rstrip(".")
        text = body.strip("\n")  # keeps the indent of the usage line: a code block
        images = "\n\n".join(f"![{title}](../{figure})" for figure in figures)
        page = (f"# {title}\n\n{images}\n\n{text}\n\n"
                f"## The script\n\n```{{literalinclude}} ../../experiments/{name}.py\n"
                f":language: python\n```\n")
        _write_if_changed(out / f"{name}.md", page)
        entries.append((name, title))
    rows = "\n".join(f"| [{title}]({name}.md) | `python experiments/{name}.py` |"
                     for name, title in entries)
    index = ("# Gallery of experiments\n\nEach script in `experiments/` runs its sweeps and writes "
             "its figures to `experiments/out/`; the figures here are theirs, committed in "
             "`docs/`.\n\n| experiment | command |\n| --- | --- |\n" + rows + "\n\n"
             "```{toctree}\n:hidden:\n\n" + "\n".join(n for n, _ in entries) + "\n```\n")
    _write_if_changed(out / "index.md", index)


def _write_if_changed(path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def setup(app):
    app.connect("builder-inited", _write_gallery)
