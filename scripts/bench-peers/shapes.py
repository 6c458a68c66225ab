"""The ResNet-50 parameter list (native/bench/resnet50-shapes.txt) that every harness steps."""


def read_shapes(path):
    """numel of every tensor in a "name numel shape" file; '#' starts a comment line."""
    with open(path) as f:
        return [int(line.split()[1]) for line in f if line.strip() and not line.startswith("#")]
