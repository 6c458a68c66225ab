#!/usr/bin/env python3
"""Merges scripts/bench's measurements into one report: JSON, a Markdown table and a chart.

    report.py --netcl-bench FILE --rounds FILE --shapes FILE [--jmh FILE]... [--torch FILE]
              [--amp-rounds FILE [--amp-torch FILE]] [--skip IMPL=REASON]... [--quick]
              --json OUT --markdown OUT --png OUT

Inputs: netcl-bench's JSON (netcl, copy, c-loop), the alternating rounds' JSON (netcl from Java
on each path against the plain-Java loop, see rounds.py), JMH's JSON files (netcl-java, raw-c,
the plain-Java peers, nd4j), torch_rmsprop.py's JSON, and the mixed-precision step's rounds
(AmpRounds) and PyTorch's AMP sequence (torch_rmsprop.py --amp), see amp_report.py. Prints the
Markdown tables and the targets. Writes {"machine", "device", "software", "quick", "rounds",
"results", "amp", "skipped", "targets"}; the chart (plot.py) shows the alternating rounds.
"""
import argparse
import json
import os
import platform
import sys

import amp_report
import jmh_results
import rounds
import shapes
import targets

VARIANTS = ["plain", "momentum", "centered_momentum", "weight_decay"]
IMPLS = ["copy", "netcl", "netcl-kernel", "netcl-host", "netcl-java", "raw-c", "c-loop", "java-loop", "java-segment",
         "torch", "torch-foreach", "nd4j"]
NETCL = {"netcl", "netcl-kernel", "netcl-host", "netcl-java", "raw-c"}
# Table columns "vs PEER": the peer's time over a netcl row's time in the same case. The Java
# loop's ratios are the alternating rounds' (same rounds), not these separate runs'.
PEER_COLUMNS = [("torch", ("torch", "torch-foreach")), ("nd4j", ("nd4j",))]
# What every harness steps (java/bench's Gradients.java says why the gradients alternate).
INPUTS = ("Inputs, the same in every harness: parameter float i starts at 0.5 * (1 + i % 7), the optimizer state "
          "at 0; the gradients alternate between two sets made before the timing, 1e-3 * (1 + i % 7) at even "
          "steps and its negation at odd steps (a step only passes the other set's addresses), so that every "
          "variant stays finite (one constant gradient made centered RMSProp NaN within about 1,200 steps); a "
          "harness that finds a NaN or infinite parameter after its steps stops instead of reporting. ND4J's "
          "updater overwrites its gradient with the update, which it steps instead.")


def machine():
    def first(path, key, separator=":"):
        """The value of the first "key<separator>value" line of a file."""
        try:
            with open(path) as f:
                return next((line.split(separator, 1)[1].strip() for line in f if line.startswith(key)), None)
        except OSError:
            return None

    mem_kib = first("/proc/meminfo", "MemTotal")
    os_name = first("/etc/os-release", "PRETTY_NAME", "=")
    return {"cpu": first("/proc/cpuinfo", "model name"), "cores": os.cpu_count(),
            "memory_gib": round(int(mem_kib.split()[0]) / 2**20, 1) if mem_kib else None,
            "os": f"{os_name.strip(chr(34)) if os_name else platform.system()} (kernel {platform.release()})"}


def load(path):
    with open(path) as f:
        return json.load(f)


def case_key(r):
    return r["variant"], r["numel"], r["tensors"]


def case_label(variant, numel, tensors, resnet50):
    if (tensors, numel) == (len(resnet50), sum(resnet50)):
        return f"{variant}, ResNet-50 list ({tensors} tensors, {numel} floats)"
    if tensors > 1:
        return f"{variant}, {tensors} tensors of {numel // tensors} floats"
    size = f"2^{numel.bit_length() - 1}" if numel & (numel - 1) == 0 else str(numel)
    return f"{variant}, {size}"


def impl_label(r):
    label = r["impl"]
    if "chosen_from" in r:
        label += f" ({r['chosen_from'].rsplit('-', 1)[1]})"
    if r["tensors"] > 1:
        label += f" [{r['layout']}]"
    return label


def fmt_ms(ms):
    return f"{ms:.4f}" if ms < 1 else f"{ms:.2f}"


