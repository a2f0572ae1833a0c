"""The OTB report: success / precision plots, accuracy against batch size, attributes, table, JSON."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tracker.evaluation.harness import markdown_table, save_figure, write_json  # noqa: E402
from tracker.evaluation.metrics import PRECISION_THRESHOLDS, SUCCESS_THRESHOLDS  # noqa: E402
from tracker.evaluation.ope import (  # noqa: E402
    anchor_boxes,
    has_result,
    load_attributes,
    normalise_name,
    read_result,
    run_name,
    score_sequence,
    summarise,
)
from tracker.evaluation.run import open_sequences  # noqa: E402
from tracker.outputs import write_text  # noqa: E402


def score_tracker(scored: dict, names: list[str]) -> dict | None:
    """Summary over ``names`` of one tracker's per-sequence scores, or None if any is missing."""
    if not names or any(n not in scored for n in names):
        return None
    return summarise([scored[n] for n in names])


def peer_runs(settings: dict) -> dict[str, list[str]]:
    """Each peer's result folders: one per seed for a seeded peer (MIL), else one (sweeps before seeded peers
    had one folder each, named by the label)."""
    return settings.get("peer_runs") or {t: [t] for t in settings["peers"]}


def mean_summary(summaries: list[dict]) -> dict:
    """Seeds' summaries averaged key by key (curves point by point), with the seed count and the AUC's spread."""
    mean = {}
    for key, value in summaries[0].items():
        values = [s[key] for s in summaries]
        if any(v is None for v in values):
            mean[key] = None
        elif isinstance(value, list):
            mean[key] = np.mean(values, 0).tolist()
        else:
            mean[key] = float(np.mean(values))
    aucs = [s["success_auc"] for s in summaries]
    return {**mean, "seeds": len(summaries), "success_auc_std": float(np.std(aucs))}


def peer_score(per_tracker: dict, runs: list[str], names: list[str]) -> dict | None:
    """A seeded peer: the mean over its seeds that finished every sequence; else (or if none did) its first
    run, over the sequences it finished."""
    seeds = [s for s in (score_tracker(per_tracker[run], names) for run in runs) if s is not None]
    if len(runs) > 1 and seeds:
        return mean_summary(seeds)
    return score_tracker(per_tracker[runs[0]], [n for n in names if n in per_tracker[runs[0]]])


