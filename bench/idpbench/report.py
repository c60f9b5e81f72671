"""One table (figure, measured, floor, ratio, target, parameters) and the JSON of a run."""

from __future__ import annotations

import json
from pathlib import Path

TITLES = {
    "signin": "full password sign-in",
    "token-rs256": "code exchange /token (ID token RS256)",
    "token-es256": "code exchange /token (ID token ES256)",
    "refresh": "refresh at /token",
    "client_credentials": "client_credentials at /token",
    "introspection": "introspection",
    "userinfo": "UserInfo (Bearer access token)",
    "discovery": "discovery",
    "jwks": "JWKS",
}


HEADER = ("figure", "measured", "server CPU", "floor", "ratio", "ratio (CPU)", "target", "parameters")


def _measured(item: dict) -> str:
    return f"{item['per_second']:,.1f}/s  p50 {item['p50_ms']:,.1f} ms  p99 {item['p99_ms']:,.1f} ms"


def _cpu(item: dict) -> str:
    per = item.get("server_cpu_ms_per_request")
    return f"{per:,.2f} ms/req" if per is not None else ""


def _ratio(value) -> str:
    return f"{value:.2f}" if value is not None else ""


def rows_for_run(run: dict) -> list[list[str]]:
    rows = []
    for name, item in run["scenarios"].items():
        title = TITLES.get(name, name)
        if item["status"] != "ok":
            rows.append([title, f"{item['status']}: {item['reason']}", "", "", "", "", "", ""])
            continue
        floor = item.get("floor", {})
        ratio = item.get("ratio")
        target = item.get("target", "")
        if item.get("met_parts"):
            target = "; ".join(f"{label} {'met' if met else 'NOT met'}" for label, met in item["met_parts"])
        elif target and item.get("met") is not None:
            target = f"{target} {'met' if item['met'] else 'NOT met'}"
        errors = f"  ({item['errors']} errors)" if item.get("errors") else ""
        floor_label = floor.get("label", "")
        if floor.get("cpu_ms"):
            floor_label += f" ({floor['cpu_ms']:,.2f} ms CPU)"
        rows.append(
            [
                title,
                _measured(item) + errors,
                _cpu(item),
                floor_label,
                _ratio(ratio),
                _ratio(item.get("ratio_cpu")),
                target,
                item.get("parameters", ""),
            ]
        )
    memory = run.get("memory")
    if memory:
        rows.append(
            [
                "resident memory per worker",
                f"{memory['after_mib']} MiB after {memory['signins']:,} sign-ins",
                "",
                f"{memory['start_mib']} MiB at start",
                "",
                "",
                "",
                memory.get("parameters", ""),
            ]
        )
    storage = run.get("storage")
    if storage:
        sessions = storage["browser_sessions"]
        rows.append(
            [
                "per 10,000 active sessions",
                f"{sessions['rows_per_10k']:,} rows, {sessions['bytes_per_10k'] / 1e6:,.1f} MB in browser_sessions "
                f"({sessions['bytes_per_row']:,} bytes a row)",
                "",
                "",
                "",
                "",
                "",
                storage.get("parameters", ""),
            ]
        )
    return rows


def format_table(rows: list[list[str]], header=HEADER) -> str:
    widths = [max(len(str(r[i])) for r in [list(header), *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def format_markdown(rows: list[list[str]], header=HEADER) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(out)


def floors_summary(results: dict) -> list[str]:
    floors = results["floors"]
    argon = floors["argon2id"]
    params = argon["parameters"]
    lines = [
        f"floors on core {results['options']['server_cpu']}: "
        f"Argon2id verify {argon['seconds'] * 1000:.1f} ms ({argon['per_second']:.1f}/s; "
        f"m={params.get('m')} KiB, t={params.get('t')}, p={params.get('p')}), "
        f"RS256 signature {floors['RS256']['seconds'] * 1000:.3f} ms, "
        f"ES256 signature {floors['ES256']['seconds'] * 1000:.3f} ms"
    ]
    lines[0] += (
        f"; CPU time: Argon2id {argon['cpu_seconds'] * 1000:.1f} ms, "
        f"RS256 {floors['RS256']['cpu_seconds'] * 1000:.3f} ms, ES256 {floors['ES256']['cpu_seconds'] * 1000:.3f} ms"
    )
    for model, bare in floors.get("bare", {}).items():
        lines.append(f"bare Flask JSON, {model}: {_measured(bare)}, server CPU {_cpu(bare)}")
    return lines


def interference(results: dict) -> str | None:
    """One line when other processes took a noticeable share of the server's core."""
    shares = [
        item.get("others_on_server_core")
        for run in results["runs"]
        for item in run["scenarios"].values()
        if item.get("others_on_server_core") is not None
    ]
    if shares and max(shares) > 0.05:
        return (
            f"note: other processes took up to {max(shares):.0%} of the server's core during the run; "
            "wall-clock rates are low by about that much, the CPU columns much less so"
        )
    return None


def render(results: dict) -> tuple[str, str]:
    """The text printed at the end of a run, and the same as Markdown."""
    text, markdown = [], []
    machine = results["machine"]
    heading = (
        f"idp bench {results['started_at']} on {machine['cpu_model']} ({machine['cpus']} CPUs, "
        f"load average at start {machine['load_average_at_start'][0]:.2f}); commit "
        f"{results['git']['commit'][:12]}{' (idp/ changed)' if results['git']['dirty'] else ''}"
    )
    summary = floors_summary(results)
    note = interference(results)
    if note:
        summary.append(note)
    text += [heading, *summary, ""]
    markdown += [heading, "", *[f"- {line}" for line in summary], ""]
    for run in results["runs"]:
        title = f"{run['database']}, {run['server']['description']}"
        rows = rows_for_run(run)
        text += [f"== {title}", format_table(rows), ""]
        markdown += [f"### {title}", "", format_markdown(rows), ""]
    return "\n".join(text), "\n".join(markdown)


def write(results: dict, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stem = results["started_at"].replace(":", "").replace("-", "")
    json_path = directory / f"{stem}.json"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    markdown_path = directory / f"{stem}.md"
    markdown_path.write_text(render(results)[1] + "\n")
    return json_path, markdown_path
