package netcl.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import netcl.bindings.Netcl;
import netcl.bindings.netcl_param_group;
import netcl.bindings.netcl_tensor;
import netcl.optim.Parameter;
import netcl.optim.RMSProp;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * netcl's step from Java ({@link RMSProp#step()}) next to the same step as one raw call of
 * {@code netcl_rmsprop_step} through the generated bindings with a tensor array built once: the
 * difference is what the Java layer costs (re-reading the parameters, filling the structs,
 * checks). Every fork sets both up over the same memory, each with its own native optimizer,
 * so the two measurements differ only in the call path. Each invocation is one step, on the
 * gradients of {@link Gradients}: the Java step points the parameters at the other gradient
 * block ({@code Parameter.grad}, as a loop with fresh gradient buffers does), the raw call
 * passes the other of two tensor arrays.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 10, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@State(Scope.Benchmark)
public class NetclStep {
    @Param({"1024", "65536", "16777216", Sizes.RESNET50})
    public String size;

    private Arena arena;
    private Block data;
    private Block evenGrad;
    private Block oddGrad;
    private final List<Parameter> params = new ArrayList<>();
    private RMSProp optimizer;
    /** Whether the next step takes the odd gradients; each fork runs one benchmark method. */
    private boolean odd;
    private MemorySegment context;
    private MemorySegment rawOptimizer;
    private MemorySegment group;
    private MemorySegment evenTensors;
    private MemorySegment oddTensors;
    private int tensorCount;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        long[] numels = Sizes.of(size);
        data = Block.allocate(arena, numels, 0.5f);
        evenGrad = Block.allocate(arena, numels, Gradients.EVEN);
        oddGrad = Block.allocate(arena, numels, Gradients.ODD);
        for (int t = 0; t < numels.length; t++) {
            params.add(Parameter.wrap(data.slices[t], evenGrad.slices[t]));
        }
        // Building the optimizer also loads libnetcl, which the raw bindings below need.
        optimizer = RMSProp.builder().lr(Hyper.LR).alpha(Hyper.ALPHA).eps(Hyper.EPS).build(params);
        setUpRaw();
    }

    private void setUpRaw() {
        MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
        check(Netcl.netcl_context_create(MemorySegment.NULL, out), "netcl_context_create");
        context = out.get(ValueLayout.ADDRESS, 0);
        check(Netcl.netcl_rmsprop_create(context, out), "netcl_rmsprop_create");
        rawOptimizer = out.get(ValueLayout.ADDRESS, 0);
        tensorCount = data.slices.length;
        evenTensors = tensorArray(evenGrad);
        oddTensors = tensorArray(oddGrad);
        group = netcl_param_group.allocate(arena);
        netcl_param_group.lr(group, Hyper.LR);
        netcl_param_group.alpha(group, Hyper.ALPHA);
        netcl_param_group.eps(group, Hyper.EPS);
        netcl_param_group.count(group, tensorCount);
    }

    /** The raw call's tensors: the parameters of {@link #data} with the gradients of {@code grad}. */
    private MemorySegment tensorArray(Block grad) {
        MemorySegment tensors = netcl_tensor.allocateArray(tensorCount, arena);
        for (int t = 0; t < tensorCount; t++) {
            MemorySegment tensor = netcl_tensor.asSlice(tensors, t);
            netcl_tensor.data(tensor, data.slices[t]);
            netcl_tensor.grad(tensor, grad.slices[t]);
            netcl_tensor.numel(tensor, data.slices[t].byteSize() / Float.BYTES);
        }
        return tensors;
    }

    /** The two optimizers step the same parameters: one check covers whichever this fork ran. */
    @TearDown(Level.Trial)
    public void tearDown() {
        boolean finite = data.allFinite();
        optimizer.close();
        Netcl.netcl_rmsprop_destroy(rawOptimizer);
        Netcl.netcl_context_destroy(context);
        arena.close();
        if (!finite) {
            throw Contender.diverged("NetclStep");
        }
    }

    @Benchmark
    public void netclJava() {
        optimizer.step();
        odd = !odd;
        (odd ? oddGrad : evenGrad).setAsGrads(params);
    }

    @Benchmark
    public void rawC() {
        check(Netcl.netcl_rmsprop_step(rawOptimizer, group, 1, odd ? oddTensors : evenTensors, tensorCount),
                "netcl_rmsprop_step");
        odd = !odd;
    }

    /** The raw path has no netcl.optim to turn a status into an exception: this is its own. */
    private static void check(int status, String call) {
        if (status != Netcl.NETCL_SUCCESS()) {
            throw new IllegalStateException(call + " failed: " + cString(Netcl.netcl_status_name(status)) + ": "
                    + cString(Netcl.netcl_last_error()));
        }
    }

    /** The C library returns NUL-terminated strings of unknown length: reading one is restricted. */
    @SuppressWarnings("restricted")
    private static String cString(MemorySegment pointer) {
        return pointer.reinterpret(Long.MAX_VALUE).getString(0);
    }
}
