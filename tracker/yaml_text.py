"""YAML read safely and within bounds: no object tags (a file we read never runs code), aliases that cannot
expand to gigabytes, YAML 1.2's floats (``1e-3``), and a key given twice refused rather than the last one kept."""

from __future__ import annotations

import re

import yaml

from tracker.errors import MAX_QUOTE, TrackerError

MAX_CONFIG_BYTES = 1 << 20  # a config is a few kB; more is not a config
MAX_CONFIG_NODES = 10_000  # YAML values once aliases are expanded; the full config has about 100


def _expanded_nodes(node: yaml.Node, done: dict[int, int], open_nodes: set[int], what: str) -> int:
    """How many nodes ``node`` holds once every alias is expanded (each shared node counted once per use)."""
    key = id(node)
    if key in done:
        return done[key]
    if key in open_nodes:
        raise TrackerError(f"{what}: an alias refers to itself")
    open_nodes.add(key)
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_nodes(n, done, open_nodes, what) for n in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_nodes(k, done, open_nodes, what) + _expanded_nodes(v, done, open_nodes, what)
                       for k, v in node.value)
    else:
        size = 1
    open_nodes.discard(key)
    done[key] = size
    return size


class ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader with two YAML 1.2 readings a config needs: ``1e-3`` is a float (YAML 1.1 wants
    ``1.0e-3`` and reads ``1e-3`` as a string), and a key given twice is an error, not the last one silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the base class says so
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice (line {key_node.start_mark.line + 1})",
                    key_node.start_mark)
        return super().construct_mapping(node, deep)


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def load_yaml_text(text: str, what: str) -> object:
    """YAML, read safely and within bounds: a 400-byte alias bomb expands to gigabytes once built."""
    if len(text) > MAX_CONFIG_BYTES:
        raise TrackerError(f"{what} is {len(text)} characters, over the {MAX_CONFIG_BYTES} a config may have")
    try:
        node = yaml.compose(text, Loader=ConfigLoader)
        if node is not None and _expanded_nodes(node, {}, set(), what) > MAX_CONFIG_NODES:
            raise TrackerError(f"{what}: its aliases expand to more than {MAX_CONFIG_NODES} values")
        return yaml.load(text, Loader=ConfigLoader)  # a SafeLoader: no object tags
    except yaml.YAMLError as exc:
        raise TrackerError(f"{what} is not valid YAML: {str(exc).splitlines()[0][:MAX_QUOTE]}") from None
