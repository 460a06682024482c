"""What drillkit renders for people from its journals: post-incident review drafts and rollback evidence.

Each report module collects its data into pydantic models first (that is also its `--json`
output) and renders them with the jinja2 templates in `templates/` (autoescaped for HTML: journals
carry model output and operator input, which may contain markup). A team can override a template
with a file of the same name in `<home>/templates/` or a folder given with `--templates DIR`.

- `evidence`: the rollback-evidence report for risk and compliance readers (`drillkit evidence report`),
  with `evidence_rows` (each run and incident, with its purpose: only rehearsals count),
  `evidence_verify` (`drillkit evidence verify`), `evidence_chart` and `controls` (the mapping to
  regulatory clauses).
- `review`: post-incident review drafts (`drillkit review draft`): `review_model` (the facts as
  data), `review_facts` (collecting them from a record), `review_run` (with `review_run_record`,
  `review_run_impact`, `review_run_layers`, `review_run_findings`) and `review_incident` (one
  function per section), `review_sections` (the typed record, its citations `<journal id>#<seq>`,
  and the sections both kinds build) and `review_timeline` (each event's own sentence,
  `drillkit.journal.events`).
- `summaries`: a record's summary.json read with its writer's model (`gameday.summary.Summary`,
  `runbooks.record.IncidentSummary`), tolerating older and partial files.
- `markdown`: the one Markdown escaping rule and template environment both reports use.

Journal entries are read typed (`JournalEntry.event`, matched on the model's class): no module
here spells a journal kind.
"""
