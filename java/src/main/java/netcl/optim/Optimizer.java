package netcl.optim;

import java.util.List;
import java.util.function.DoubleSupplier;

/** The optimizer contract, after PyTorch's {@code torch.optim.Optimizer}. */
public interface Optimizer extends AutoCloseable {
    /** One update of every parameter that has a gradient. */
    void step();

    /** Evaluates {@code closure} (which recomputes the loss and gradients), steps, returns the loss. */
    double step(DoubleSupplier closure);

    /** Fills every gradient with zeros. */
    void zeroGrad();

    /** With {@code setToNone}, sets every gradient to {@code null} instead. */
    void zeroGrad(boolean setToNone);

    /** The live parameter groups: changes to them take effect at the next step. */
    List<ParamGroup> paramGroups();

    void addParamGroup(ParamGroup group);

    StateDict stateDict();

    void loadStateDict(StateDict stateDict);

    /** Releases native resources; later calls throw {@link IllegalStateException}; idempotent. */
    @Override
    void close();
}