def write_report(out: Path, settings: dict) -> dict:
    # a sequence that cannot be opened any more is reported by its failed runs, not scored
    sequences = open_sequences(settings["otb"], settings["sequences"], unreadable={},
                               dataset=settings.get("dataset", "otb"))
    truth = {s.name: s.ground_truth for s in sequences}
    bounds = {s.name: s.bound for s in sequences}
    names = list(truth)
    results = out / "results"
    per_tracker: dict[str, dict] = {}
    run_names = [run_name(u, b, s) for u in settings["updaters"] for b in settings["batch_sizes"]
                 for s in range(settings["seeds"])]
    peers = peer_runs(settings)
    for tracker in run_names + [run for runs in peers.values() for run in runs]:
        per_tracker[tracker] = {n: score_sequence(*_result(results, tracker, n, truth[n]), bound=bounds[n])
                                for n in names if has_result(results, tracker, n)}
    missing_anchor: dict[str, list[str]] = {}
    for anchor in settings["anchors"]:
        per_tracker[anchor] = {}
        for n in names:
            boxes = anchor_boxes(Path(settings["anchors_root"]), anchor, n)
            if boxes is None:
                missing_anchor.setdefault(anchor, []).append(n)
            else:
                per_tracker[anchor][n] = score_sequence(boxes, truth[n], bound=bounds[n])

    groups = {}
    for u in settings["updaters"]:
        for b in settings["batch_sizes"]:
            seeds = [score_tracker(per_tracker[run_name(u, b, s)], names) for s in range(settings["seeds"])]
            seeds = [s for s in seeds if s is not None]
            if seeds:
                groups[(u, b)] = seeds
    others = {t: score_tracker(per_tracker[t], [n for n in names if n in per_tracker[t]])
              for t in settings["anchors"]}
    for label, runs in peers.items():
        others[label] = peer_score(per_tracker, runs, names)
    others = {t: s for t, s in others.items() if s is not None}

    out.mkdir(parents=True, exist_ok=True)
    plot_curves(out, settings, groups, others)
    plot_batch_sizes(out, settings, groups, others)
    attributes = attribute_scores(settings, names, per_tracker)
    scored_others = [row for row in other_rows(settings) if row[0] in others]
    sequences = sequence_scores(settings, names, per_tracker, scored_others)
    diagnostic = {key: sequence_scores(settings, names, per_tracker, scored_others, curve)
                  for key, curve in SIZE_DIAGNOSTIC.items()}
    report = build_tables(settings, groups, others, attributes, missing_anchor, names, sequences, diagnostic)
    write_text(out / "report.md", report)
    data = {
        "settings": settings,
        "groups": {f"{u}-b{b}": {"success_auc": [s["success_auc"] for s in seeds],
                                 "precision_20": [s["precision_20"] for s in seeds],
                                 "fps": [s["fps"] for s in seeds],
                                 **{key: [s[key] for s in seeds] for key in (*BENCHMARK_METRICS, *SIZE_DIAGNOSTIC)},
                                 "success_curve": np.mean([s["success_curve"] for s in seeds], 0).tolist(),
                                 "precision_curve": np.mean([s["precision_curve"] for s in seeds], 0).tolist()}
                   for (u, b), seeds in groups.items()},
        "others": others, "attributes": attributes, "missing_anchor_files": missing_anchor,
        "per_sequence_mean": sequences,
        "per_sequence_mean_size_diagnostic": diagnostic,
        "per_sequence": {t: {n: {"success_auc": float(s.success.mean()), "precision_20": float(s.precision[20]),
                                 "location_only_auc": float(s.location_only.mean()),
                                 "size_only_auc": float(s.size_only.mean())}
                             for n, s in scored.items()} for t, scored in per_tracker.items()},
    }
    write_json(out / "results.json", data)
    print(report)
    return data


def _result(results: Path, tracker: str, name: str, truth: np.ndarray) -> tuple:
    boxes, times = read_result(results, tracker, name)
    return boxes, truth, times


def _label(name: str, value: float) -> str:
    return f"{name} [{value:.3f}]"


def plot_curves(out: Path, settings: dict, groups: dict, others: dict) -> None:
    for b in settings["batch_sizes"]:
        for kind, x, key, score_key, xlabel in (
                ("success", SUCCESS_THRESHOLDS, "success_curve", "success_auc", "overlap threshold"),
                ("precision", PRECISION_THRESHOLDS, "precision_curve", "precision_20", "centre error threshold (px)")):
            fig, ax = plt.subplots(figsize=(6, 4.5))
            lines = []
            for u in settings["updaters"]:
                if (u, b) in groups:
                    seeds = groups[(u, b)]
                    curve = np.mean([s[key] for s in seeds], 0)
                    lines.append((np.mean([s[score_key] for s in seeds]), f"ours {u}", curve, "-"))
            for t, s in others.items():
                lines.append((s[score_key], t, np.array(s[key]), "--"))
            for score, name, curve, style in sorted(lines, key=lambda item: -item[0]):
                ax.plot(x, curve, style, label=_label(name, score))
            ax.set(xlabel=xlabel, ylabel="success rate" if kind == "success" else "precision",
                   title=f"OPE {kind} plot, online batch {b}", ylim=(0, 1.02))
            ax.grid(alpha=0.3)
            if lines:  # a sweep whose runs all failed has no curve to name
                ax.legend(fontsize=8, loc="lower left" if kind == "success" else "lower right")
            save_figure(fig, out / f"{kind}_b{b}.png")


