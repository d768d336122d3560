"""User-facing errors: one line, naming the file, line and field where one is known, exit code 2."""

from __future__ import annotations


class HarnessError(Exception):
    """An error caused by the user's input (a suite, a models file, a flag). The CLI prints it on one line."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None, field: str | None = None):
        self.message = message
        self.path = path
        self.line = line
        self.field = field
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = ""
        if self.path:
            where = str(self.path)
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}".replace("\n", " ")
