"""The WHERE clauses the statements share: scope, metadata filters, world validity and time
range, each as statement text built from constants plus the parameters it references."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from recalld.graph.cypher.schema import MAX_DEPTH, META_NUMBER_PREFIX, META_STRING_PREFIX, SCOPE_KEYS, SCOPE_PROPS
from recalld.graph.cypher.values import lookup_key
from recalld.kernel.domain import FilterOp, MetadataFilter, Scope, TimeRange, Validity
from recalld.kernel.filters import KEY_PATTERN
from recalld.kernel.times import to_micros

# relation variables: ``r``, and ``r1``..``r8`` for the steps of a walk written out (expand_query)
_REL_VARS = frozenset(["r", *(f"r{i}" for i in range(1, MAX_DEPTH + 1))])


def scope_predicate(var: str, scope: Scope) -> tuple[str, dict[str, Any]]:
    """``var.user_id = $scope_user_id AND ...`` for the equalities of a read scope
    (``Scope.filter_items``: the set fields, and with ``exact`` the unset ones as ""); on memories
    (``m``) a set field is also looked up through its indexed ``user_key`` etc. An unset field is
    compared raw only: its key would be the same for most memories. ``ep`` (episodes) and ``o``
    (operations) compare the raw fields only, like relations (``r``)."""
    if var not in ("m", "ep", "o") and var not in _REL_VARS:
        raise ValueError(f"unexpected variable {var!r}")
    if scope.is_empty:
        raise ValueError("empty scope")
    items = scope.filter_items()
    for k, _ in items:
        if k not in SCOPE_PROPS:  # Scope.filter_items() only yields these; keep the guarantee local
            raise ValueError(f"unexpected scope field {k!r}")
    params = {f"scope_{k}": v for k, v in items}
    clauses = [f"{var}.{k} = $scope_{k}" for k, _ in items]
    if var == "m":
        keyed = [(SCOPE_KEYS[k], v) for k, v in items if v]
        clauses = [f"m.{key} = $scope_{key}" for key, _ in keyed] + clauses
        params.update({f"scope_{key}": lookup_key(v) for key, v in keyed})
    return " AND ".join(clauses), params


def _typed(value: Any) -> tuple[str, Any]:
    """('s', str) or ('n', number) as stored in the flattened metadata properties."""
    if isinstance(value, bool):
        return "n", int(value)
    if isinstance(value, int | float):
        return "n", value
    if isinstance(value, str):
        return "s", value
    raise ValueError(f"unsupported filter value {value!r}")


def metadata_predicate(filters: Sequence[MetadataFilter]) -> tuple[str, dict[str, Any]]:
    """`` AND ...`` clauses over the flattened ``m_s_``/``m_n_`` properties of ``m``.

    Semantics of the embedded store's ``json_extract`` comparisons: see the module docstring."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    for i, f in enumerate(filters):
        if not KEY_PATTERN.match(f.key):
            raise ValueError(f"invalid metadata key {f.key!r}")
        prop = {"s": META_STRING_PREFIX + f.key, "n": META_NUMBER_PREFIX + f.key}
        if f.op is FilterOp.IN:
            typed = [_typed(x) for x in f.value]
            params.update({f"f{i}_s": prop["s"], f"f{i}_n": prop["n"]})
            params[f"f{i}_vs"] = [x for t, x in typed if t == "s"]
            params[f"f{i}_vn"] = [x for t, x in typed if t == "n"]
            clauses.append(f"(m[$f{i}_s] IN $f{i}_vs OR m[$f{i}_n] IN $f{i}_vn)")
            continue
        kind, params[f"f{i}_v"] = _typed(f.value)
        other = "n" if kind == "s" else "s"
        same_p, other_p, v = f"$f{i}_{kind}", f"$f{i}_{other}", f"$f{i}_v"
        params[f"f{i}_{kind}"] = prop[kind]
        if f.op is FilterOp.EQ:
            clauses.append(f"m[{same_p}] = {v}")
        elif f.op is FilterOp.NE:
            clauses.append(f"(m[{same_p}] IS NULL OR m[{same_p}] <> {v})")
        else:
            op = {FilterOp.GT: ">", FilterOp.GTE: ">=", FilterOp.LT: "<", FilterOp.LTE: "<="}[f.op]
            # Every number sorts before every string: a value of the other type is greater than a
            # number and less than a string.
            if (kind == "n") == (op in (">", ">=")):
                params[f"f{i}_{other}"] = prop[other]
                clauses.append(f"(m[{same_p}] {op} {v} OR m[{other_p}] IS NOT NULL)")
            else:
                clauses.append(f"m[{same_p}] {op} {v}")
    return "".join(f" AND {c}" for c in clauses), params


def validity_predicate(var: str, validity: Validity | None) -> tuple[str, dict[str, Any]]:
    """`` AND ...`` on the world validity of ``m`` (a memory) or ``r`` (a relation); see
    Validity. Nodes written before recalld 0.3 have no valid_from: their reference time counts
    (relations: valid since always)."""
    if var != "m" and var not in _REL_VARS:
        raise ValueError(f"unexpected variable {var!r}")
    if validity is None or validity.include_retired:
        return "", {}
    if validity.as_of is not None:
        start = "coalesce(m.valid_from, m.reference_time)" if var == "m" else f"coalesce({var}.valid_from, 0)"
        return (
            f" AND {start} <= $as_of AND ({var}.valid_to IS NULL OR {var}.valid_to > $as_of)",
            {"as_of": to_micros(validity.as_of)},
        )
    return f" AND {var}.valid_to IS NULL", {}


def time_predicate(time_range: TimeRange | None) -> tuple[str, dict[str, Any]]:
    text, params = "", {}
    if time_range is not None and time_range.start is not None:
        text += " AND m.reference_time >= $t_start"
        params["t_start"] = to_micros(time_range.start)
    if time_range is not None and time_range.end is not None:
        text += " AND m.reference_time < $t_end"
        params["t_end"] = to_micros(time_range.end)
    return text, params
