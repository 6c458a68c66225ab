package netcl.optim;

import java.util.List;
import java.util.Map;

/**
 * A snapshot of an optimizer, like PyTorch's {@code state_dict()}: {@code state} maps a
 * parameter's index (over all groups, in order: PyTorch's numbering) to its state, for the
 * parameters that have one; {@code paramGroups} holds each group's hyperparameters and parameter
 * indices, or is {@code null} to keep the optimizer's own when loading.
 */
public record StateDict(Map<Integer, ParamState> state, List<GroupState> paramGroups) {

    /** The hyperparameters of one group and the indices of its parameters. */
    public record GroupState(double lr, double alpha, double eps, double weightDecay, double momentum,
                             boolean centered, boolean maximize, List<Integer> params) {
    }

    /** A state dict that only carries parameter state; loading it keeps the current hyperparameters. */
    public static StateDict of(Map<Integer, ParamState> state) {
        return new StateDict(state, null);
    }
}
