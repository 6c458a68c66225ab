package netcl.checkpoint;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import netcl.optim.GradScaler;
import netcl.optim.ParamGroup;
import netcl.optim.SegmentStateDict;

/**
 * An open checkpoint file checked against everything it loads into, before anything changed:
 * the optimizer's state dict and the loss scaler's state (still in the file's mapping, or
 * {@code null} when not loaded) and the copies of the file's tensors into the caller's memory.
 * Applying it cannot fail on the file's account.
 */
record CheckedLoad(SafetensorsFile file, SegmentStateDict state, Map<String, Object> scalerState,
                   List<Copy> copies) {

    /** Memory to load a file's tensor of this element type into. */
    record Target(ElementType type, MemorySegment segment) {
    }

    /** A file's tensor and the segment it goes into, the same size. */
    record Copy(MemorySegment from, MemorySegment to) {
    }

    /**
     * Checks {@code file} against an optimizer with groups {@code groups} (unless it is
     * {@code null}), {@code scaler} (unless it is {@code null} or disabled) and the tensors named in
     * {@code tensors}.
     */
    static CheckedLoad of(SafetensorsFile file, List<ParamGroup> groups, GradScaler scaler,
                          Map<String, Target> tensors) throws CheckpointException {
        SegmentStateDict state = groups == null ? null : OptimizerEntries.read(file, groups);
        Map<String, Object> scalerState = scaler == null || !scaler.isEnabled() ? null
                : ScalerEntries.read(file.path(), file.metadata());
        List<Copy> copies = new ArrayList<>();
        for (Map.Entry<String, Target> e : tensors.entrySet()) {
            Target target = e.getValue();
            copies.add(new Copy(checkedSource(file, e.getKey(), target), target.segment()));
        }
        return new CheckedLoad(file, state, scalerState, List.copyOf(copies));
    }

    /** The file's tensors into the caller's memory. */
    void copyTensors() {
        for (Copy c : copies) {
            MemorySegment.copy(c.from(), 0, c.to(), 0, c.from().byteSize());
        }
    }

    /** The file's tensor for a segment to fill, after checking that it fits. */
    private static MemorySegment checkedSource(SafetensorsFile f, String name, Target into)
            throws CheckpointException {
        MemorySegment target = into.segment();
        if (name == null || target == null) {
            throw new IllegalArgumentException("tensor names and segments must not be null");
        }
        if (!target.scope().isAlive() || target.isReadOnly()) {
            throw new IllegalArgumentException("tensor '" + name + "': the segment is closed or read-only");
        }
        Tensor t = f.tensors().get(name);
        if (t == null) {
            throw new CheckpointException(f.path(), "missing required tensor '" + name + "'");
        }
        if (t.type() != into.type()) {
            throw new CheckpointException(f.path(), "tensor '" + name + "' is " + t.type() + ", not " + into.type());
        }
        if (t.data().byteSize() != target.byteSize()) {
            throw new CheckpointException(f.path(), "tensor '" + name + "' has " + t.numel()
                    + " elements, the segment to load it into has " + target.byteSize() * 8 / into.type().bits());
        }
        return t.data();
    }
}
