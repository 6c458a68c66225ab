package netcl.optim;

import java.util.List;
import java.util.Map;

/**
 * {@link StateDict} with the state in memory segments: for states too large for {@code float[]}
 * (2^31 - 1 elements) or too large to hold twice, and for checkpoints that move state between
 * the device and a file without the Java heap. Keys and {@code paramGroups} are as in
 * {@link StateDict}; {@code paramGroups} may be {@code null} to keep the optimizer's own when
 * loading.
 */
public record SegmentStateDict(Map<Integer, SegmentParamState> state, List<StateDict.GroupState> paramGroups) {
}
