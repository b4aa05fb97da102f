"""Are all ops of a SavedModel registered in a given TF Serving release?

A stock `tensorflow_model_server` registers the TensorFlow core ops of the
release it was built from plus the tensorflow-text ops of the tf-text release
it links (2.16 to 2.19 link tf-text 2.12, 2.20 and 2.21 link tf-text 2.20). A graph
with any other op fails to load with `Op type not registered`. The op sets are
data files in `opsets/` (see `servers.json` and each file's header for where
the list comes from and `registry_dump.py` for how it was made).

Every op of every function of the graph is checked, not only those a signature
reaches, since the server imports the whole function library; so is every attr
of every node (a node with an attr its server's OpDef does not declare, e.g.
one added to the op in a later release, fails to load with `NodeDef mentions
attr`). Attrs named `_...` are internal and not checked.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os

from tensorflow.core.protobuf import saved_model_pb2

OPSETS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "opsets")
# Ops reached by no signature: the main graph (saver, init) and unused functions.
OTHER = "(graph)"


class OpCompatibilityError(ValueError):
    """A SavedModel uses ops that a TF Serving release does not register."""


@functools.cache
def servers() -> dict:
    """The known TF Serving releases: `{"2.19": {"tensorflow": ..., ...}}`."""
    with open(os.path.join(OPSETS_DIR, "servers.json"), encoding="utf-8") as stream:
        return json.load(stream)


@functools.cache
def server_ops(server_version: str) -> dict[str, frozenset[str]]:
    """`{op name: attr names}` of the ops a TF Serving release registers."""
    known = servers()
    if server_version not in known:
        raise ValueError(
            f"unknown TF Serving version {server_version!r}; known: {sorted(known)}"
        )
    ops = {}
    for filename in known[server_version]["op_files"]:
        with open(os.path.join(OPSETS_DIR, filename), encoding="utf-8") as stream:
            for line in stream:
                if line.strip() and not line.startswith("#"):
                    name, *attrs = line.split()
                    ops[name] = frozenset(attrs)
    return ops


def read_meta_graph(saved_model_dir: str):
    """The `serve` MetaGraphDef of a SavedModel folder."""
    path = os.path.join(saved_model_dir, "saved_model.pb")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no saved_model.pb in {saved_model_dir}")
    proto = saved_model_pb2.SavedModel()
    with open(path, "rb") as stream:
        proto.ParseFromString(stream.read())
    for meta_graph in proto.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return meta_graph
    raise ValueError(f"{saved_model_dir} has no MetaGraph tagged 'serve'")


def _called_functions(node, library) -> list[str]:
    """Functions a node calls: its op (a function call) or function attrs
    (`f`, `body`, `cond`, `then_branch`, ...)."""
    called = [node.op] if node.op in library else []
    for value in node.attr.values():
        if value.HasField("func"):
            called.append(value.func.name)
        if value.HasField("list"):
            called.extend(function.name for function in value.list.func)
    return called


def signature_ops(saved_model_dir: str) -> dict[str, dict[str, set[str]]]:
    """The ops of a SavedModel: `{signature: {op: names of the attrs its nodes
    set}}`, where a signature's ops are those of the graph nodes its outputs
    depend on and of every function they call (transitively). Ops reached by
    no signature are under `OTHER`. Calls of library functions are not ops."""
    meta_graph = read_meta_graph(saved_model_dir)
    graph = meta_graph.graph_def
    library = {function.signature.name: function for function in graph.library.function}
    nodes = {node.name: node for node in graph.node}

    def function_ops(name, seen, counts):
        if name in seen or name not in library:
            return
        seen.add(name)
        for node in library[name].node_def:
            if node.op not in library:
                counts.setdefault(node.op, set()).update(node.attr)
            for called in _called_functions(node, library):
                function_ops(called, seen, counts)

    def node_ops(roots, seen_nodes, seen_functions, counts):
        stack = list(roots)
        while stack:
            name = stack.pop().lstrip("^").split(":")[0]
            if name in seen_nodes or name not in nodes:
                continue
            seen_nodes.add(name)
            node = nodes[name]
            if node.op not in library:
                counts.setdefault(node.op, set()).update(node.attr)
            for called in _called_functions(node, library):
                function_ops(called, seen_functions, counts)
            stack.extend(node.input)

    result = {}
    reached_nodes, reached_functions = set(), set()
    for name, signature in sorted(meta_graph.signature_def.items()):
        roots = [tensor.name for tensor in signature.outputs.values()]
        seen_nodes, seen_functions, counts = set(), set(), {}
        node_ops(roots, seen_nodes, seen_functions, counts)
        result[name] = counts
        reached_nodes |= seen_nodes
        reached_functions |= seen_functions
    others = {}
    node_ops(
        [name for name in nodes if name not in reached_nodes],
        set(reached_nodes),
        reached_functions,
        others,
    )
    for name in sorted(library):
        function_ops(name, reached_functions, others)
    result[OTHER] = others
    return result


@dataclasses.dataclass
class OpCheck:
    """The result of checking one SavedModel against one TF Serving release.

    Attributes:
        saved_model_dir: str. The version folder checked.
        server_version: str. The TF Serving release (`"2.19"`).
        ops: dict. `{signature: {op: attrs}}` (`signature_ops`).
        missing: dict. `{op: [signatures that use it]}` for unregistered ops.
        unknown_attrs: dict. `{(op, attr): [signatures]}` for attrs the
            server's OpDef does not declare.
    """

    saved_model_dir: str
    server_version: str
    ops: dict
    missing: dict
    unknown_attrs: dict = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.unknown_attrs

    def describe_server(self) -> str:
        info = servers()[self.server_version]
        return (
            f"TF Serving {self.server_version} (tensorflow {info['tensorflow']}, "
            f"tensorflow-text {info['tensorflow_text']})"
        )

    def errors(self) -> list[str]:
        errors = [
            f"op {op!r} used by signature {', '.join(map(repr, where))} is not "
            f"registered in {self.describe_server()}"
            for op, where in sorted(self.missing.items())
        ]
        errors += [
            f"op {op!r} has attr {attr!r} (signature "
            f"{', '.join(map(repr, where))}) that {self.describe_server()} does "
            "not declare"
            for (op, attr), where in sorted(self.unknown_attrs.items())
        ]
        return errors


def check(saved_model_dir: str, server_version: str) -> OpCheck:
    """Checks every op of the SavedModel against a server release's op set."""
    registered = server_ops(server_version)
    ops = signature_ops(saved_model_dir)
    missing, unknown_attrs = {}, {}
    for signature, used in ops.items():
        for op, attrs in used.items():
            if op not in registered:
                missing.setdefault(op, []).append(signature)
                continue
            for attr in sorted(attrs - registered[op]):
                if not attr.startswith("_"):
                    unknown_attrs.setdefault((op, attr), []).append(signature)
    return OpCheck(saved_model_dir, server_version, ops, missing, unknown_attrs)


def require_compatible(saved_model_dir: str, server_versions) -> list[OpCheck]:
    """Raises `OpCompatibilityError` naming each unregistered op and the
    signatures using it, when any of `server_versions` lacks one."""
    results = [check(saved_model_dir, version) for version in server_versions]
    errors = [error for result in results for error in result.errors()]
    if errors:
        raise OpCompatibilityError(
            "the SavedModel would not load in a stock TF Serving: " + "; ".join(errors)
        )
    return results