def markdown(rows, resnet50):
    """One line per (case, impl); ratios only where both sides were measured."""
    shown = [r for r in rows if r["impl"] in IMPLS]
    by_case = {}
    for r in shown:
        by_case.setdefault(case_key(r), []).append(r)
    copy = {(r["variant"], r["numel"]): r for r in rows if r["impl"] == "copy"}
    lines = ["| case | impl | ms/step | GB/s | x copy | vs torch | vs nd4j | alloc B/step |",
             "|---|---|--:|--:|--:|--:|--:|--:|"]
    order = sorted(by_case, key=lambda k: (VARIANTS.index(k[0]) if k[0] in VARIANTS else 99, k[2] > 1, k[1]))
    for key in order:
        case_rows = sorted(by_case[key], key=lambda r: (IMPLS.index(r["impl"]), r["layout"]))
        for r in case_rows:
            c = copy.get((r["variant"], r["numel"]))
            cells = [case_label(*key, resnet50), impl_label(r), fmt_ms(r["ms_per_step"]), f"{r['gb_per_s']:.1f}",
                     f"{r['gb_per_s'] / c['gb_per_s']:.2f}" if c else ""]
            for _, peers in PEER_COLUMNS:
                peer = [p for p in case_rows if p["impl"] in peers]
                best = min(peer, key=lambda p: p["ms_per_step"]) if peer else None
                cells.append(f"{best['ms_per_step'] / r['ms_per_step']:.2f}x"
                             if best and r["impl"] in NETCL else "")
            alloc = r.get("alloc_bytes_per_step")
            cells.append("" if alloc is None else f"{alloc:.2f}")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--netcl-bench", required=True)
    parser.add_argument("--rounds", required=True)
    parser.add_argument("--shapes", required=True)
    parser.add_argument("--jmh", action="append", default=[])
    parser.add_argument("--torch")
    parser.add_argument("--amp-rounds")
    parser.add_argument("--amp-torch")
    parser.add_argument("--skip", action="append", default=[], metavar="IMPL=REASON")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", required=True)
    parser.add_argument("--markdown", required=True)
    parser.add_argument("--png", required=True)
    args = parser.parse_args()

    native = load(args.netcl_bench)
    paired = load(args.rounds)
    resnet50 = shapes.read_shapes(args.shapes)
    rows = [dict(r, source="netcl-bench") for r in native["results"]]
    software = {"netcl": native.get("netcl_version"), "netcl_bench_threads": native.get("threads"),
                "jdk": paired["jdk"]}
    skipped = [{"impl": impl, "reason": reason} for impl, reason in (s.split("=", 1) for s in args.skip)]
    skipped += [dict(s, impl=f"{s['impl']} (alternating rounds)") for s in paired["skipped"]]
    jmh_records = [rec for path in args.jmh for rec in load(path)]
    rows += jmh_results.convert(jmh_records, resnet50)
    if args.torch:
        peer = load(args.torch)
        rows += [dict(r, source="torch_rmsprop.py") for r in peer["results"]]
        skipped += peer["skipped"]
        if "torch_version" in peer:
            software["torch"] = peer["torch_version"]
            software["torch_threads"] = peer["threads"]

    table = markdown(rows, resnet50)
    goals = targets.compute(rows, resnet50, paired)
    amp_rows = []
    amp_md = ""
    if args.amp_rounds:
        amp_rows = amp_report.rows(load(args.amp_rounds), load(args.amp_torch) if args.amp_torch else None)
        goals += amp_report.goals(amp_rows)
        amp_md = (f"## Mixed precision: variants amp-clip and bf16-master\n\n{amp_report.LEGEND}\n\n"
                  f"{amp_report.markdown(amp_rows)}\n")
    info = machine()
    header = (f"# netcl benchmark{' (--quick)' if args.quick else ''}\n\n"
              f"{info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, {info['os']}; "
              f"device: {native['device']['name']} ({native['device']['version']}); "
              + ", ".join(f"{k} {v}" for k, v in software.items() if v is not None) + "\n\n"
              + INPUTS + "\n")
    legend = ("netcl-bench (netcl from C on each path, the device's copy kernel, a C loop), JMH "
              "(netcl-java, raw-c, the Java loops, nd4j) and PyTorch, each timed on its own. "
              "GB/s = bytes a fused step must move (20 B/float plain, +8 momentum, +8 centered) / step "
              "time; x copy = that over the device's copy kernel moving the same bytes; vs PEER = the "
              "peer's step time / this row's (higher is better for netcl); alloc = JMH's "
              "gc.alloc.rate.norm, least over iterations, which still holds JMH's own few KB per "
              "iteration spread over its steps (raw-c itself allocates nothing).")
    skipped_md = "".join(f"- skipped {s['impl']}: {s['reason']}\n" for s in skipped)
    versus = (f"## netcl against the plain-Java loop, alternating rounds\n\n{rounds.explanation(paired)}\n\n"
              f"Least ratio per size range:\n\n{rounds.summary_markdown(paired)}\n\n"
              f"Every size:\n\n{rounds.table_markdown(paired)}\n")
    if paired.get("after_gap_cases"):
        versus += (f"\n## The same, every step after a gap (a training loop)\n\n{rounds.after_gap_explanation(paired)}"
                   f"\n\n{rounds.table_markdown(paired, 'after_gap_cases')}\n")
    everything = f"## Every measurement\n\n{legend}\n\n{table}\n"
    with open(args.markdown, "w") as f:
        f.write(f"{header}\n{versus}\n{everything}\n{amp_md}## Targets\n\n{targets.markdown(goals)}\n\n{skipped_md}")
    with open(args.json, "w") as f:
        json.dump({"machine": info, "device": native["device"], "software": software, "quick": args.quick,
                   "rounds": paired, "results": rows, "amp": amp_rows, "skipped": skipped, "targets": goals},
                  f, indent=2)
    print(f"{header}\n{versus}\n{everything}\n{amp_md}Targets:\n{targets.markdown(goals)}\n\n{skipped_md}")
    try:
        import plot
        plot.plot(paired, args.png, f"netcl against the plain-Java loop, {info['cpu']}, {info['cores']} cores "
                  f"({native['device']['name']})")
        print(f"chart: {args.png}")
    except ImportError as e:
        print(f"report: no chart ({e}); install python3-matplotlib for {args.png}", file=sys.stderr)


if __name__ == "__main__":
    main()
