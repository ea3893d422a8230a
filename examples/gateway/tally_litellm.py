"""Tally as a LiteLLM proxy callback: decide (and hold) before each call, settle and record after.

config.yaml:   litellm_settings: { callbacks: tally_litellm.proxy_handler }
environment:   TALLY_URL=http://127.0.0.1:8787  TALLY_KEY=<key with the ingest scope>
Labels come from the request's metadata (project, team, customer, feature, environment).
"""
import os
import uuid

import httpx
from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger

TALLY = os.environ.get("TALLY_URL", "http://127.0.0.1:8787")
HEADERS = {"authorization": f"Bearer {os.environ.get('TALLY_KEY', '')}"}
LABELS = ("project", "team", "customer", "feature", "environment")


class TallyGovernance(CustomLogger):
    def __init__(self):
        self.client = httpx.AsyncClient(base_url=TALLY, headers=HEADERS, timeout=2.0)

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        meta = data.get("metadata") or {}
        labels = {k: str(meta[k]) for k in LABELS if k in meta}
        request_id = str(uuid.uuid4())
        body = {"labels": labels, "model": data.get("model", ""), "reserve": True, "requestId": request_id,
                "estimate": {"outputTokens": int(data.get("max_tokens") or 1024)}}
        answer = (await self.client.post("/api/v1/decide", json=body)).json()
        if not answer.get("allowed"):
            raise HTTPException(status_code=429, detail=[r["message"] for r in answer.get("reasons", [])])
        data.setdefault("metadata", {})["tally"] = {"reservation": answer["reservation"]["id"], "requestId": request_id, "labels": labels}
        return data

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        tally = (kwargs.get("litellm_params", {}).get("metadata") or {}).get("tally")
        if not tally:
            return
        usage = getattr(response_obj, "usage", None)
        tokens = {"input": getattr(usage, "prompt_tokens", 0) or 0, "output": getattr(usage, "completion_tokens", 0) or 0}
        cost = f"{kwargs.get('response_cost') or 0:.10f}"
        await self.client.post("/api/v1/budgets/settle", json={"reservationId": tally["reservation"], "actualCost": cost,
                                                               "actualTokens": tokens, "requestId": tally["requestId"]})
        await self.client.post("/api/v1/usage/ingest", json=[{
            "requestId": tally["requestId"], "occurredAt": end_time.astimezone().isoformat(),
            "provider": kwargs.get("custom_llm_provider") or "openai", "model": kwargs.get("model", ""),
            "labels": tally["labels"], "usage": {"tokens": {"inputText": tokens["input"], "outputText": tokens["output"]}}}])

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        tally = (kwargs.get("litellm_params", {}).get("metadata") or {}).get("tally")
        if tally:
            await self.client.post("/api/v1/budgets/release", json={"reservationId": tally["reservation"]})


proxy_handler = TallyGovernance()