def plot_batch_sizes(out: Path, settings: dict, groups: dict, others: dict) -> None:
    """Ours against online batch size; published trackers and peers (no online batch) as flat lines."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, title in zip(axes, ("success_auc", "precision_20"), ("success AUC", "precision@20")):
        for u in settings["updaters"]:
            sizes = [b for b in sorted(settings["batch_sizes"]) if (u, b) in groups]
            means = [np.mean([s[key] for s in groups[(u, b)]]) for b in sizes]
            stds = [np.std([s[key] for s in groups[(u, b)]]) for b in sizes]
            ax.errorbar(sizes, means, yerr=stds, marker="o", capsize=3, label=u)
        for i, (t, score) in enumerate(others.items()):
            ax.axhline(score[key], linestyle="--", linewidth=1, color=f"C{len(settings['updaters']) + i}", label=t)
        ax.set_xscale("log", base=2)
        ax.set_xlim(min(settings["batch_sizes"]) / 1.5, max(settings["batch_sizes"]) * 1.5)
        ax.set(xlabel="online batch size", ylabel=title, title=f"{title} vs batch size (mean ± std over seeds)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    save_figure(fig, out / "batch_size.png")


def comparison_table(groups: dict, others: dict) -> str:
    """One row per tracker: success AUC, precision@20, fps and, when NanoTrack ran, fps over NanoTrack's."""
    rows = [(f"ours {u} b{b}", np.mean([s["success_auc"] for s in seeds]), np.mean([s["precision_20"] for s in seeds]),
             np.mean([s["fps"] for s in seeds]) if all(s["fps"] for s in seeds) else None)
            for (u, b), seeds in groups.items()]
    rows += [(with_seeds(t, s), s["success_auc"], s["precision_20"], s["fps"]) for t, s in others.items()]
    nano = others.get("NanoTrack", {}).get("fps")
    header = ["tracker", "success AUC", "precision@20", "fps"] + (["fps / NanoTrack fps"] if nano else [])
    table = []
    for name, auc, p20, fps in sorted(rows, key=lambda row: -row[1]):
        row = [name, auc, p20, f"{fps:.1f}" if fps else "-"]
        if nano:
            row.append(f"{fps / nano:.2f}" if fps else "-")
        table.append(row)
    return markdown_table(header, table)


def with_seeds(label: str, score: dict) -> str:
    """A seeded peer's label with its seed count and spread: one seed of MIL is not MIL."""
    if "seeds" not in score:
        return label
    return f"{label} ({score['seeds']} seeds, AUC ± {score['success_auc_std']:.3f})"


def other_rows(settings: dict) -> list[tuple[str, list[str]]]:
    """(label, the result folders it averages) for the published trackers and the peers."""
    return [(t, [t]) for t in settings["anchors"]] + list(peer_runs(settings).items())


def tracker_rows(settings: dict) -> list[tuple[str, list[str]]]:
    """(label, the result folders it averages): one per (updater, batch size), over its seeds."""
    return [(f"{u}-b{b}", [run_name(u, b, s) for s in range(settings["seeds"])])
            for u in settings["updaters"] for b in settings["batch_sizes"]]


def sequence_scores(settings: dict, names: list[str], per_tracker: dict, others: list[tuple[str, list[str]]],
                    curve: str = "success") -> dict:
    """AUC of ``curve`` (a SequenceScore success curve) per sequence: mean over the seeds that finished it, per
    (updater, batch size) and other tracker."""
    table = {}
    for label, trackers in tracker_rows(settings) + others:
        entry = {n: float(np.mean([getattr(per_tracker[t][n], curve).mean() for t in trackers
                                   if n in per_tracker.get(t, {})]))
                 for n in names if any(n in per_tracker.get(t, {}) for t in trackers)}
        if entry:
            table[label] = entry
    return table


