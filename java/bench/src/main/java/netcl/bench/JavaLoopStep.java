package netcl.bench;

import java.util.concurrent.TimeUnit;

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
 * The plain-Java peer on the heap ({@link HeapTensors}: one float[] per tensor, as a JVM program
 * without off-heap memory holds them), stepped by a loop on one thread and by the same loop split
 * over all cores. Each invocation is one step, on the gradients of {@link Gradients}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 10, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class JavaLoopStep {
    @Param({"1024", "65536", "16777216", Sizes.RESNET50})
    public String size;

    private Chunks chunks;
    private HeapTensors tensors;
    private Chunks.Body update;

    @Setup(Level.Trial)
    public void setUp() {
        long[] numels = Sizes.of(size);
        tensors = new HeapTensors(numels, Variant.PLAIN);
        update = tensors::update;
        chunks = new Chunks(numels);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (!tensors.dataFinite()) {
            throw Contender.diverged("JavaLoopStep");
        }
    }

    @Benchmark
    public void serial() {
        chunks.forEachSerial(update);
        tensors.stepDone();
    }

    @Benchmark
    public void parallel() {
        chunks.forEachParallel(update);
        tensors.stepDone();
    }
}
