#!/usr/bin/env python3
"""The mixed-precision step's results (variants amp-clip and bf16-master): netcl's AMP step
against PyTorch's sequence, the plain-Java loop and the copy bandwidth, and the bf16
master-weight step against fp32. scripts/bench-amp runs it on its own:

    amp_report.py --rounds AMPROUNDS.json [--torch TORCH.json] --json OUT.json --markdown OUT.md

and report.py (scripts/bench) merges the same rows, tables and targets into its report.

Targets (the mixed-precision issue), at every size: torch / netcl >= 5, java-loop / netcl >= 1.0,
netcl within 1.2x of the time the two passes' bytes take at the copy bandwidth (netcl / copy
<= 1.2, the copy moving the same bytes in the same round).
"""
import argparse
import json

import targets

LEGEND = ("amp-clip: netcl's fp32 AMP step (GradScaler.unscale, clipGradNorm to 0.5, GradScaler.step, update) "
          "against PyTorch's sequence (unscale_, clip_grad_norm_, step, update; all threads), timed on its own, "
          "and, in the same rounds as netcl, the plain-Java loop doing the same in two passes (all threads) and a "
          "copy of the two passes' bytes (24 B/float). bf16-master: BF16 parameters and gradients with float32 "
          "masters (22 B/float) against the same step on fp32 (24 B/float), without clipping, same rounds. "
          "Ratios within a round, median [quartiles] over the rounds.")


def fastest_torch(torch):
    """PyTorch's faster implementation per case ("resnet50" or the size), from torch_rmsprop.py --amp."""
    fastest = {}
    for r in (torch or {}).get("results", []):
        case = "resnet50" if r["tensors"] > 1 else str(r["numel"])
        if case not in fastest or r["ms_per_step"] < fastest[case]["ms_per_step"]:
            fastest[case] = r
    return fastest


def rows(amp_rounds, torch):
    """One row per case of AmpRounds' JSON, with PyTorch's time where torch ran (else None)."""
    fastest = fastest_torch(torch)
    result = []
    for c in amp_rounds["cases"]:
        ms = {k: v["median"] for k, v in c["ms_per_step"].items()}
        t = fastest.get(c["case"])
        result.append({
            "case": c["case"], "numel": c["numel"], "tensors": c["tensors"],
            "variant": "amp-clip",
            "netcl_ms": ms["netcl-amp-clip"], "java_loop_ms": ms["java-loop-amp-clip"], "copy_ms": ms["copy"],
            "torch_ms": t["ms_per_step"] if t else None, "torch_impl": t["impl"] if t else None,
            "torch_over_netcl": t["ms_per_step"] / ms["netcl-amp-clip"] if t else None,
            "java_loop_over_netcl": c["ratios"]["java_loop_over_netcl"],
            "netcl_over_copy": c["ratios"]["netcl_over_copy"],
            "netcl_gb_per_s": c["bytes_per_step"]["amp-clip-two-passes"] / (ms["netcl-amp-clip"] * 1e6),
            "copy_gb_per_s": c["bytes_per_step"]["amp-clip-two-passes"] / (ms["copy"] * 1e6),
            "netcl_step_alone_ms": ms["netcl-step"],
            "bf16-master": {
                "variant": "bf16-master",
                "bytes_per_step": c["bytes_per_step"]["bf16-master"], "fp32_bytes_per_step": c["bytes_per_step"]["amp"],
                "ms": ms["netcl-bf16-master"], "fp32_ms": ms["netcl-amp"],
                "gb_per_s": c["bytes_per_step"]["bf16-master"] / (ms["netcl-bf16-master"] * 1e6),
                "fp32_gb_per_s": c["bytes_per_step"]["amp"] / (ms["netcl-amp"] * 1e6),
                "time_over_fp32": c["ratios"]["bf16_over_fp32_time"]},
        })
    return result


def markdown(results):
    lines = ["| case | netcl amp-clip ms | torch/netcl (>= 5) | java-loop/netcl (>= 1.0) [q1, q3] "
             "| netcl/copy (<= 1.2) [q1, q3] | netcl GB/s | copy GB/s | netcl step alone ms |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        j, c = r["java_loop_over_netcl"], r["netcl_over_copy"]
        torch_ratio = f"{r['torch_over_netcl']:.2f} ({r['torch_impl']})" if r["torch_over_netcl"] else "n/a"
        lines.append(f"| {r['case']} | {r['netcl_ms']:.3f} | {torch_ratio} "
                     f"| {j['median']:.2f} [{j['q1']:.2f}, {j['q3']:.2f}] | {c['median']:.2f} [{c['q1']:.2f}, {c['q3']:.2f}] "
                     f"| {r['netcl_gb_per_s']:.2f} | {r['copy_gb_per_s']:.2f} | {r['netcl_step_alone_ms']:.3f} |")
    lines += ["", "| case | bf16-master bytes/step | fp32 bytes/step | bf16 ms | fp32 ms | bf16 GB/s | fp32 GB/s "
              "| bf16/fp32 time [q1, q3] |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        b = r["bf16-master"]
        q = b["time_over_fp32"]
        lines.append(f"| {r['case']} | {b['bytes_per_step']} | {b['fp32_bytes_per_step']} | {b['ms']:.3f} "
                     f"| {b['fp32_ms']:.3f} | {b['gb_per_s']:.2f} | {b['fp32_gb_per_s']:.2f} "
                     f"| {q['median']:.2f} [{q['q1']:.2f}, {q['q3']:.2f}] |")
    return "\n".join(lines) + "\n"


def worst(results, name, value_of, goal, at_least, lacking="AmpRounds' cases"):
    """The target over every case: its worst value, every case's value in the detail."""
    values = [(r["case"], value_of(r)) for r in results]
    measured = [(case, v) for case, v in values if v is not None]
    if not measured:
        return targets.target(name, None, goal, at_least, targets.missing(lacking))
    case, value = (min if at_least else max)(measured, key=lambda cv: cv[1])
    return targets.target(name, value, goal, at_least, f"worst at {case}; every case: " + ", ".join(
        f"{c} {v:.2f}" if v is not None else f"{c} n/a" for c, v in values))


def goals(results):
    return [
        worst(results, "amp-clip: torch / netcl, least over the cases", lambda r: r["torch_over_netcl"], 5, True,
              "PyTorch's AMP sequence (scripts/bench --peers, scripts/bench-amp)"),
        worst(results, "amp-clip: java-loop / netcl (same rounds), least over the cases",
              lambda r: r["java_loop_over_netcl"]["median"], 1.0, True),
        worst(results, "amp-clip: netcl / copy of the two passes' bytes (same rounds), most over the cases",
              lambda r: r["netcl_over_copy"]["median"], 1.2, False),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", required=True)
    parser.add_argument("--torch")
    parser.add_argument("--json", required=True)
    parser.add_argument("--markdown", required=True)
    args = parser.parse_args()
    with open(args.rounds) as f:
        amp_rounds = json.load(f)
    torch = None
    if args.torch:
        with open(args.torch) as f:
            torch = json.load(f)
    results = rows(amp_rounds, torch)
    met = goals(results)
    with open(args.json, "w") as f:
        json.dump({"tool": "bench-amp", "cores": amp_rounds["cores"], "rounds": amp_rounds["rounds"],
                   "torch_version": (torch or {}).get("torch_version"), "results": results, "targets": met},
                  f, indent=2)
    text = LEGEND + "\n\n" + markdown(results) + "\n" + targets.markdown(met) + "\n"
    with open(args.markdown, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
