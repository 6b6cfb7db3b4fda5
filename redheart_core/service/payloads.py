"""The request bodies the HTTP API accepts (pydantic models, so OpenAPI documents them)."""

from __future__ import annotations

from typing import List, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


class AnalyzeRequest(BaseModel):
    """One situation to analyze."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, description="The situation, in English or Korean.")
    priority: int = Field(0, description="Higher runs earlier when requests queue.")
    request_id: Optional[str] = Field(
        None, pattern=REQUEST_ID_PATTERN,
        description="Your id for the request (echoed in the result and the logs); "
                    "generated when absent.")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("the text is blank")
        return text


class BatchRequest(BaseModel):
    """Several situations analyzed together; results come back in the same order."""

    model_config = ConfigDict(extra="forbid")

    texts: List[str] = Field(min_length=1, description="The situations.")
