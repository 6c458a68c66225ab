package netcl.optim;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import netcl.bindings.Netcl;

/**
 * An optimizer's step over its {@link StepLayout} as the innermost call of an {@link ArenaHold}
 * run: {@code netcl_rmsprop_step_holding}, which takes the segments to hold itself, so a step
 * over one to {@value ArenaHold#WIDE} arenas is a single downcall with no call back into Java.
 * The narrow call passes its four segments as plain arguments (no spreading: fewer method
 * handle steps while the step is still interpreted or C1-compiled, as in a short training run).
 */
final class HeldStep implements ArenaHold.HoldingCall {
    private static final MethodHandle NARROW = stepHandle(ArenaHold.NARROW);

    /** Built on first use: only steps over more than NARROW distinct arenas need it. */
    private static final class Wide {
        static final MethodHandle STEP = stepHandle(ArenaHold.WIDE).asSpreader(MemorySegment[].class, ArenaHold.WIDE);
    }

    private final MemorySegment optimizer;
    private final StepLayout layout;
    private final MemorySegment options;

    /**
     * The step of {@code optimizer} over {@code layout}, with {@code options} (a netcl_step_options
     * the optimizer keeps until it closes) or NULL, passed as a plain address like the layout's
     * arrays (see {@link StepLayout#tensorsAddress}).
     */
    HeldStep(MemorySegment optimizer, StepLayout layout, MemorySegment options) {
        this.optimizer = optimizer;
        this.layout = layout;
        this.options = MemorySegment.ofAddress(options.address());
    }

    private static MethodHandle stepHandle(int width) {
        NativeLibrary.load();
        return Netcl.netcl_rmsprop_step_holding.makeInvoker(ArenaHold.pointers(width)).handle();
    }

    @Override
    public int call(Object[] held, boolean narrow) throws Throwable {
        if (narrow) {
            return (int) NARROW.invokeExact(optimizer, layout.groupsAddress(), layout.groupCount(),
                    layout.tensorsAddress(), layout.tensorCount(), options, (MemorySegment) held[0],
                    (MemorySegment) held[1], (MemorySegment) held[2], (MemorySegment) held[3]);
        }
        return (int) Wide.STEP.invokeExact(optimizer, layout.groupsAddress(), layout.groupCount(),
                layout.tensorsAddress(), layout.tensorCount(), options, (MemorySegment[]) held);
    }
}
