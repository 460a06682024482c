"""Write this example's recorded traffic from the demo: evals/suite.yaml and inputs.jsonl.

A team in front of a gateway records what its application really sends (the system prompt with the
retrieved documents and tool results, and the user's question) and replays it. This example has no
application in front of LiteLLM, so this script plays that part once: for each question of the
demo's evaluation suite it renders the request the demo's support assistant would send (prompt
v3, the three best-matching documents of the shipped corpus, the order tool's answer) and keeps the
suite's assertions. The files it writes are committed; run it again only to re-record:

    python examples/litellm/record.py          # from the repository, with drillkit installed
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from starlette.testclient import TestClient

from drillkit.demo.context import ORDER_ID_RE, ORDER_TOOL, build_context, rank_documents, tool_block
from drillkit.demo.corpus import corpus_documents
from drillkit.demo.prompts import PromptTemplates
from drillkit.demo.service import TOP_K
from drillkit.demo.tool_api import create_tool_app
from drillkit.demo.workdir import assets

HERE = Path(__file__).resolve().parent
PROMPT = "v3"
#: Every other case of the demo's suite: each topic, the order lookups (the tool block) and the
#: out-of-scope questions, at half the size.
STRIDE = 2


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the system prompts) as literal blocks, readable in a diff."""


_Dumper.add_representer(
    str,
    lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style="|" if "\n" in v else None),
)


def main() -> None:
    demo = Path(str(assets()))
    docs = corpus_documents(demo / "corpus")
    prompts = PromptTemplates(demo / "prompts")
    suite = yaml.safe_load((demo / "evals" / "suite.yaml").read_text(encoding="utf-8"))
    tools = TestClient(create_tool_app(demo / "orders.json"), base_url="http://127.0.0.1")
    cases, inputs = [], []
    for case in suite["cases"][::STRIDE]:
        question = case.pop("question")
        called = []
        order = ORDER_ID_RE.search(question)
        if order:
            answer = tools.get(f"/orders/{order.group(0)}")
            called.append(tool_block(ORDER_TOOL, answer.status_code, answer.json()))
        system = prompts.render(PROMPT, build_context(rank_documents(question, docs, k=TOP_K), called))
        record = {"system": system, "question": question}
        cases.append({"id": case.pop("id"), "input": record, **case})
        inputs.append(json.dumps(record))
    out = {"apiVersion": "drillkit/v1", "kind": "EvalSuite", "name": "support-via-litellm", "cases": cases}
    header = "# Recorded by record.py from the demo's suite: each case is the full request the application sends.\n"
    text = header + yaml.dump(out, Dumper=_Dumper, sort_keys=False, width=100)
    (HERE / "evals" / "suite.yaml").write_text(text, encoding="utf-8")
    (HERE / "inputs.jsonl").write_text("\n".join(inputs) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to evals/suite.yaml and inputs.jsonl")


if __name__ == "__main__":
    main()