def attribute_scores(settings: dict, names: list[str], per_tracker: dict) -> dict:
    """Success AUC per OTB attribute: mean over the sequences having it (and over seeds)."""
    path = Path(settings["anchors_root"]) / "attributes.txt"
    if not path.is_file():
        return {}
    tags = load_attributes(path)
    by_attribute: dict[str, list[str]] = {}
    for n in names:
        for tag in tags.get(normalise_name(n), []):
            by_attribute.setdefault(tag, []).append(n)
    table = {}
    rows = tracker_rows(settings) + other_rows(settings)
    for label, trackers in rows:
        entry = {}
        for tag, seqs in sorted(by_attribute.items()):
            values = [np.mean([per_tracker[t][n].success.mean() for n in seqs]) for t in trackers
                      if all(n in per_tracker.get(t, {}) for n in seqs)]
            if values:
                entry[tag] = float(np.mean(values))
        if entry:
            table[label] = entry
    return {"sequences": by_attribute, "success_auc": table}


# the size diagnostic (tracker.evaluation.metrics.size_diagnostic_curves): summary key -> SequenceScore curve
SIZE_DIAGNOSTIC = {"location_only_auc": "location_only", "size_only_auc": "size_only"}

# each benchmark's own scores, reported beside the OTB curves (keys of tracker.evaluation.ope.summarise)
BENCHMARK_METRICS = {"ao": "AO", "sr50": "SR0.5", "sr75": "SR0.75", "norm_precision": "normalised precision"}
OWN_METRICS = {"got10k": ("ao", "sr50", "sr75"), "lasot": ("norm_precision",)}


def own_metrics_table(dataset: str, groups: dict, others: dict) -> list[str]:
    """The dataset's own metrics: GOT-10k's AO and success rates, LaSOT's normalised precision."""
    keys = OWN_METRICS.get(dataset)
    if not keys:
        return []
    def spread(values: list[float]) -> str:
        return f"{np.mean(values):.3f} ± {np.std(values):.3f}"

    rows = [[f"ours {u} b{b}", len(seeds)] + [spread([s[k] for s in seeds]) for k in keys]
            for (u, b), seeds in groups.items()]
    rows += [[t, s.get("seeds", "-")] + [f"{s[k]:.3f}" for k in keys] for t, s in others.items()]
    scope = ("AO and SR over every frame after the first where the target is visible, all sequences together "
             "(got10k's ExperimentGOT10k)" if dataset == "got10k" else
             "centre error in units of the true box's size, 51 thresholds 0-0.5, mean over sequences")
    return [f"## {dataset} metrics\n", f"{scope}.\n",
            markdown_table(["tracker", "seeds"] + [BENCHMARK_METRICS[k] for k in keys], rows), ""]


def size_diagnostic_tables(groups: dict, others: dict, names: list[str], sequences: dict,
                           diagnostic: dict) -> list[str]:
    """Where success AUC is lost: the AUC with the true size at each tracker's centres (its location alone)
    and with its size at the true centres (its size alone), overall and per sequence."""
    def mean(seeds: list[dict], key: str) -> float:
        return float(np.mean([s[key] for s in seeds]))

    rows = [[f"ours {u} b{b}", mean(seeds, "success_auc"), mean(seeds, "location_only_auc"),
             mean(seeds, "size_only_auc")] for (u, b), seeds in groups.items()]
    rows += [[t, s["success_auc"], s["location_only_auc"], s["size_only_auc"]] for t, s in others.items()
             if s.get("location_only_auc") is not None]
    rows = [row + [row[2] - row[1], row[3] - row[1]] for row in sorted(rows, key=lambda row: -row[1])]
    parts = ["## Where success AUC is lost: location against size\n",
             "Success AUC as scored; with the true width and height at the tracker's own centres (its location "
             "alone: what a perfect size would give); with its own width and height at the true centres (its size "
             "alone). Ours: mean over seeds.\n",
             markdown_table(["tracker", "success AUC", "true size at its centre", "its size at the true centre",
                             "lost to size", "lost to location"], rows), ""]
    labels = [label for label in sequences if label in diagnostic["location_only_auc"]]
    if labels:
        cells = [[n] + [f"{sequences[label][n]:.3f} / {diagnostic['location_only_auc'][label][n]:.3f} / "
                        f"{diagnostic['size_only_auc'][label][n]:.3f}" if n in sequences[label] else "-"
                        for label in labels] for n in names]
        parts += ["Per sequence: success AUC / true size at its centre / its size at the true centre.\n",
                  markdown_table(["sequence"] + labels, cells), ""]
    return parts


