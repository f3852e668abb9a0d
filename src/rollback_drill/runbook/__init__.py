"""The runbook: reading it (model, meaning, analysis) and running its commands as written.

Pure reading needs no cluster and knows no system under test (pyproject.toml's import contracts);
what needs a live cluster asks through the drill (drill/preflight.py). Modules:

- model.py — the Markdown read into triggers, levels, steps and checklists
- markdown.py — the document's structure (CommonMark, tables, front matter)
- meaning.py — what the runbook's words mean: the one lexicon (Japanese and English)
- shell.py — a code block's commands as a shell reads them
- sidecar.py — `<runbook>.drill.yaml`, what the team declares beside its prose
- analysis.py — findings: what would mislead or hurt the operator
- diff.py — what an edit of the runbook changed in its reading
- preflight.py — preflight's items, verdicts and table (the live checks: drill/preflight.py)
- executor.py — a level's commands run in order, verbatim
- substitutions.py — the listed substitutions, and the `gcloud` shim routing `gcloud … sql …` to
  sut/cloudsql.py
"""
