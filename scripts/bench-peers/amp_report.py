#!/usr/bin/env python3
"""Report of scripts/bench-amp: netcl's AMP step against PyTorch's sequence, the plain-Java loop
and the copy bandwidth, and the bf16 master-weight step against fp32.

    amp_report.py --rounds AMPROUNDS.json --torch TORCH.json --json OUT.json --markdown OUT.md

Targets (the mixed-precision issue): torch / netcl >= 5, java-loop / netcl >= 1.0, netcl within
1.2x of the time the two passes' bytes take at the copy bandwidth (netcl / copy <= 1.2, the copy
moving the same bytes in the same round).
"""
import argparse
import json


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("rounds", "torch", "json", "markdown"):
        parser.add_argument("--" + name, required=True)
    args = parser.parse_args()
    with open(args.rounds) as f:
        rounds = json.load(f)
    with open(args.torch) as f:
        torch = json.load(f)
    fastest_torch = {}
    for r in torch.get("results", []):
        case = "resnet50" if r["tensors"] > 1 else str(r["numel"])
        if case not in fastest_torch or r["ms_per_step"] < fastest_torch[case]["ms_per_step"]:
            fastest_torch[case] = r
    rows = []
    for c in rounds["cases"]:
        ms = {k: v["median"] for k, v in c["ms_per_step"].items()}
        t = fastest_torch.get(c["case"])
        rows.append({
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
    with open(args.json, "w") as f:
        json.dump({"tool": "bench-amp", "cores": rounds["cores"], "rounds": rounds["rounds"],
                   "torch_version": torch.get("torch_version"), "results": rows}, f, indent=2)
    lines = ["| case | netcl amp-clip ms | torch/netcl (>= 5) | java-loop/netcl (>= 1.0) [q1, q3] "
             "| netcl/copy (<= 1.2) [q1, q3] | netcl GB/s | copy GB/s | netcl step alone ms |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        j, c = r["java_loop_over_netcl"], r["netcl_over_copy"]
        torch_ratio = f"{r['torch_over_netcl']:.2f} ({r['torch_impl']})" if r["torch_over_netcl"] else "n/a"
        lines.append(f"| {r['case']} | {r['netcl_ms']:.3f} | {torch_ratio} "
                     f"| {j['median']:.2f} [{j['q1']:.2f}, {j['q3']:.2f}] | {c['median']:.2f} [{c['q1']:.2f}, {c['q3']:.2f}] "
                     f"| {r['netcl_gb_per_s']:.2f} | {r['copy_gb_per_s']:.2f} | {r['netcl_step_alone_ms']:.3f} |")
    lines += ["", "| case | bf16-master bytes/step | fp32 bytes/step | bf16 ms | fp32 ms | bf16 GB/s | fp32 GB/s "
              "| bf16/fp32 time [q1, q3] |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b = r["bf16-master"]
        q = b["time_over_fp32"]
        lines.append(f"| {r['case']} | {b['bytes_per_step']} | {b['fp32_bytes_per_step']} | {b['ms']:.3f} "
                     f"| {b['fp32_ms']:.3f} | {b['gb_per_s']:.2f} | {b['fp32_gb_per_s']:.2f} "
                     f"| {q['median']:.2f} [{q['q1']:.2f}, {q['q3']:.2f}] |")
    text = "\n".join(lines) + "\n"
    with open(args.markdown, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