def build_tables(settings: dict, groups: dict, others: dict, attributes: dict, missing_anchor: dict,
                 names: list[str], sequences: dict, diagnostic: dict) -> str:
    rows = []
    for (u, b), seeds in groups.items():
        auc = [s["success_auc"] for s in seeds]
        p20 = [s["precision_20"] for s in seeds]
        fps = [s["fps"] for s in seeds if s["fps"]]
        rows.append([u, b, len(seeds), f"{np.mean(auc):.3f} ± {np.std(auc):.3f}",
                     f"{np.mean(p20):.3f} ± {np.std(p20):.3f}", f"{np.mean(fps):.1f}" if fps else "-"])
    expected = settings["seeds"]
    partial = [f"{u}-b{b}" for (u, b), seeds in groups.items() if len(seeds) < expected]
    missing = [f"{u}-b{b}" for u in settings["updaters"] for b in settings["batch_sizes"] if (u, b) not in groups]
    setup = f"backbone: {settings['setup']['backbone']}; config: {settings['config_file'] or 'defaults'}"
    dataset = settings.get("dataset", "otb")
    parts = [f"# One-pass evaluation ({dataset})\n\n{len(names)} sequences: {', '.join(names)}\n\n{setup}\n",
             "## Ours: updater x online batch size (mean ± std over seeds)\n",
             markdown_table(["updater", "batch", "seeds", "success AUC", "precision@20", "fps"], rows), ""]
    parts += own_metrics_table(dataset, groups, others)
    if others:
        parts += ["## Every tracker, same sequences and frames\n",
                  "Ours: mean over seeds. Published trackers: their raw results (no fps: not run here). "
                  "OpenCV peers: run in this sweep, timed per frame like ours.\n",
                  comparison_table(groups, others), ""]
    if groups or others:
        parts += size_diagnostic_tables(groups, others, names, sequences, diagnostic)
    notes = []
    if partial or missing:
        notes.append(f"- Unfinished sweep: fewer than {expected} seeds for {', '.join(partial) or 'none'}; "
                     f"no finished seed for {', '.join(missing) or 'none'} (a seed counts once all sequences ran).")
    for anchor, seqs in missing_anchor.items():
        notes.append(f"- {anchor} has no result file for {', '.join(seqs)}; it is scored on the rest.")
    for label, reason in settings.get("peers_skipped", {}).items():
        notes.append(f"- {label} not run: {reason}.")
    if notes:
        parts += ["## Notes\n", "\n".join(notes), ""]
    failed = settings.get("failed_runs", {})
    if failed:
        parts += ["## Failed runs\n", "Not scored: the same command retries them (and the unfinished ones).\n",
                  markdown_table(["run / sequence", "why"], [[run, why] for run, why in sorted(failed.items())]), ""]
    if sequences:
        labels = list(sequences)
        rows = [[n] + [sequences[label].get(n, "-") for label in labels] for n in names]
        rows.append(["**mean**"] + [float(np.mean(list(sequences[label].values()))) for label in labels])
        parts += ["## Success AUC per sequence (ours: mean over seeds)\n",
                  markdown_table(["sequence"] + labels, rows), ""]
    table = attributes.get("success_auc", {})
    if table:
        tags = sorted({t for entry in table.values() for t in entry})
        counts = {t: len(attributes["sequences"][t]) for t in tags}
        parts += ["## Success AUC per attribute\n",
                  markdown_table(["tracker"] + [f"{t} ({counts[t]})" for t in tags],
                                 [[label] + [entry.get(t, "-") for t in tags] for label, entry in table.items()]), ""]
    return "\n".join(parts) + "\n"
