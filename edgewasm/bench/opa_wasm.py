"""Our own runner for policies OPA compiled to WebAssembly (``opa build -t wasm``), on
Wasmtime's Python package: OPA's Wasm ABI 1.x as its documentation describes it
(openpolicyagent.org, "WebAssembly", "From Scratch").

The host gives the module its memory (``env.memory``), ``opa_abort``, ``opa_println`` and
``opa_builtin0..4`` (the built-in functions OPA does not compile into the module, which
the module names through its ``builtins`` export); it passes JSON in and out through
that memory. Two ways to evaluate:

- ``evaluate`` / ``eval_json``: ``opa_eval`` (ABI 1.2), one call that parses the input
  JSON, evaluates the entrypoint and dumps the result as JSON: what a host evaluating an
  admission request with a fresh input does.
- ``prepare``: the context API (``opa_eval_ctx_*``, ``eval``) with the input parsed once,
  so one ``eval`` is evaluation alone, as ``opa bench`` times Rego (its input parsed once).

Any failure (a trap, ``opa_abort``, an entrypoint the module lacks, a built-in the host
does not provide) raises OpaWasmError: a caller times nothing that did not evaluate.
"""

from __future__ import annotations

import ctypes
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import wasmtime

# opa_eval's last argument: 0 asks for the result as JSON.
_JSON = 0
_PAGE = 65536


class OpaWasmError(RuntimeError):
    """The module could not be loaded or evaluated."""


@dataclass
class Prepared:
    """An entrypoint with its input parsed once in the module's heap (``prepare``)."""
    ctx: int
    heap_after_input: int


