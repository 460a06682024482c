"""What drillkit renders for people from its journals: post-incident review drafts and rollback evidence.

Each report module collects its data into pydantic models first (that is also its `--json`
output) and renders them with the jinja2 templates in `templates/` (autoescaped for HTML: journals
carry model output and operator input, which may contain markup). A team can override a template
with a file of the same name in `<home>/templates/` or a folder given with `--templates DIR`.

- `evidence`: the rollback-evidence report for risk and compliance readers (`drillkit evidence report`),
  with `evidence_verify` (`drillkit evidence verify`), `evidence_chart` and `controls` (the mapping to
  regulatory clauses).
- `review`: post-incident review drafts (`drillkit review draft`), with `review_facts`, `review_run`,
  `review_incident` and `review_timeline`.
- `markdown`: the one Markdown escaping rule and template environment both reports use.
"""
