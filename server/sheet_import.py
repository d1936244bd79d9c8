"""The shape every spreadsheet import answers with (the 推荐目录, question banks, training
history): a dry run reports each bad cell by row and column, and nothing is written while any
row is bad."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DryRunQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = False


class RowProblem(BaseModel):
    row: int = Field(description="the spreadsheet's row number (header = 1)")
    column: str = Field(description="the column's header as in the file, or 行 for the whole row")
    message: str


class ImportReport(BaseModel):
    dry_run: bool
    rows: int
    valid: int
    problems: list[RowProblem]
    imported: bool = Field(description="false when dry run or any row is bad: nothing was written")
