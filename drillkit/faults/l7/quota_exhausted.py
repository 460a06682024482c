"""`quota_exhausted`: the account is out of credit; clients must not retry.

openai: 429 `{"error": {"type": "insufficient_quota", "code": "insufficient_quota", ...}}`;
anthropic: 429 `rate_limit_error` with `error.details.error_code: enforced_spend_limit_reached`;
json: 429 `{"error": {"code": "insufficient_quota"}}`.  Every reply carries
`x-should-retry: false`, which the official SDKs obey over their 429 retry rule.
"""

from __future__ import annotations

from drillkit.faults.l7.base import Attributes, Exchange, Fault, Reply, ShortCircuit, error_reply

_NO_RETRY = {"x-should-retry": "false"}


class QuotaExhaustedAttributes(Attributes):
    message: str | None = None


class QuotaExhaustedFault(Fault, ShortCircuit):
    type = "quota_exhausted"
    attributes_model = QuotaExhaustedAttributes

    async def before(self, ex: Exchange) -> Reply:
        message = self.attrs.message
        if ex.api == "anthropic":
            return error_reply(
                "anthropic",
                429,
                message or "You have reached your specified API usage limits. You will regain access on the 1st.",
                kind="rate_limit_error",
                details={"error_code": "enforced_spend_limit_reached"},
                headers=_NO_RETRY,
            )
        return error_reply(
            ex.api,
            429,
            message
            or "You exceeded your current quota, please check your plan and billing details. For more information "
            "on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
            kind="insufficient_quota",
            code="insufficient_quota",
            headers=_NO_RETRY,
        )