class OpaWasmPolicy:
    """One compiled policy module, instantiated in a Store of its own."""

    def __init__(self, wasm: bytes, builtins: Mapping[str, Callable] | None = None, data: object = None):
        self._provided = dict(builtins or {})
        self._abort: str | None = None
        self.printed: list[str] = []
        engine = wasmtime.Engine()
        self._store = wasmtime.Store(engine)
        try:
            module = wasmtime.Module(engine, wasm)
        except wasmtime.WasmtimeError as e:
            raise OpaWasmError(f"not a Wasm module: {e}") from e
        memory_import = next((i for i in module.imports if i.module == "env" and i.name == "memory"), None)
        if memory_import is None:
            raise OpaWasmError("not an OPA policy module: it imports no env.memory")
        self.memory = wasmtime.Memory(self._store, wasmtime.MemoryType(
            wasmtime.Limits(memory_import.type.limits.min, memory_import.type.limits.max)))
        linker = wasmtime.Linker(engine)
        linker.define(self._store, "env", "memory", self.memory)
        i32 = wasmtime.ValType.i32()
        linker.define_func("env", "opa_abort", wasmtime.FuncType([i32], []), self._on_abort)
        linker.define_func("env", "opa_println", wasmtime.FuncType([i32], []), self._on_println)
        for arity in range(5):
            linker.define_func("env", f"opa_builtin{arity}", wasmtime.FuncType([i32] * (arity + 2), [i32]),
                               self._on_builtin)
        try:
            instance = linker.instantiate(self._store, module)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as e:
            raise OpaWasmError(f"the module does not instantiate: {e}") from e
        self._x = instance.exports(self._store)
        for name in ("opa_eval", "opa_malloc", "opa_json_parse", "opa_json_dump", "opa_heap_ptr_get",
                     "opa_heap_ptr_set", "builtins", "entrypoints", "eval", "opa_eval_ctx_new"):
            if name not in self._x:
                raise OpaWasmError(f"not an OPA policy module of ABI 1.2 or later: no export {name}")
        self.abi = (self._global("opa_wasm_abi_version"), self._global("opa_wasm_abi_minor_version"))
        if self.abi[0] != 1:
            raise OpaWasmError(f"OPA Wasm ABI {self.abi[0]}.{self.abi[1]}; this runner speaks 1.x")
        self.entrypoints: dict[str, int] = self._call_dump("entrypoints")
        self.builtin_ids: dict[str, int] = self._call_dump("builtins")
        # A built-in the module needs and the host lacks would abort mid-evaluation; refuse now.
        missing = sorted(set(self.builtin_ids) - set(self._provided))
        if missing:
            raise OpaWasmError(f"the module needs built-ins the host does not provide: {', '.join(missing)}")
        self._builtin_by_id = {i: self._provided[name] for name, i in self.builtin_ids.items()}
        self._data = self._parse(json.dumps(data if data is not None else {}).encode())
        # Everything from here up is input, result and scratch space of one evaluation.
        self.base_heap = self._x["opa_heap_ptr_get"](self._store)
        self.max_heap_used = 0
        self._last_out = 0

    # ------------------------------------------------------------------ evaluation

    def entrypoint_id(self, entrypoint: str) -> int:
        if entrypoint not in self.entrypoints:
            raise OpaWasmError(f"no entrypoint {entrypoint!r} in the module (it has {sorted(self.entrypoints)})")
        return self.entrypoints[entrypoint]

    def eval_json(self, entrypoint_id: int, input_json: bytes, empty: bool = False) -> bytes:
        """One ``opa_eval``: the result set as JSON bytes. The input goes at the base of
        the heap and evaluation starts right after it, so every call reuses the same
        memory instead of growing the heap.

        ``empty``: every host step the same (input written, heap read, the last result
        read back) but ``opa_eval`` replaced by the cheapest export: what this path costs
        Python and Wasmtime without OPA's work (needs one real call first)."""
        end = self.base_heap + len(input_json)
        self._fit(end + _PAGE)
        self.memory.write(self._store, input_json, self.base_heap)
        self._abort = None
        try:
            if empty:
                self.empty_call()
                out = self._last_out
            else:
                out = self._x["opa_eval"](self._store, 0, entrypoint_id, self._data, self.base_heap,
                                          len(input_json), end, _JSON)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as e:
            raise OpaWasmError(self._abort or f"evaluation trapped: {e}") from e
        self.max_heap_used = max(self.max_heap_used, self._x["opa_heap_ptr_get"](self._store) - self.base_heap)
        self._last_out = out
        return self.read_cstring(out)

    def evaluate(self, entrypoint: str, input_value: object) -> list:
        """The result set, as ``opa eval`` would print its values: ``[{"result": ...}]``."""
        return json.loads(self.eval_json(self.entrypoint_id(entrypoint), json.dumps(input_value).encode()))

    def prepare(self, entrypoint: str, input_value: object) -> Prepared:
        """An evaluation context with the input parsed once (see run_prepared); it lives in
        the heap eval_json reuses, so it is valid until the next eval_json."""
        ep = self.entrypoint_id(entrypoint)
        self._x["opa_heap_ptr_set"](self._store, self.base_heap)
        value = self._parse(json.dumps(input_value).encode())
        ctx = self._x["opa_eval_ctx_new"](self._store)
        self._x["opa_eval_ctx_set_input"](self._store, ctx, value)
        self._x["opa_eval_ctx_set_data"](self._store, ctx, self._data)
        self._x["opa_eval_ctx_set_entrypoint"](self._store, ctx, ep)
        return Prepared(ctx, self._x["opa_heap_ptr_get"](self._store))

    def reset(self, prepared: Prepared) -> None:
        """Drop the last evaluation's heap (not timed: run_prepared's caller does it)."""
        self._x["opa_heap_ptr_set"](self._store, prepared.heap_after_input)

    def run_prepared(self, prepared: Prepared) -> None:
        """One ``eval`` of a prepared context: evaluation alone, no JSON either way."""
        self._abort = None
        try:
            self._x["eval"](self._store, prepared.ctx)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as e:
            raise OpaWasmError(self._abort or f"evaluation trapped: {e}") from e

    def empty_call(self) -> int:
        """The cheapest export (reads one global): what a Python-to-Wasm call costs alone."""
        return self._x["opa_heap_ptr_get"](self._store)

    def memory_pages(self) -> int:
        return self.memory.size(self._store)

    # ------------------------------------------------------------------ memory and JSON

    def read_cstring(self, addr: int) -> bytes:
        # ctypes reads up to the NUL in place; memory.read would copy the whole tail.
        if not 0 < addr < self.memory.data_len(self._store):
            raise OpaWasmError(f"the module returned an address outside its memory: {addr}")
        return ctypes.string_at(ctypes.addressof(self.memory.data_ptr(self._store).contents) + addr)

    def _fit(self, size: int) -> None:
        have = self.memory.data_len(self._store)
        if size > have:
            self.memory.grow(self._store, -(-(size - have) // _PAGE))

    def _parse(self, raw: bytes) -> int:
        addr = self._x["opa_malloc"](self._store, len(raw))
        self.memory.write(self._store, raw, addr)
        value = self._x["opa_json_parse"](self._store, addr, len(raw))
        if not value:
            raise OpaWasmError("opa_json_parse refused the JSON")
        return value

    def _dump(self, value_addr: int) -> object:
        return json.loads(self.read_cstring(self._x["opa_json_dump"](self._store, value_addr)))

    def _call_dump(self, export: str) -> dict:
        return self._dump(self._x[export](self._store))

    def _global(self, name: str) -> int:
        found = self._x[name] if name in self._x else None
        return found.value(self._store) if isinstance(found, wasmtime.Global) else 0

    # ------------------------------------------------------------------ imports

    def _on_abort(self, addr: int) -> None:
        self._abort = f"opa_abort: {self.read_cstring(addr).decode(errors='replace')}"
        raise OpaWasmError(self._abort)

    def _on_println(self, addr: int) -> None:
        self.printed.append(self.read_cstring(addr).decode(errors="replace"))

    def _on_builtin(self, builtin_id: int, _ctx: int, *args: int) -> int:
        """A host built-in: its arguments come as OPA values, dumped to JSON for Python;
        its result goes back parsed into the module's heap."""
        result = self._builtin_by_id[builtin_id](*(self._dump(a) for a in args))
        return self._parse(json.dumps(result).encode())
