"""The summary of a sipp_compare run: per workload and server, best rate, CPU, response times."""

from __future__ import annotations

from bench.sippbench.measure import WORKLOADS, Step


def best(steps: list[Step]) -> Step | None:
    """The passed step with the highest rate (search and fixed-rate steps alike)."""
    passed = [s for s in steps if s.passed]
    return max(passed, key=lambda s: s.rate) if passed else None


def _at(steps: list[Step], rate: int | None, tag: str | None = None) -> Step | None:
    found = [s for s in steps if s.rate == rate and (tag is None or tag in s.tags)]
    return found[-1] if found else None


def _cols(step: Step | None, prefix: str) -> dict:
    return {
        f"{prefix}_cpu_us_per_tx": _r(step.cpu_us_per_tx) if step else None,
        f"{prefix}_cpu_us_per_call": _r(step.cpu_us_per_call) if step else None,
        f"{prefix}_p50_ms": step.p50_ms if step else None,
        f"{prefix}_p99_ms": step.p99_ms if step else None,
        f"{prefix}_passed": step.passed if step else None,
    }


def summary(results: dict[tuple[str, str], list[Step]]) -> list[dict]:
    """Per workload: each server at its best rate, at the highest rate all passed, at half
    of kamtool's best rate; and the ratios kamtool/Kamailio.
    """
    rows = []
    for workload in dict.fromkeys(w for _, w in results):
        per = {s: results[(s, w)] for s, w in results if w == workload}
        passed_rates = [{s.rate for s in steps if s.passed} for steps in per.values()]
        common = max(set.intersection(*passed_rates), default=None)
        kt = best(per.get("kamtool", []))
        half = max(kt.rate // 2, 1) if kt else None
        row: dict = {"workload": workload, "common_rate": common, "half_rate": half}
        for server, steps in per.items():
            b = best(steps)
            row[server] = {
                "best_rate_cps": b.rate if b else 0,
                "best_tx_per_s": b.rate * WORKLOADS[workload].tx_per_call if b else 0,
                **_cols(b, "best"),
                **_cols(_at([s for s in steps if s.passed], common), "common"),
                **_cols(_at(steps, half, "half"), "half"),
            }
        if "kamtool" in row and "kamailio" in row:
            row["ratio"] = {
                key: _ratio(row["kamtool"][key], row["kamailio"][key])
                for key in row["kamtool"]
                if key.endswith(("_cps", "_cpu_us_per_tx", "_cpu_us_per_call"))
            }
        rows.append(row)
    return rows


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


HEAD = (
    "workload", "server", "best cps", "CPU us/tx @best", "CPU us/call @best", "p50/p99 ms @best",
    "CPU us/tx @common (cps)", "p50/p99 ms @common", "p50/p99 ms @half kamtool best (cps)",
)  # fmt: skip


def markdown_table(rows: list[dict], notes: list[str] = ()) -> str:
    """The summary as a markdown table (then the notes, one line each)."""
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    for row in rows:
        servers = [k for k in row if isinstance(row[k], dict) and k != "ratio"]
        for server in [*servers, "ratio"]:
            if server not in row:
                continue
            d = row[server]
            if server == "ratio":
                cells = [
                    row["workload"], "**kamtool/Kamailio**", _f(d.get("best_rate_cps")),
                    _f(d.get("best_cpu_us_per_tx")), _f(d.get("best_cpu_us_per_call")), "",
                    _f(d.get("common_cpu_us_per_tx")), "", "",
                ]  # fmt: skip
            else:
                cells = [
                    row["workload"], server, _f(d["best_rate_cps"]), _f(d["best_cpu_us_per_tx"]),
                    _f(d["best_cpu_us_per_call"]), _pp(d, "best"),
                    f"{_f(d['common_cpu_us_per_tx'])} ({_f(row['common_rate'])})",
                    _pp(d, "common"), f"{_pp(d, 'half')} ({_f(row['half_rate'])})"
                    + ("" if d["half_passed"] in (True, None) else " failed"),
                ]  # fmt: skip
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines += [f"\n{n}" for n in notes]
    return "\n".join(lines)


def _pp(d: dict, prefix: str) -> str:
    return f"{_f(d[f'{prefix}_p50_ms'])}/{_f(d[f'{prefix}_p99_ms'])}"


def _f(x: object) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)
